"""Many trials of one design analysed at once: the vectorised path of ``analyse_trial``.

A run analyses every replicate twice (predictive and conditional pass), ten endpoints each;
calling :func:`trialsim.stats.analysis.analyse_trial` per replicate (statsmodels and
scipy.stats objects per comparison) took ~20 ms a replicate, most of a run's time.
:func:`analyse_trials` takes the endpoints of many replicates with the same patients'
count and returns exactly the list of :class:`~trialsim.stats.results.TrialAnalysis` that
``[analyse_trial(...) for each replicate]`` gives, computing each endpoint's statistics as
arrays over the replicates:

* arm summaries (Wilson, t and exact Poisson intervals) and the tests by the vectorised
  functions of :mod:`trialsim.stats.binary` (chi-square, Yates, Fisher, CMH and the
  Mantel–Haenszel risk difference) and :mod:`trialsim.stats.batch` (ANCOVA, with Rubin's
  rules over multiple imputations; logistic regression; log-rank; Cox), the
  Mantel–Haenszel odds ratio written out here as statsmodels' ``StratifiedTable``;
* distributions by :mod:`scipy.special` (``ndtr``, ``ndtri``, ``stdtr``, ``stdtrit``,
  ``chdtr``, ``gammaincinv``), the functions scipy.stats' distribution objects call;
* multiplicity by the vectorised :func:`~trialsim.stats.multiplicity.adjust` and
  :func:`~trialsim.stats.multiplicity.fixed_sequence` (Dunnett per replicate).

The reference stays :func:`~trialsim.stats.analysis.analyse_trial` (the libraries): a
replicate whose endpoint is degenerate for a method (an arm without patients, a model that
cannot be fitted, …) has that endpoint analysed by
:func:`~trialsim.stats.analysis.analyse_endpoint`, as are repeated-measures GEE endpoints
(statsmodels' GEE stops at its own tolerance, which a batched fit would not reproduce to
1e-9). Replicates of different sizes are batched size by size; replicates whose endpoints
differ in shape or type, and invalid input, go to ``analyse_trial`` whole (which raises its
errors). ``tests/test_analysis_batch.py`` checks the two paths agree (floats to 1e-9
relative; roles, decisions and warnings identical).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from scipy import special

from trialsim.stats import batch
from trialsim.stats.analysis import (
    DEFAULTS,
    METHODS,
    analyse_endpoint,
    analyse_trial,
    ci_level,
)
from trialsim.stats.binary import (
    cmh_test,
    compare_counts,
    mh_risk_difference,
    newcombe_interval,
    wilson_interval,
)
from trialsim.stats.continuous import MEAN_DIFF
from trialsim.stats.endpoint_data import EndpointData
from trialsim.stats.multiplicity import METHODS as MULTIPLICITY
from trialsim.stats.multiplicity import adjust, dunnett_adjust, fixed_sequence
from trialsim.stats.rates import RD
from trialsim.stats.results import (
    NAN,
    ArmSummary,
    Comparison,
    EndpointAnalysis,
    RawComparison,
    TrialAnalysis,
)
from trialsim.stats.survival import DAYS_PER_YEAR, HR

__all__ = ["analyse_trials"]


@dataclass
class _Stack:
    """One endpoint of R replicates as arrays with a leading replicate axis."""

    data: list[EndpointData]            # the replicates' own (for the reference path)
    name: str
    kind: str
    higher_is_better: bool
    value: np.ndarray                   # (R, n)
    event: np.ndarray | None            # (R, n) bool
    baseline: np.ndarray | None         # (R, n)
    imputations: np.ndarray | None      # (R, m, n)


@dataclass
class _Raws:
    """Raw comparisons of one endpoint, arrays (R, C); ``redo`` rows go to the reference."""

    estimand: str
    scale: str
    increasing: bool
    est: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    p_two: np.ndarray
    p_greater: np.ndarray
    p_less: np.ndarray
    df: np.ndarray
    warn: list[list[str]]
    redo: np.ndarray
    extra: list[list[tuple]] | None = None


def _full(shape: tuple[int, ...], value: float = NAN) -> np.ndarray:
    return np.full(shape, value)


def _raws(estimand: str, scale: str, r: int, c: int, increasing: bool = True) -> _Raws:
    return _Raws(estimand, scale, increasing, *(_full((r, c)) for _ in range(6)),
                 _full((r, c), np.inf), [[] for _ in range(r)], np.zeros(r, dtype=bool))


def _label(names: Sequence[str], j: int, control: int) -> str:
    return f"{names[j]} vs {names[control]}"


# --------------------------------------------------------------------------- arm summaries


def _describe_binary(s: _Stack, arm: np.ndarray, names: Sequence[str], level: float
                     ) -> tuple[list[list[ArmSummary]], list[list[str]]]:
    seen = ~np.isnan(s.value)
    y = np.where(seen, s.value, 0.0)
    k = len(names)
    n = np.stack([(arm == j).sum(axis=1) for j in range(k)], axis=1)
    n_obs = np.stack([((arm == j) & seen).sum(axis=1) for j in range(k)], axis=1)
    x = np.stack([np.where(arm == j, y, 0.0).sum(axis=1) for j in range(k)], axis=1).round()
    lo, hi = wilson_interval(x, n_obs, level)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(n_obs > 0, x / np.where(n_obs > 0, n_obs, 1), NAN)
    rows, warn = [], []
    for nr, no, xr, rr, lr, hr in zip(n.tolist(), n_obs.tolist(), x.astype(int).tolist(),
                                      rate.tolist(), lo.tolist(), hi.tolist(), strict=True):
        rows.append([ArmSummary(str(names[j]), "binary", nr[j], no[j], "rate", rr[j],
                                (lr[j], hr[j]), level, count=xr[j]) for j in range(k)])
        warn.append([f"{names[j]}: no patient with a value: rate undefined"
                     for j in range(k) if no[j] == 0])
    return rows, warn


def _describe_continuous(s: _Stack, arm: np.ndarray, names: Sequence[str], level: float
                         ) -> tuple[list[list[ArmSummary]], list[list[str]]]:
    seen = ~np.isnan(s.value)
    k = len(names)
    out_n, out_a, out_m, out_sd, out_lo, out_hi = [], [], [], [], [], []
    for j in range(k):
        m = arm == j
        ok = m & seen
        cnt = ok.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(ok, s.value, 0.0).sum(axis=1) / cnt
            dev = np.where(ok, s.value - mean[:, None], 0.0)
            sd = np.sqrt((dev * dev).sum(axis=1) / (cnt - 1))
            sd = np.where(cnt > 1, sd, NAN)
            q = special.stdtrit(np.where(cnt > 1, cnt - 1, 1), 0.5 + level / 2)
            h = q * sd / np.sqrt(cnt)
        mean = np.where(cnt > 0, mean, NAN)
        out_n.append(m.sum(axis=1))
        out_a.append(cnt)
        out_m.append(mean)
        out_sd.append(sd)
        out_lo.append(np.where(cnt > 1, mean - h, NAN))
        out_hi.append(np.where(cnt > 1, mean + h, NAN))
    cols = [np.stack(a, axis=1).tolist() for a in (out_n, out_a, out_m, out_sd, out_lo,
                                                    out_hi)]
    rows, warn = [], []
    for nr, ar, mr, sr, lr, hr in zip(*cols, strict=True):
        rows.append([ArmSummary(str(names[j]), "continuous", nr[j], ar[j], "mean", mr[j],
                                (lr[j], hr[j]), level, sd=sr[j]) for j in range(k)])
        warn.append([f"{names[j]}: no patient with a value: mean undefined"
                     for j in range(k) if ar[j] == 0])
    return rows, warn


def _describe_tte(s: _Stack, arm: np.ndarray, names: Sequence[str], level: float
                  ) -> tuple[list[list[ArmSummary]], list[list[str]]]:
    assert s.event is not None
    seen = ~np.isnan(s.value)
    a2 = (1 - level) / 2
    k = len(names)
    cols: list[list[Any]] = [[] for _ in range(7)]
    for j in range(k):
        m = (arm == j) & seen
        e = (s.event & m).sum(axis=1)
        py = np.where(m, s.value, 0.0).sum(axis=1) / DAYS_PER_YEAR
        ok = py > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            # chi2.ppf(q, 2e) = 2 gammaincinv(e, q), as scipy computes it
            lo = np.where(e > 0, 2 * special.gammaincinv(e, a2) / 2 / py, 0.0)
            hi = 2 * special.gammaincinv(e + 1, 1 - a2) / 2 / py
            rate = e / py
        for c, v in zip(cols, ((arm == j).sum(axis=1), m.sum(axis=1), e, py,
                               np.where(ok, rate, NAN), np.where(ok, lo, NAN),
                               np.where(ok, hi, NAN)), strict=True):
            c.append(v)
    lists = [np.stack(c, axis=1).tolist() for c in cols]
    rows, warn = [], []
    for nr, ar, er, pr, rr, lr, hr in zip(*lists, strict=True):
        rows.append([ArmSummary(str(names[j]), "time-to-event", nr[j], ar[j],
                                "events per patient-year", rr[j], (lr[j], hr[j]), level,
                                count=er[j], exposure=pr[j]) for j in range(k)])
        warn.append([f"{names[j]}: no follow-up: event rate undefined"
                     for j in range(k) if not pr[j] > 0])
    return rows, warn


DESCRIBE = {"binary": _describe_binary, "continuous": _describe_continuous,
            "time-to-event": _describe_tte}


# --------------------------------------------------------------------------- binary tests


def _cell_counts(s: _Stack, arm: np.ndarray, codes: np.ndarray, strata: int, k: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Responders and analysed patients per (replicate, stratum, arm)."""
    r = arm.shape[0]
    seen = ~np.isnan(s.value)
    cell = (np.arange(r)[:, None] * strata + codes) * k + arm
    size = r * strata * k
    x = np.bincount(cell.ravel(), weights=np.where(seen, s.value, 0.0).ravel(),
                    minlength=size)
    m = np.bincount(cell.ravel(), weights=seen.ravel().astype(float), minlength=size)
    return x.reshape(r, strata, k).round(), m.reshape(r, strata, k)


