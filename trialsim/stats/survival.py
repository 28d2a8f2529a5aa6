"""Analyses of a time-to-event endpoint (e.g. time to first flare), by statsmodels.

``EndpointData.value`` holds days from randomisation to the event or to censoring and
``event`` whether the event was observed. Per arm: events, patient-years at risk and the
event rate per patient-year with its exact Poisson (Garwood) interval. Per active arm
versus control, one of:

* ``"logrank"`` — the log-rank test stratified by the randomisation strata
  (:func:`statsmodels.duration.survfunc.survdiff`, two arms at a time). With
  :math:`O - E` the arm's observed minus expected events and :math:`V` the variance summed
  over strata, the hazard ratio is Peto's one-step estimate
  :math:`\\exp((O - E)/V)` with interval :math:`\\exp((O - E)/V \\pm z/\\sqrt V)` (Peto et al.
  1977, Br J Cancer 35:1; Berry, Kitchin & Mock 1991, Stat Med 10:749), and the one-sided
  p-values come from the signed statistic :math:`(O - E)/\\sqrt V`, whose square is
  survdiff's chi-square.
* ``"cox"`` — Cox proportional-hazards regression stratified by the randomisation strata
  (:class:`statsmodels.duration.hazard_regression.PHReg`, Breslow ties), all arms in one
  model: hazard ratio with Wald interval and Wald test.

A hazard ratio below 1 means fewer events in the arm: when longer times are better (time to
flare) that favours the arm. No events in an arm pair, or an arm without patients, gives
NaN with a warning.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from scipy import stats

from trialsim.stats.endpoint_data import EndpointData
from trialsim.stats.results import NAN, ArmSummary, RawComparison, undefined

DAYS_PER_YEAR = 365.25
HR = "hazard ratio of {what} (arm / control)"


def describe(data: EndpointData, arm: np.ndarray, names: Sequence[str],
             level: float) -> tuple[list[ArmSummary], list[str]]:
    """Per arm: events, patient-years and the event rate with an exact Poisson interval."""
    out, warn = [], []
    ev = np.asarray(data.event, dtype=bool)
    a2 = (1 - level) / 2
    for j, name in enumerate(names):
        m = (arm == j) & ~np.isnan(data.value)
        e = int(ev[m].sum())
        py = float(data.value[m].sum() / DAYS_PER_YEAR)
        if py <= 0:
            warn.append(f"{name}: no follow-up: event rate undefined")
            rate, ci = NAN, (NAN, NAN)
        else:
            lo = stats.chi2.ppf(a2, 2 * e) / 2 / py if e > 0 else 0.0
            hi = stats.chi2.ppf(1 - a2, 2 * e + 2) / 2 / py
            rate, ci = e / py, (float(lo), float(hi))
        out.append(ArmSummary(str(name), "time-to-event", int((arm == j).sum()),
                              int(m.sum()), "events per patient-year", rate, ci, level,
                              count=e, exposure=py))
    return out, warn


def logrank_components(time: np.ndarray, event: np.ndarray, group: np.ndarray,
                       strata: np.ndarray | None = None) -> tuple[float, float, float]:
    """``(O, E, V)`` of group 1 (``group == 1``) against group 0, summed over strata.

    At each distinct event time with :math:`d` events among :math:`n` at risk, :math:`n_1`
    of them in group 1: :math:`E \\mathrel{+}= d n_1/n`,
    :math:`V \\mathrel{+}= d (n_1/n)(1 - n_1/n)(n - d)/(n - 1)`.
    """
    t = np.asarray(time, dtype=float)
    e = np.asarray(event, dtype=bool)
    g = np.asarray(group) == 1
    s = np.zeros(t.size) if strata is None else np.asarray(strata)
    o = ex = var = 0.0
    for lev in np.unique(s):
        m = s == lev
        tt, ee, gg = t[m], e[m], g[m]
        o += float((ee & gg).sum())
        for u in np.unique(tt[ee]):
            at = tt >= u
            n, n1 = at.sum(), (at & gg).sum()
            d = ((tt == u) & ee).sum()
            ex += d * n1 / n
            if n > 1:
                var += d * (n1 / n) * (1 - n1 / n) * (n - d) / (n - 1)
    return o, ex, var


def logrank(data: EndpointData, arm: np.ndarray, strata: np.ndarray, names: Sequence[str],
            control: int, level: float) -> tuple[list[RawComparison], list[str]]:
    """Stratified log-rank test with Peto's hazard ratio, per arm versus control."""
    from statsmodels.duration.survfunc import survdiff

    estimand = (HR.format(what=data.name) + ", Peto's estimate from the log-rank test "
                "stratified by the randomisation strata")
    zq = stats.norm.ppf(0.5 + level / 2)
    out, warn = [], []
    ev = np.asarray(data.event, dtype=bool)
    for j in [k for k in range(len(names)) if k != control]:
        label = f"{names[j]} vs {names[control]}"
        m = np.isin(arm, [j, control]) & ~np.isnan(data.value)
        g = (arm[m] == j).astype(int)
        if g.sum() == 0 or g.sum() == g.size:
            warn.append(f"{label}: an arm without patients: no comparison")
            out.append(undefined(estimand, "ratio", increasing=False))
            continue
        o, e, v = logrank_components(data.value[m], ev[m], g, strata[m])
        if not v > 0:
            warn.append(f"{label}: log-rank test undefined (no events)")
            out.append(undefined(estimand, "ratio", increasing=False))
            continue
        chi2, p = survdiff(data.value[m], ev[m].astype(float), g, strata=strata[m])
        z = float(np.sign(o - e) * np.sqrt(chi2))
        b = (o - e) / v
        h = zq / np.sqrt(v)
        out.append(RawComparison(estimand, "ratio", float(np.exp(b)),
                                 (float(np.exp(b - h)), float(np.exp(b + h))), float(p),
                                 float(stats.norm.sf(z)), float(stats.norm.cdf(z)),
                                 increasing=False))
    return out, warn


