"""The primary analysis of the first ``n`` patients of simulated trials, at many sizes at once.

Power curves and design comparisons need, per replicate and size, the decision on every
comparison after the protocol's multiplicity rule, the unadjusted decision, the estimates
and each arm's summary. :func:`size_outcomes` gives them for any endpoint kind:

* **fast path** — a binary primary endpoint analysed by ``chisq``, ``chisq-yates``,
  ``fisher`` or ``cmh``: response counts per (size, stratum, arm) go through the vectorised
  tests of :mod:`trialsim.stats.binary` and the vectorised multiplicity adjustments of
  :mod:`trialsim.stats.multiplicity` (Dunnett by its critical value per allocation), for
  every replicate and size in one call;
* **batch path** — logistic regression, ANCOVA, GEE, log-rank and Cox: the vectorised
  fits of :mod:`trialsim.stats.batch` (checked against the one-trial statsmodels fits to
  1e-6) for every replicate at once, one call per size;
* **general path** — anything else (Dunnett's adjustment of t-based analyses):
  :func:`trialsim.trial.analyse` (the analysis a run reports) on the first ``n`` patients
  of each replicate.

All give the decisions of :func:`trialsim.trial.analyse` (``tests/test_decisions.py``
checks them trial by trial).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from trialsim.protocol import Protocol
from trialsim.stats import batch
from trialsim.stats.binary import TESTS, compare_counts
from trialsim.stats.endpoint_data import EndpointData
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


def primary_data(protocol: Protocol, res: TrialResult) -> EndpointData:
    """A result's primary endpoint: by the protocol's name, else the first one reported."""
    e = res.endpoints
    if isinstance(e, Mapping):
        return e[protocol.endpoint.primary] if protocol.endpoint.primary in e else next(
            iter(e.values()))
    return e[0]


def fast(protocol: Protocol) -> bool:
    """Whether the primary analysis runs on the vectorised count path."""
    return protocol.analysis.test in TESTS


def _counts(protocol: Protocol, res: TrialResult, sizes: Sequence[int]
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Responders and analysed patients per (size, stratum, arm), patients per (size, arm)."""
    k = len(protocol.arms)
    strata = 2 ** len(protocol.randomization.stratify_by)
    y = primary_data(protocol, res).value
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
    higher = np.array([primary_data(protocol, res).higher_is_better
                       for res in results])[:, None, None]
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
            an = analyse(protocol, [primary_data(protocol, res).head(n)], res.arm[:n],
                         res.strata[:n])
            for j, cmp in enumerate(an.comparisons):
                rej[i, s, j] = bool(cmp.significant)
                raw[i, s, j] = bool(cmp.p_value < alpha) and (sided == 2 or cmp.benefit > 0)
                p[i, s, j], ben[i, s, j], est[i, s, j] = cmp.p_value, cmp.benefit, cmp.estimate
            for j, arm in enumerate(an.arms):
                arm_est[i, s, j], arm_n[i, s, j] = arm.estimate, arm.n
    return SizeOutcomes(rej, raw, p, ben, est, arm_est, arm_n)


BATCH = ("logistic", "ancova", "gee", "logrank", "cox")


def _stack(protocol: Protocol, results: Sequence[TrialResult], n: int,
           attr: str) -> np.ndarray | None:
    parts = [getattr(primary_data(protocol, res), attr) for res in results]
    if parts[0] is None:
        return None
    return np.stack([np.asarray(p, dtype=float)[:n] for p in parts])


def _arm_estimates(kind: str, value: np.ndarray, event: np.ndarray | None, arm: np.ndarray,
                   k: int) -> np.ndarray:
    """Each arm's summary (rate, mean or events per patient-year), (R, arms)."""
    out = np.full((arm.shape[0], k), np.nan)
    with np.errstate(all="ignore"):
        for j in range(k):
            m = (arm == j) & ~np.isnan(value)
            if kind == "time-to-event":
                ev = np.where(m, event, 0).sum(axis=1)
                py = np.where(m, value, 0).sum(axis=1) / 365.25
                out[:, j] = np.where(py > 0, ev / py, np.nan)
            else:
                cnt = m.sum(axis=1)
                out[:, j] = np.where(cnt > 0, np.where(m, value, 0).sum(axis=1) / cnt, np.nan)
    return out