def _two_by_two(s: _Stack, arm: np.ndarray, codes: np.ndarray, strata: int,
                names: Sequence[str], control: int, level: float, method: str) -> _Raws:
    """chisq, chisq-yates, fisher: pooled 2x2 tables, Newcombe interval."""
    x, m = _cell_counts(s, arm, codes, strata, len(names))
    active = [j for j in range(len(names)) if j != control]
    r = _raws(RD, "difference", arm.shape[0], len(active))
    cc = compare_counts(x, m, control, test=method)
    xt, nt = x.sum(axis=1), m.sum(axis=1)
    for i, j in enumerate(active):
        x1, n1, x0, n0 = xt[:, j], nt[:, j], xt[:, control], nt[:, control]
        r.redo |= (n1 == 0) | (n0 == 0)
        r.lo[:, i], r.hi[:, i] = newcombe_interval(x1, n1, x0, n0, level)
        r.est[:, i] = cc.estimate[:, i]
        r.p_two[:, i], r.p_greater[:, i], r.p_less[:, i] = (
            cc.p_two[:, i], cc.p_greater[:, i], cc.p_less[:, i])
        if method == "fisher":
            continue
        none, every = x1 + x0 == 0, x1 + x0 == n1 + n0
        label = _label(names, j, control)
        for row in np.flatnonzero(none | every):
            r.warn[row].append(f"{label}: chi-square undefined ("
                               + ("nobody" if none[row] else "everybody") + " responded)")
    return r


