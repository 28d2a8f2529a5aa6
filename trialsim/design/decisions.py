"""The primary analysis of the first ``n`` patients of simulated trials, at many sizes at once.

Power curves and design comparisons need, per replicate and size, the decision on every
comparison after the protocol's multiplicity rule, the unadjusted decision, the estimates
and each arm's summary. :func:`size_outcomes` gives them for any endpoint kind:

* **fast path** — a binary primary endpoint analysed by ``chisq``, ``chisq-yates``,
  ``fisher`` or ``cmh``: response counts per (size, stratum, arm) go through the vectorised
  tests of :mod:`trialsim.stats.binary` and the vectorised multiplicity adjustments of
  :mod:`trialsim.stats.multiplicity` (Dunnett by its critical value per allocation), for
  every replicate and size in one call;
* **general path** — any other endpoint or method: :func:`trialsim.trial.analyse` (the
  analysis a run reports) on the first ``n`` patients of each replicate.

Both give the decisions of :func:`trialsim.trial.analyse` (a test checks the fast path
against it trial by trial).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from trialsim.protocol import Protocol
from trialsim.stats.binary import TESTS, compare_counts
from trialsim.stats.multiplicity import adjust, dunnett_critical
from trialsim.trial import TrialResult, analyse


@dataclass(frozen=True)
class SizeOutcomes:
    """Arrays of shape (replicates, sizes, comparisons) or (…, arms)."""

    reject: np.ndarray          # decision after the multiplicity rule
    reject_raw: np.ndarray      # p < alpha (one-sided: and favouring the arm)
    p: np.ndarray               # unadjusted p (two-sided, or one-sided "arm better")
    benefit: np.ndarray         # estimate oriented so that positive favours the arm
    estimate: np.ndarray        # the comparison's estimate on its own scale
    arm_estimate: np.ndarray    # rate, mean or event rate per arm
    arm_n: np.ndarray           # patients randomised per arm


def fast(protocol: Protocol) -> bool:
    """Whether the primary analysis runs on the vectorised count path."""
    return protocol.analysis.test in TESTS


def _counts(protocol: Protocol, res: TrialResult, sizes: Sequence[int]
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Responders and analysed patients per (size, stratum, arm), patients per (size, arm)."""
    k = len(protocol.arms)
    strata = 2 ** len(protocol.randomization.stratify_by)
    y = res.endpoints[0].value
    seen = ~np.isnan(y)
    cell = res.strata * k + res.arm
    x = np.stack([np.bincount(cell[:n], weights=np.where(seen, y, 0.0)[:n],
                              minlength=strata * k) for n in sizes])
    m = np.stack([np.bincount(cell[:n], weights=seen[:n].astype(float), minlength=strata * k)
                  for n in sizes])
    arm_n = np.stack([np.bincount(res.arm[:n], minlength=k) for n in sizes])
    shape = (len(sizes), strata, k)
    return x.reshape(shape).round(), m.reshape(shape).round(), arm_n


def _decide(protocol: Protocol, p: np.ndarray, benefit: np.ndarray, stat: np.ndarray,
            n_arm: np.ndarray, n_control: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(adjusted, unadjusted) decisions from p-values of shape (..., comparisons)."""
    a = protocol.analysis
    with np.errstate(invalid="ignore"):
        favour = np.ones_like(p, dtype=bool) if a.sided == 2 else benefit > 0
        raw = (p < a.alpha) & favour
        if a.multiplicity != "dunnett" or p.shape[-1] < 2:
            rule = "none" if a.multiplicity == "dunnett" else a.multiplicity
            return (adjust(p, rule) < a.alpha) & favour, raw
        reject = np.zeros(p.shape, dtype=bool)
        flat_stat = stat.reshape(-1, p.shape[-1])
        flat_n = n_arm.reshape(-1, p.shape[-1])
        flat_c = n_control.reshape(-1, p.shape[-1])[:, 0]
        out = reject.reshape(-1, p.shape[-1])
        for i in range(flat_stat.shape[0]):
            c = dunnett_critical(flat_n[i], flat_c[i], a.alpha, sided=a.sided)
            out[i] = flat_stat[i] > c
        return out.reshape(p.shape) & favour, raw


def _fast(protocol: Protocol, results: Sequence[TrialResult],
          sizes: Sequence[int]) -> SizeOutcomes:
    a = protocol.analysis
    control = protocol.arms.index(protocol.control_arm)
    counts = [_counts(protocol, res, sizes) for res in results]
    x = np.stack([c[0] for c in counts])                        # (R, S, strata, arms)
    m = np.stack([c[1] for c in counts])
    arm_n = np.stack([c[2] for c in counts]).astype(float)
    higher = np.array([res.endpoints[0].higher_is_better for res in results])[:, None, None]
    d = np.where(higher, 1.0, -1.0)
    cc = compare_counts(x, m, control, test=a.test)
    p = cc.p_two if a.sided == 2 else np.where(d > 0, cc.p_greater, cc.p_less)
    benefit = d * cc.estimate
    with np.errstate(invalid="ignore"):
        stat = stats.norm.isf(cc.p_two / 2) if a.sided == 2 else stats.norm.isf(p)
    reject, raw = _decide(protocol, p, benefit, stat, cc.n_arm, cc.n_control)
    return SizeOutcomes(reject, raw, p, benefit, cc.estimate, cc.rate, arm_n)


def _general(protocol: Protocol, results: Sequence[TrialResult],
             sizes: Sequence[int]) -> SizeOutcomes:
    k = len(protocol.arms)
    c = k - 1
    shape = (len(results), len(sizes))
    rej, raw = np.zeros((*shape, c), bool), np.zeros((*shape, c), bool)
    p, ben, est = (np.full((*shape, c), np.nan) for _ in range(3))
    arm_est, arm_n = np.full((*shape, k), np.nan), np.zeros((*shape, k))
    alpha, sided = protocol.analysis.alpha, protocol.analysis.sided
    for i, res in enumerate(results):
        for s, n in enumerate(sizes):
            an = analyse(protocol, [res.endpoints[0].head(n)], res.arm[:n], res.strata[:n])
            for j, cmp in enumerate(an.comparisons):
                rej[i, s, j] = bool(cmp.significant)
                raw[i, s, j] = bool(cmp.p_value < alpha) and (sided == 2 or cmp.benefit > 0)
                p[i, s, j], ben[i, s, j], est[i, s, j] = cmp.p_value, cmp.benefit, cmp.estimate
            for j, arm in enumerate(an.arms):
                arm_est[i, s, j], arm_n[i, s, j] = arm.estimate, arm.n
    return SizeOutcomes(rej, raw, p, ben, est, arm_est, arm_n)


def size_outcomes(protocol: Protocol, results: Sequence[TrialResult],
                  sizes: Sequence[int]) -> SizeOutcomes:
    """The primary analysis of the first ``n`` patients of every result, for every ``n`` in
    ``sizes`` (see module docstring)."""
    kind = results[0].endpoints[0].kind if results else "binary"
    if kind == "binary" and fast(protocol):
        return _fast(protocol, results, sizes)
    return _general(protocol, results, sizes)