def _batch_one(protocol: Protocol, results: Sequence[TrialResult], n: int, method: str
               ) -> tuple[np.ndarray, ...]:
    """(p_two, p_greater, p_less, estimate, increasing-on-log?, arm estimates) at size n."""
    k = len(protocol.arms)
    control = protocol.arms.index(protocol.control_arm)
    active = [j for j in range(k) if j != control]
    arm = np.stack([res.arm[:n] for res in results])
    strata = np.stack([res.strata[:n] for res in results])
    value = _stack(protocol, results, n, "value")
    base = _stack(protocol, results, n, "baseline")
    event = _stack(protocol, results, n, "event")
    kind = primary_data(protocol, results[0]).kind
    df = np.inf
    if method in ("ancova", "gee", "logistic"):
        if method == "ancova":
            est, se, df_r = batch.ancova(value, arm, strata, base, active, control)
            df = df_r[:, None]
        elif method == "logistic":
            est, se = batch.logistic(value, arm, strata, base, active, control)
        else:
            rep = np.stack([np.asarray(primary_data(protocol, res).repeated,
                                       dtype=float)[:n] for res in results])
            est, se = batch.gee(rep, arm, strata, base, active, control)
        t = est / se
        dist = stats.t(df) if np.isfinite(df).all() and method == "ancova" else stats.norm
        p_two, p_g, p_l = 2 * dist.sf(np.abs(t)), dist.sf(t), dist.cdf(t)
        estimate = np.exp(est) if method == "logistic" else est
        log_scale, increasing = method == "logistic", True
    elif method == "cox":
        x = np.stack([(arm == j).astype(float) for j in active], axis=-1)
        beta, se = batch.cox(value, event.astype(bool), x, strata, ~np.isnan(value))
        z = beta / se
        p_two, p_g, p_l = 2 * stats.norm.sf(np.abs(z)), stats.norm.sf(z), stats.norm.cdf(z)
        estimate, log_scale, increasing = np.exp(beta), True, False
    else:                                                   # logrank
        cols = []
        for j in active:
            inc = np.isin(arm, [j, control]) & ~np.isnan(value)
            o, e, v = batch.logrank(np.nan_to_num(value), event.astype(bool), arm == j,
                                    strata, inc)
            with np.errstate(all="ignore"):
                z = np.where(v > 0, (o - e) / np.sqrt(v), np.nan)
                cols.append((z, np.where(v > 0, np.exp((o - e) / v), np.nan)))
        z = np.stack([c[0] for c in cols], axis=-1)
        p_two, p_g, p_l = stats.chi2.sf(z * z, 1), stats.norm.sf(z), stats.norm.cdf(z)
        estimate = np.stack([c[1] for c in cols], axis=-1)
        log_scale, increasing = True, False
    arm_est = _arm_estimates(kind, value, event, arm, k)
    return p_two, p_g, p_l, estimate, log_scale, increasing, arm_est, df


def _batch(protocol: Protocol, results: Sequence[TrialResult], sizes: Sequence[int],
           method: str) -> SizeOutcomes:
    a = protocol.analysis
    k = len(protocol.arms)
    higher = np.array([primary_data(protocol, res).higher_is_better
                       for res in results])[:, None]
    per = [_batch_one(protocol, results, n, method) for n in sizes]
    p_two, p_g, p_l, est = (np.stack([x[i] for x in per], axis=1) for i in range(4))
    log_scale, increasing = per[0][4], per[0][5]
    d = np.where(higher, 1.0, -1.0)[:, None] * (1.0 if increasing else -1.0)   # (R, 1, 1)
    p = p_two if a.sided == 2 else np.where(d > 0, p_g, p_l)
    with np.errstate(all="ignore"):
        benefit = d * (np.log(est) if log_scale else est)
        stat = stats.norm.isf(p_two / 2) if a.sided == 2 else stats.norm.isf(p)
    arm_est = np.stack([x[6] for x in per], axis=1)
    arm_n = np.stack([[np.bincount(res.arm[:n], minlength=k) for n in sizes]
                      for res in results]).astype(float)
    control = protocol.arms.index(protocol.control_arm)
    active = [j for j in range(k) if j != control]
    seen = [~np.isnan(primary_data(protocol, res).value) for res in results]
    n_arm = np.stack([[[np.sum(ok[:n] & (res.arm[:n] == j)) for j in active] for n in sizes]
                      for res, ok in zip(results, seen, strict=True)]).astype(float)
    n_ctl = np.stack([[[np.sum(ok[:n] & (res.arm[:n] == control))] * len(active)
                       for n in sizes]
                      for res, ok in zip(results, seen, strict=True)]).astype(float)
    reject, raw = _decide(protocol, p, benefit, stat, n_arm, n_ctl)
    return SizeOutcomes(reject, raw, p, benefit, est, arm_est, arm_n)


def size_outcomes(protocol: Protocol, results: Sequence[TrialResult],
                  sizes: Sequence[int]) -> SizeOutcomes:
    """The primary analysis of the first ``n`` patients of every result, for every ``n`` in
    ``sizes`` (see module docstring)."""
    kind = primary_data(protocol, results[0]).kind if results else "binary"
    method = protocol.analysis.methods[kind]
    if kind == "binary" and fast(protocol):
        return _fast(protocol, results, sizes)
    if method in BATCH and not (protocol.analysis.multiplicity == "dunnett"
                                and method == "ancova" and len(protocol.arms) > 2):
        return _batch(protocol, results, sizes, method)
    return _general(protocol, results, sizes)