def _cmh(s: _Stack, arm: np.ndarray, codes: np.ndarray, strata: int, names: Sequence[str],
         control: int, level: float) -> _Raws:
    """CMH test, MH risk difference (Sato) and MH odds ratio (Robins–Breslow–Greenland
    interval, as statsmodels' ``StratifiedTable``), strata with fewer than 2 patients out."""
    x, m = _cell_counts(s, arm, codes, strata, len(names))
    active = [j for j in range(len(names)) if j != control]
    rows = arm.shape[0]
    r = _raws(RD + ", Mantel–Haenszel over the randomisation strata", "difference", rows,
              len(active))
    r.extra = [[() for _ in active] for _ in range(rows)]
    z_q = special.ndtri(0.5 + level / 2)
    f = -special.ndtri((1 - level) / 2)
    for i, j in enumerate(active):
        keep = (m[..., j] + m[..., control]) >= 2
        x1, n1, x0, n0 = (np.where(keep, a, 0.0) for a in
                          (x[..., j], m[..., j], x[..., control], m[..., control]))
        r.redo |= ~keep.any(axis=1) | (n1.sum(axis=1) == 0) | (n0.sum(axis=1) == 0)
        d, var = mh_risk_difference(x1, n1, x0, n0)
        with np.errstate(invalid="ignore", divide="ignore"):
            se = np.sqrt(var)
            z = cmh_test(x1, n1, x0, n0)
            stat = z * z
            big = np.where(keep, n1 + n0, 1.0)
            a, b, c, dd = x1, n1 - x1, x0, n0 - x0
            ad, bc, apd = a * dd, b * c, a + dd
            adns = np.where(keep, ad / big, 0.0).sum(axis=1)
            bcns = np.where(keep, bc / big, 0.0).sum(axis=1)
            odds = adns / bcns
            lor = np.log(odds)
            va = np.where(keep, apd * ad / big**2, 0.0).sum(axis=1) / adns**2
            mid = np.where(keep, apd * bc / big**2 + (1 - apd / big) * ad / big, 0.0)
            va = va + mid.sum(axis=1) / (adns * bcns)
            va = va + np.where(keep, (1 - apd / big) * bc / big, 0.0).sum(axis=1) / bcns**2
            lor_se = np.sqrt(va / 2)
            or_lo, or_hi = np.exp(lor - f * lor_se), np.exp(lor + f * lor_se)
        var_ok = var > 0
        r.est[:, i] = d
        r.lo[:, i] = np.where(var_ok, d - z_q * se, NAN)
        r.hi[:, i] = np.where(var_ok, d + z_q * se, NAN)
        mm = x1 + x0
        flat = np.all((mm == 0) | (mm == n1 + n0), axis=1)
        # a statistic without variance outside that case: statsmodels' inf/NaN, reference
        r.redo |= ~flat & ~(np.isfinite(z))
        r.p_two[:, i] = np.where(flat, NAN, 1 - special.chdtr(1, stat))
        r.p_greater[:, i] = np.where(flat, NAN, special.ndtr(-z))
        r.p_less[:, i] = np.where(flat, NAN, special.ndtr(z))
        or_ok = np.isfinite(odds) & np.isfinite(or_lo) & np.isfinite(or_hi)
        label = _label(names, j, control)
        for row, (vo, fl, oo, od, ol, oh) in enumerate(zip(
                var_ok.tolist(), flat.tolist(), or_ok.tolist(), odds.tolist(),
                or_lo.tolist(), or_hi.tolist(), strict=True)):
            w = r.warn[row]
            if not vo:
                w.append(f"{label}: Mantel–Haenszel risk difference without variance: "
                         "no interval")
            if fl:
                w.append(f"{label}: CMH test undefined (in every stratum nobody or "
                         "everybody responded)")
                continue
            if not oo:
                w.append(f"{label}: Mantel–Haenszel odds ratio undefined (zero cells)")
                od, ol, oh = NAN, NAN, NAN
            r.extra[row][i] = (("odds_ratio", od), ("odds_ratio_ci", (ol, oh)))
    return r


