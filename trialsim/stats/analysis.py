"""The analysis registry: method name → function of an endpoint's outcomes → one result type.

Every analysis method takes an :class:`~trialsim.stats.endpoint_data.EndpointData`, the arm
and randomisation stratum of every patient, the arm names, the control arm and the
confidence level, and returns one :class:`~trialsim.stats.results.RawComparison` per active
arm (in arm order, skipping the control) and its warnings. :func:`analyse_trial` then

1. summarises every arm by the endpoint's kind (rate, mean or event rate);
2. orients each comparison: with ``sided = 1`` the p-value is for "arm better than control"
   (better = higher values when ``higher_is_better``; for a hazard ratio, fewer events when
   longer times are better);
3. adjusts the primary endpoint's comparisons for multiplicity
   (:mod:`~trialsim.stats.multiplicity`) and tests the secondary endpoints named in
   ``sequence`` in that fixed order (serial gatekeeping); other secondary endpoints are
   descriptive (no decision);
4. decides: ``significant = p_adjusted < alpha`` (and, one-sided, an estimate that favours
   the arm).

The confidence level follows alpha and sidedness: ``1 - alpha`` for two-sided tests,
``1 - 2 alpha`` for one-sided ones (the two-sided interval whose bound matches the test).
Intervals are per comparison (not simultaneous).

=================  ==============  =====================================================
method             kind            test and estimate
=================  ==============  =====================================================
``chisq``          binary          Pearson chi-square; rate difference (Newcombe)
``chisq-yates``    binary          chi-square with Yates's correction; as above
``fisher``         binary          Fisher's exact test; as above
``cmh``            binary          CMH over strata; MH risk difference (Sato) and MH OR
``logistic``       binary          logistic regression on arm + baseline + strata; OR
``ancova``         continuous      ANCOVA on arm + baseline + strata; LS-mean difference
``gee``            continuous      repeated-measures GEE; difference at the last visit
``logrank``        time-to-event   stratified log-rank; Peto hazard ratio
``cox``            time-to-event   stratified Cox regression; hazard ratio
=================  ==============  =====================================================
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy import stats

from trialsim.stats import continuous, rates, survival
from trialsim.stats.endpoint_data import EndpointData
from trialsim.stats.multiplicity import METHODS as MULTIPLICITY
from trialsim.stats.multiplicity import adjust, dunnett_adjust, fixed_sequence
from trialsim.stats.results import (
    Comparison,
    EndpointAnalysis,
    RawComparison,
    TrialAnalysis,
)

MethodFn = Callable[..., tuple[list[RawComparison], list[str]]]


@dataclass(frozen=True)
class Method:
    """One registered analysis: its name, the endpoint kind it analyses, what it does."""

    name: str
    kind: str
    run: MethodFn
    summary: str


METHODS: dict[str, Method] = {m.name: m for m in (
    Method("chisq", "binary", rates.chisq, "Pearson chi-square, rate difference (Newcombe)"),
    Method("chisq-yates", "binary", rates.chisq_yates,
           "chi-square with Yates's correction, rate difference (Newcombe)"),
    Method("fisher", "binary", rates.fisher, "Fisher's exact test, rate difference (Newcombe)"),
    Method("cmh", "binary", rates.cmh,
           "Cochran–Mantel–Haenszel over the strata, MH risk difference and odds ratio"),
    Method("logistic", "binary", rates.logistic,
           "logistic regression on arm, baseline and strata, odds ratio"),
    Method("ancova", "continuous", continuous.ancova,
           "ANCOVA on arm, baseline and strata, difference in LS means"),
    Method("gee", "continuous", continuous.gee,
           "repeated-measures GEE (exchangeable, bias-reduced sandwich), last visit"),
    Method("logrank", "time-to-event", survival.logrank,
           "log-rank stratified by the strata, Peto hazard ratio"),
    Method("cox", "time-to-event", survival.cox,
           "Cox regression stratified by the strata, hazard ratio"),
)}
DESCRIBE = {"binary": rates.describe, "continuous": continuous.describe,
            "time-to-event": survival.describe}
DEFAULTS = {"binary": "cmh", "continuous": "ancova", "time-to-event": "logrank"}


def methods_for(kind: str) -> list[str]:
    """The registered method names that analyse endpoints of ``kind``."""
    return [m.name for m in METHODS.values() if m.kind == kind]


def ci_level(alpha: float, sided: int) -> float:
    """``1 - alpha`` (two-sided) or ``1 - 2 alpha`` (one-sided)."""
    if not 0.0 < alpha < (1.0 if sided == 2 else 0.5):
        raise ValueError(f"alpha must be in (0, {1 if sided == 2 else 0.5}) (got {alpha})")
    return round(1.0 - alpha * (1 if sided == 2 else 2), 12)


def direction(data: EndpointData, raw: RawComparison) -> int:
    """+1 when an estimate above its null value favours the arm, else -1."""
    return (1 if data.higher_is_better else -1) * (1 if raw.increasing else -1)


@dataclass(frozen=True)
class _Oriented:
    raw: RawComparison
    p: float            # two-sided, or one-sided for "arm better"
    benefit: float      # positive favours the arm (difference, or log ratio)
    z: float            # signed normal score of the two-sided p-value
    stat: float         # score for Dunnett: |t| two-sided, oriented t one-sided


def _orient(data: EndpointData, raw: RawComparison, sided: int) -> _Oriented:
    d = direction(data, raw)
    est = raw.estimate
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = est if raw.scale == "difference" else np.log(est)
    benefit = float(d * shift)
    p = raw.p_two if sided == 2 else (raw.p_greater if d > 0 else raw.p_less)
    z = float(np.sign(benefit) * stats.norm.isf(raw.p_two / 2)) if np.isfinite(
        raw.p_two) else float("nan")
    dist = stats.t(raw.df) if np.isfinite(raw.df) else stats.norm
    stat = float(dist.isf(raw.p_two / 2) if sided == 2 else dist.isf(p))
    return _Oriented(raw, float(p), benefit, z, stat)


def _adjusted(family: list[_Oriented], multiplicity: str, sided: int,
              n_active: list[int], n_control: int) -> np.ndarray:
    p = np.array([o.p for o in family], dtype=float)
    if multiplicity != "dunnett" or len(family) < 2:
        return adjust(p, "none" if multiplicity == "dunnett" else multiplicity)
    df = min(o.raw.df for o in family)
    return dunnett_adjust([o.stat for o in family], n_active, n_control, sided=sided, df=df)


def _rule(i: int, gated: dict, multiplicity: str) -> str:
    if i not in gated:
        return "none"
    return multiplicity if i == 0 else f"{multiplicity}, fixed sequence"


def analyse_endpoint(data: EndpointData, arm: np.ndarray, strata: np.ndarray,
                     names: Sequence[str], control: int, method: str, level: float
                     ) -> tuple[list, list[RawComparison], list[str]]:
    """Arm summaries, raw comparisons and warnings of one endpoint by ``method``."""
    if method not in METHODS:
        raise ValueError(f"analysis method must be one of {', '.join(METHODS)} "
                         f"(got {method!r})")
    m = METHODS[method]
    if m.kind != data.kind:
        raise ValueError(f"endpoint {data.name!r} is {data.kind}; method {method!r} "
                         f"analyses {m.kind} endpoints (use one of "
                         f"{', '.join(methods_for(data.kind))})")
    arms, warn = DESCRIBE[data.kind](data, arm, names, level)
    raws, warn2 = m.run(data, arm, strata, names, control, level)
    return arms, raws, warn + warn2


def _validate(endpoints: Sequence[EndpointData], arm: np.ndarray, strata: np.ndarray,
              names: Sequence[str], control: int, sided: int, multiplicity: str,
              sequence: Sequence[str]) -> None:
    if not endpoints:
        raise ValueError("analyse_trial needs at least the primary endpoint")
    n = arm.shape[0]
    if arm.ndim != 1 or strata.shape != arm.shape:
        raise ValueError("arm and strata must be 1-D arrays of equal length")
    for e in endpoints:
        if e.value.shape != (n,):
            raise ValueError(f"endpoint {e.name!r} has {e.value.shape} values for {n} "
                             "patients")
        if e.kind == "binary" and not np.all(np.isin(e.value[~np.isnan(e.value)], (0, 1))):
            raise ValueError(f"binary endpoint {e.name!r} must hold 0, 1 or NaN")
    if len(names) < 2 or not 0 <= control < len(names):
        raise ValueError(f"control must be an arm index in [0, {len(names)}) with at least "
                         "two arms")
    if n and (arm.min() < 0 or arm.max() >= len(names)):
        raise ValueError(f"arm indices must be integers in [0, {len(names)})")
    if sided not in (1, 2):
        raise ValueError(f"sided must be 1 or 2 (got {sided})")
    if multiplicity not in MULTIPLICITY:
        raise ValueError(f"multiplicity must be one of {', '.join(MULTIPLICITY)} "
                         f"(got {multiplicity!r})")
    secondary = [e.name for e in endpoints[1:]]
    for s in sequence:
        if s not in secondary:
            raise ValueError(f"sequence names {s!r}, which is not a secondary endpoint "
                             f"({', '.join(secondary) or 'none'})")


def analyse_trial(endpoints: Sequence[EndpointData], arm: np.ndarray, strata: np.ndarray,
                  names: Sequence[str], control: int, *, alpha: float = 0.05,
                  sided: int = 2, multiplicity: str = "holm",
                  methods: dict[str, str] | None = None,
                  sequence: Sequence[str] = ()) -> TrialAnalysis:
    """Analyse one trial: ``endpoints[0]`` is primary, the rest secondary (module docstring).

    ``methods`` maps an endpoint kind to a method name (default :data:`DEFAULTS`: CMH,
    ANCOVA and log-rank, all using the randomisation strata); ``sequence`` names the
    secondary endpoints tested, in order, after the primary.
    """
    arm = np.asarray(arm).astype(np.int64)
    strata = np.asarray(strata)
    endpoints = [replace(e, value=np.asarray(e.value, dtype=float)) for e in endpoints]
    _validate(endpoints, arm, strata, names, control, sided, multiplicity, sequence)
    chosen = {**DEFAULTS, **(methods or {})}
    level = ci_level(alpha, sided)
    active = [j for j in range(len(names)) if j != control]
    order = [0] + [1 + [e.name for e in endpoints[1:]].index(s) for s in sequence]
    parts = []
    for e in endpoints:
        arms, raws, warn = analyse_endpoint(e, arm, strata, names, control, chosen[e.kind],
                                            level)
        parts.append((e, arms, [_orient(e, r, sided) for r in raws], warn))
    families = []
    for i in order:
        e, arms, fam, _ = parts[i]
        n_active = [arms[j].analysed for j in active]
        families.append(_adjusted(fam, multiplicity, sided, n_active, arms[control].analysed))
    gated = dict(zip(order, fixed_sequence(families), strict=True))
    out = []
    for i, (e, arms, fam, warn) in enumerate(parts):
        role = "primary" if i == 0 else ("secondary" if i in gated else "descriptive")
        method = chosen[e.kind]
        comps = []
        for k, (j, o) in enumerate(zip(active, fam, strict=True)):
            p_adj = float(gated[i][k]) if i in gated else None
            sig = None
            if p_adj is not None:
                sig = bool(p_adj < alpha) and (sided == 2 or o.benefit > 0)
            comps.append(Comparison(
                e.name, str(names[j]), str(names[control]), method, o.raw.estimand,
                o.raw.scale, float(o.raw.estimate), o.raw.ci, level, o.p, p_adj, sig,
                o.benefit, o.z, _rule(i, gated, multiplicity), o.raw.extra))
        out.append(EndpointAnalysis(e.name, e.kind, method, role, tuple(arms), tuple(comps),
                                    tuple(warn)))
    return TrialAnalysis(tuple(out), multiplicity, alpha, sided, level, tuple(sequence))