def cox(data: EndpointData, arm: np.ndarray, strata: np.ndarray, names: Sequence[str],
        control: int, level: float) -> tuple[list[RawComparison], list[str]]:
    """Stratified Cox regression: hazard ratio of each arm versus control."""
    from statsmodels.duration.hazard_regression import PHReg

    estimand = (HR.format(what=data.name) + ", Cox regression stratified by the "
                "randomisation strata")
    active = [j for j in range(len(names)) if j != control]
    keep = np.isin(arm, [control, *active]) & ~np.isnan(data.value)
    a = arm[keep]
    ev = np.asarray(data.event, dtype=bool)[keep]
    if not np.any(a == control) or any(not np.any(a == j) for j in active):
        return ([undefined(estimand, "ratio", increasing=False) for _ in active],
                ["an arm without patients: no Cox model"])
    x = np.column_stack([(a == j).astype(float) for j in active])
    events_ok = all(ev[(a == j) | (a == control)].any() for j in active)
    if not events_ok:   # nothing to fit (statsmodels fails without any event)
        return ([undefined(estimand, "ratio", increasing=False) for _ in active],
                ["Cox model cannot be fitted (no events in an arm pair)"])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = PHReg(data.value[keep], x, status=ev.astype(float), strata=strata[keep],
                        ties="breslow").fit()
        bse = np.asarray(fit.bse)
    except (np.linalg.LinAlgError, ValueError):
        bse = np.full(len(active), np.nan)
    if not events_ok or not np.all(np.isfinite(bse)) or np.any(np.abs(fit.params) > 15):
        return ([undefined(estimand, "ratio", increasing=False) for _ in active],
                ["Cox model cannot be fitted (no events in an arm pair)"])
    zq = stats.norm.ppf(0.5 + level / 2)
    out = []
    for i in range(len(active)):
        b, se = float(fit.params[i]), float(bse[i])
        z = b / se
        out.append(RawComparison(estimand, "ratio", float(np.exp(b)),
                                 (float(np.exp(b - zq * se)), float(np.exp(b + zq * se))),
                                 float(2 * stats.norm.sf(abs(z))), float(stats.norm.sf(z)),
                                 float(stats.norm.cdf(z)), increasing=False))
    return out, []