def _strata_groups(strata: np.ndarray) -> list[np.ndarray]:
    """Replicates grouped by the stratum labels they have. A regression's design gets a
    column per label of its batch (zero for replicates without it); fitting each group on
    its own gives every replicate its own columns, so its estimates do not depend, even in
    the last bit, on which replicates share its batch (the chunk size)."""
    levels, codes = np.unique(strata, return_inverse=True)
    present = np.zeros((strata.shape[0], levels.size), dtype=bool)
    present[np.arange(strata.shape[0])[:, None], codes.reshape(strata.shape)] = True
    keys, inverse = np.unique(present, axis=0, return_inverse=True)
    return [np.flatnonzero(inverse.ravel() == k) for k in range(keys.shape[0])]


def _by_strata_groups(fn: Any, strata: np.ndarray, *args: Any) -> tuple[np.ndarray, ...]:
    """``fn(*args)`` (arrays with a leading replicate axis, others passed as they are) per
    group of :func:`_strata_groups`, put back in replicate order."""
    groups = _strata_groups(strata)
    if len(groups) == 1:
        return tuple(fn(*args))
    rows = strata.shape[0]
    out: list[np.ndarray] = []
    for g in groups:
        part = fn(*(a[g] if isinstance(a, np.ndarray) and a.shape[:1] == (rows,) else a
                    for a in args))
        if not out:
            out = [np.empty((rows, *x.shape[1:]), dtype=x.dtype) for x in part]
        for o, x in zip(out, part, strict=True):
            o[g] = x
    return tuple(out)


def _normal_wald(r: _Raws, i: int, b: np.ndarray, se: np.ndarray, q: float,
                 log: bool) -> None:
    """Column i of a Wald comparison on the normal scale (logistic, Cox)."""
    with np.errstate(invalid="ignore", over="ignore"):
        z = b / se
        lo, hi = b - q * se, b + q * se
        r.est[:, i] = np.exp(b) if log else b
        r.lo[:, i], r.hi[:, i] = (np.exp(lo), np.exp(hi)) if log else (lo, hi)
    r.p_two[:, i] = special.ndtr(-np.abs(z)) * 2
    r.p_greater[:, i], r.p_less[:, i] = special.ndtr(-z), special.ndtr(z)


def _logistic(s: _Stack, arm: np.ndarray, strata: np.ndarray, names: Sequence[str],
              control: int, level: float) -> _Raws:
    active = [j for j in range(len(names)) if j != control]
    estimand = "odds ratio of response (arm / control), adjusted for " + (
        "baseline and " if s.baseline is not None else "") + "the randomisation strata"
    r = _raws(estimand, "ratio", arm.shape[0], len(active))
    est, se = _by_strata_groups(batch.logistic, strata, s.value, arm, strata, s.baseline,
                                active, control)
    r.redo = ~np.isfinite(est).all(axis=1) | ~np.isfinite(se).all(axis=1)
    q = special.ndtri(1 - (1 - level) / 2)
    for i in range(len(active)):
        _normal_wald(r, i, est[:, i], se[:, i], q, log=True)
    return r


# --------------------------------------------------------------------------- continuous


def _ancova_arrays(value: np.ndarray, s: _Stack, arm: np.ndarray, strata: np.ndarray,
                   active: list[int], control: int, level: float
                   ) -> tuple[np.ndarray, ...]:
    est, se, df = _by_strata_groups(batch.ancova, strata, value, arm, strata, s.baseline,
                                    active, control)
    df = np.broadcast_to(df[:, None], est.shape)
    bad = ~np.isfinite(est) | ~np.isfinite(se) | ~(df >= 1)
    safe_df = np.where(bad, 1.0, df)
    with np.errstate(invalid="ignore"):
        q = special.stdtrit(safe_df, 1 - (1 - level) / 2)
        t = est / se
    return est, se, safe_df, q, t, bad.any(axis=1)


def _ancova(s: _Stack, arm: np.ndarray, strata: np.ndarray, names: Sequence[str],
            control: int, level: float) -> _Raws:
    active = [j for j in range(len(names)) if j != control]
    has_base = s.baseline is not None
    estimand = MEAN_DIFF.format(what=s.name, adj="baseline and the randomisation strata"
                                if has_base else "the randomisation strata")
    rows, c = arm.shape[0], len(active)
    if s.imputations is not None:
        return _rubin(s, arm, strata, active, control, level, estimand)
    r = _raws(estimand, "difference", rows, c)
    est, se, df, q, t, bad = _ancova_arrays(s.value, s, arm, strata, active, control, level)
    r.redo = bad
    r.est, r.lo, r.hi = est, est - q * se, est + q * se
    r.p_two = special.stdtr(df, -np.abs(t)) * 2
    r.p_greater, r.p_less, r.df = special.stdtr(df, -t), special.stdtr(df, t), df
    return r


def _rubin(s: _Stack, arm: np.ndarray, strata: np.ndarray, active: list[int],
           control: int, level: float, estimand: str) -> _Raws:
    """ANCOVA of each completed data set pooled by Rubin's rules, computed as
    :func:`trialsim.stats.continuous._rubin` does (each fit's SE from its interval)."""
    assert s.imputations is not None
    rows, c = arm.shape[0], len(active)
    r = _raws(estimand + " (multiple imputation, Rubin's rules)", "difference", rows, c)
    m = s.imputations.shape[1]
    qs, ses, dfs = [], [], []
    for k in range(m):
        est, se, df, q, _, bad = _ancova_arrays(s.imputations[:, k, :], s, arm, strata,
                                                active, control, level)
        r.redo |= bad
        lo, hi = est - q * se, est + q * se
        qs.append(est)
        ses.append((hi - lo) / 2 / special.stdtrit(df, 0.5 + level / 2))
        dfs.append(df)
    # imputations on the last, contiguous axis: each replicate's sums then run in the same
    # order whichever replicates share its batch (results independent of the chunk size)
    qa, sa = np.stack(qs, axis=-1), np.stack(ses, axis=-1)     # (R, C, m)
    w = np.mean(sa**2, axis=-1)
    b = np.var(qa, axis=-1, ddof=1)
    total = w + (1 + 1 / m) * b
    df_c = dfs[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        df = np.where(b == 0, df_c,
                      np.minimum((m - 1) * (1 + w / ((1 + 1 / m) * b)) ** 2, df_c))
    df = np.where(r.redo[:, None], 1.0, df)
    est, sd = qa.mean(axis=-1), np.sqrt(total)
    h = special.stdtrit(df, 0.5 + level / 2) * sd
    t = est / sd
    r.est, r.lo, r.hi, r.df = est, est - h, est + h, df
    r.p_two = 2 * special.stdtr(df, -np.abs(t))
    r.p_greater, r.p_less = special.stdtr(df, -t), special.stdtr(df, t)
    return r


# --------------------------------------------------------------------------- time to event


def _logrank(s: _Stack, arm: np.ndarray, strata: np.ndarray, names: Sequence[str],
             control: int, level: float) -> _Raws:
    assert s.event is not None
    active = [j for j in range(len(names)) if j != control]
    estimand = (HR.format(what=s.name) + ", Peto's estimate from the log-rank test "
                "stratified by the randomisation strata")
    r = _raws(estimand, "ratio", arm.shape[0], len(active), increasing=False)
    zq = special.ndtri(0.5 + level / 2)
    seen = ~np.isnan(s.value)
    time = np.where(seen, s.value, 0.0)
    for i, j in enumerate(active):
        inc = ((arm == j) | (arm == control)) & seen
        g = arm == j
        ng, ni = (g & inc).sum(axis=1), inc.sum(axis=1)
        r.redo |= (ng == 0) | (ng == ni)
        o, e, v = batch.logrank(time, s.event, g, strata, inc)
        ok = v > 0
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            chi2 = (o - e) ** 2 / v
            z = np.sign(o - e) * np.sqrt(chi2)
            bb = (o - e) / v
            h = zq / np.sqrt(v)
            r.est[:, i] = np.where(ok, np.exp(bb), NAN)
            r.lo[:, i] = np.where(ok, np.exp(bb - h), NAN)
            r.hi[:, i] = np.where(ok, np.exp(bb + h), NAN)
        r.p_two[:, i] = np.where(ok, 1 - special.chdtr(1, chi2), NAN)
        r.p_greater[:, i] = np.where(ok, special.ndtr(-z), NAN)
        r.p_less[:, i] = np.where(ok, special.ndtr(z), NAN)
        label = _label(names, j, control)
        for row in np.flatnonzero(~ok):
            r.warn[row].append(f"{label}: log-rank test undefined (no events)")
    return r


def _cox(s: _Stack, arm: np.ndarray, strata: np.ndarray, names: Sequence[str],
         control: int, level: float) -> _Raws:
    assert s.event is not None
    active = [j for j in range(len(names)) if j != control]
    estimand = (HR.format(what=s.name) + ", Cox regression stratified by the "
                "randomisation strata")
    r = _raws(estimand, "ratio", arm.shape[0], len(active), increasing=False)
    seen = ~np.isnan(s.value)
    include = np.isin(arm, [control, *active]) & seen
    ev = s.event & include
    events_ok = np.all([(ev & ((arm == j) | (arm == control))).any(axis=1)
                        for j in active], axis=0)
    x = np.stack([(arm == j).astype(float) for j in active], axis=-1)
    beta, se = batch.cox(np.where(seen, s.value, 0.0), s.event, x, strata, include)
    r.redo = ~events_ok | ~np.isfinite(beta).all(axis=1) | ~np.isfinite(se).all(axis=1)
    q = special.ndtri(0.5 + level / 2)
    for i in range(len(active)):
        _normal_wald(r, i, beta[:, i], se[:, i], q, log=True)
    return r


def _by_reference(s: _Stack, arm: np.ndarray, strata: np.ndarray, names: Sequence[str],
                  control: int, level: float) -> _Raws:
    """Every replicate by the reference (GEE: statsmodels stops iterating at its own
    tolerance, 1e-6, which a batched fit would not reproduce to 1e-9)."""
    c = len(names) - 1
    r = _raws("", "difference", arm.shape[0], c)
    r.redo[:] = True
    return r


BINARY_POOLED = ("chisq", "chisq-yates", "fisher")
TESTS = {"logistic": _logistic, "ancova": _ancova, "gee": _by_reference,
         "logrank": _logrank, "cox": _cox}


# --------------------------------------------------------------------------- driver


class _Ragged(Exception):
    """Replicates' arrays of one endpoint differ in shape."""


def _stack(parts: list[EndpointData], n: int) -> _Stack | None:
    """The replicates' endpoint as arrays, or None when they differ in shape or type."""
    def key(e: EndpointData) -> tuple:
        return (e.name, e.kind, e.higher_is_better, e.event is None, e.baseline is None,
                e.repeated is None, e.imputations is None, np.shape(e.value))

    first = parts[0]
    if key(first)[-1] != (n,) or any(key(e) != key(first) for e in parts):
        return None

    def cat(attr: str, dtype: Any = float) -> np.ndarray | None:
        arrays = [getattr(e, attr) for e in parts]
        if arrays[0] is None:
            return None
        shapes = {np.shape(a) for a in arrays}
        if len(shapes) != 1:
            raise _Ragged
        return np.stack([np.asarray(a, dtype=dtype) for a in arrays])

    try:
        return _Stack(parts, first.name, first.kind, first.higher_is_better, cat("value"),
                      cat("event", bool), cat("baseline"), cat("imputations"))
    except _Ragged:
        return None


def _valid(stacks: list[_Stack], arm: np.ndarray, names: Sequence[str], control: int,
           sided: int, multiplicity: str, sequence: Sequence[str]) -> bool:
    """What ``analysis._validate`` checks, over all replicates at once (False: let the
    reference raise its error)."""
    if len(names) < 2 or not 0 <= control < len(names) or sided not in (1, 2):
        return False
    if multiplicity not in MULTIPLICITY:
        return False
    if arm.size and (arm.min() < 0 or arm.max() >= len(names)):
        return False
    secondary = [s.name for s in stacks[1:]]
    if any(x not in secondary for x in sequence):
        return False
    for s in stacks:
        if s.kind == "binary":
            v = s.value[~np.isnan(s.value)]
            if not np.all((v == 0) | (v == 1)):
                return False
    return True


def _orient(r: _Raws, higher_is_better: bool, sided: int, multiplicity: str
            ) -> tuple[np.ndarray, ...]:
    """(p, benefit, z, stat) arrays as :func:`trialsim.stats.analysis._orient` per
    comparison."""
    d = (1 if higher_is_better else -1) * (1 if r.increasing else -1)
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = r.est if r.scale == "difference" else np.log(r.est)
        benefit = d * shift
        p = r.p_two if sided == 2 else (r.p_greater if d > 0 else r.p_less)
        z = np.where(np.isfinite(r.p_two), np.sign(benefit) * -special.ndtri(r.p_two / 2),
                     NAN)
        stat = None
        if multiplicity == "dunnett":
            q = r.p_two / 2 if sided == 2 else p
            finite = np.isfinite(r.df)
            stat = np.where(finite, -special.stdtrit(np.where(finite, r.df, 1.0), q),
                            -special.ndtri(q))
    return p, benefit, z, stat


def _fill_reference(r: _Raws, row: int, raws: list[RawComparison],
                    refs: dict[int, list[RawComparison]]) -> None:
    refs[row] = raws
    for i, x in enumerate(raws):
        r.est[row, i], (r.lo[row, i], r.hi[row, i]) = x.estimate, x.ci
        r.p_two[row, i], r.p_greater[row, i], r.p_less[row, i] = (x.p_two, x.p_greater,
                                                                  x.p_less)
        r.df[row, i] = x.df


def analyse_trials(trials: Sequence[Sequence[EndpointData]], arms: Sequence[np.ndarray],
                   strata: Sequence[np.ndarray], names: Sequence[str], control: int, *,
                   alpha: float = 0.05, sided: int = 2, multiplicity: str = "holm",
                   methods: dict[str, str] | None = None,
                   sequence: Sequence[str] = ()) -> list[TrialAnalysis]:
    """``[analyse_trial(trials[i], arms[i], strata[i], names, control, ...) for i]``,
    computed endpoint by endpoint over all replicates at once (module docstring)."""
    def reference() -> list[TrialAnalysis]:
        return [analyse_trial(t, a, s, names, control, alpha=alpha, sided=sided,
                              multiplicity=multiplicity, methods=methods, sequence=sequence)
                for t, a, s in zip(trials, arms, strata, strict=True)]

    if not trials:
        return []
    sizes = [np.shape(a) for a in arms]
    if len(set(sizes)) > 1 and all(len(z) == 1 for z in sizes):
        # replicates of different sizes: each size batched on its own
        out: list[TrialAnalysis | None] = [None] * len(trials)
        for size in set(sizes):
            idx = [i for i, z in enumerate(sizes) if z == size]
            part = analyse_trials([trials[i] for i in idx], [arms[i] for i in idx],
                                  [strata[i] for i in idx], names, control, alpha=alpha,
                                  sided=sided, multiplicity=multiplicity, methods=methods,
                                  sequence=sequence)
            for i, an in zip(idx, part, strict=True):
                out[i] = an
        return [an for an in out if an is not None]
    n = np.shape(arms[0])[0] if np.ndim(arms[0]) == 1 else -1
    counts = {len(t) for t in trials}
    if (n < 0 or len(counts) != 1 or not trials[0]
            or any(np.shape(a) != (n,) or np.shape(s) != (n,)
                   for a, s in zip(arms, strata, strict=True))):
        return reference()
    stacks = [_stack([t[i] for t in trials], n) for i in range(len(trials[0]))]
    ok_stacks = [s for s in stacks if s is not None]
    chosen = {**DEFAULTS, **(methods or {})}
    arm = np.stack([np.asarray(a) for a in arms]).astype(np.int64)
    st = np.stack([np.asarray(s) for s in strata])
    if (len(ok_stacks) < len(stacks)
            or any(chosen[s.kind] not in METHODS or METHODS[chosen[s.kind]].kind != s.kind
                   for s in ok_stacks)
            or not _valid(ok_stacks, arm, names, control, sided, multiplicity, sequence)):
        return reference()
    try:
        level = ci_level(alpha, sided)
    except ValueError:
        return reference()
    levels, codes = np.unique(st, return_inverse=True)
    codes = codes.reshape(st.shape)
    rows = arm.shape[0]
    active = [j for j in range(len(names)) if j != control]
    parts = []
    for s in ok_stacks:
        method = chosen[s.kind]
        arm_rows, warn_d = DESCRIBE[s.kind](s, arm, names, level)
        if method in BINARY_POOLED:
            r = _two_by_two(s, arm, codes, levels.size, names, control, level, method)
        elif method == "cmh":
            r = _cmh(s, arm, codes, levels.size, names, control, level)
        else:
            r = TESTS[method](s, arm, st, names, control, level)
        refs: dict[int, list[RawComparison]] = {}
        warn = [wd + wr for wd, wr in zip(warn_d, r.warn, strict=True)]
        for row in np.flatnonzero(r.redo).tolist():
            data = replace(s.data[row], value=np.asarray(s.data[row].value, dtype=float))
            a_ref, raws, w_ref = analyse_endpoint(data, arm[row], st[row], names, control,
                                                  method, level)
            arm_rows[row], warn[row] = a_ref, w_ref
            _fill_reference(r, row, raws, refs)
        parts.append((s, method, arm_rows, warn, r, refs,
                      _orient(r, s.higher_is_better, sided, multiplicity)))
    order = [0] + [1 + [s.name for s in ok_stacks[1:]].index(x) for x in sequence]
    families = []
    for i in order:
        s, _, arm_rows, _, r, _, (p, _, _, stat) = parts[i]
        if multiplicity != "dunnett" or len(active) < 2:
            families.append(adjust(p, "none" if multiplicity == "dunnett" else multiplicity))
            continue
        fam = np.empty_like(p)
        for row in range(rows):
            n_active = [arm_rows[row][j].analysed for j in active]
            fam[row] = dunnett_adjust(stat[row], n_active, arm_rows[row][control].analysed,
                                      sided=sided, df=float(np.min(r.df[row])))
        families.append(fam)
    gated = dict(zip(order, fixed_sequence(families), strict=True))
    return _assemble(parts, gated, names, control, active, alpha, sided, multiplicity,
                     level, sequence, rows)


def _assemble(parts: list, gated: dict, names: Sequence[str], control: int,
              active: list[int], alpha: float, sided: int, multiplicity: str, level: float,
              sequence: Sequence[str], rows: int) -> list[TrialAnalysis]:
    """The result objects, replicate by replicate, from the endpoint arrays."""
    per_rep: list[list[EndpointAnalysis]] = [[] for _ in range(rows)]
    arm_names = [str(names[j]) for j in active]
    ctl = str(names[control])
    for i, (s, method, arm_rows, warn, r, refs, (p, benefit, z, _)) in enumerate(parts):
        role = "primary" if i == 0 else ("secondary" if i in gated else "descriptive")
        rule = "none" if i not in gated else (multiplicity if i == 0
                                              else f"{multiplicity}, fixed sequence")
        adj = gated[i].tolist() if i in gated else None
        cols = [a.tolist() for a in (r.est, r.lo, r.hi, p, benefit, z)]
        for row in range(rows):
            est, lo, hi, pr, br, zr = (c[row] for c in cols)
            ref = refs.get(row)
            comps = []
            for k in range(len(active)):
                p_adj = adj[row][k] if adj is not None else None
                sig = None
                if p_adj is not None:
                    sig = bool(p_adj < alpha) and (sided == 2 or br[k] > 0)
                if ref is not None:
                    estimand, extra = ref[k].estimand, ref[k].extra
                else:
                    estimand, extra = r.estimand, (r.extra[row][k] if r.extra else ())
                comps.append(Comparison(s.name, arm_names[k], ctl, method, estimand,
                                        r.scale, est[k], (lo[k], hi[k]), level, pr[k], p_adj,
                                        sig, br[k], zr[k], rule, extra))
            per_rep[row].append(EndpointAnalysis(s.name, s.kind, method, role,
                                                 tuple(arm_rows[row]), tuple(comps),
                                                 tuple(warn[row])))
    return [TrialAnalysis(tuple(e), multiplicity, alpha, sided, level, tuple(sequence))
            for e in per_rep]
