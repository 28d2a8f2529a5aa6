"""Analyses of a binary endpoint (responder yes/no) in one trial, by scipy and statsmodels.

Per arm: the response rate with a Wilson score interval
(:func:`statsmodels.stats.proportion.proportion_confint`, ``method="wilson"``; Wilson 1927).
Per active arm versus control, one of:

* ``"chisq"`` / ``"chisq-yates"`` — Pearson chi-square test of the 2x2 table without / with
  Yates's continuity correction (:func:`scipy.stats.chi2_contingency`); the estimate is the
  difference in rates with Newcombe's hybrid score interval
  (:func:`statsmodels.stats.proportion.confint_proportions_2indep`, ``method="newcomb"``;
  Newcombe 1998, Stat Med 17:873, method 10). One-sided p-values come from the signed
  root of the statistic.
* ``"fisher"`` — Fisher's exact test (:func:`scipy.stats.fisher_exact`), with the same
  estimate.
* ``"cmh"`` — Cochran–Mantel–Haenszel test stratified by the randomisation strata
  (:class:`statsmodels.stats.contingency_tables.StratifiedTable`,
  ``test_null_odds(correction=False)``), with the Mantel–Haenszel common risk difference and
  Sato's variance (:func:`trialsim.stats.binary.mh_risk_difference`: statsmodels has no
  common risk difference) as the estimate and its Wald interval, and the Mantel–Haenszel
  common odds ratio with its Robins–Breslow–Greenland interval
  (``StratifiedTable.oddsratio_pooled``, ``logodds_pooled_confint``). Strata with fewer
  than two patients carry no information and are left out.
* ``"logistic"`` — logistic regression of response on arm, baseline (e.g. SLEDAI-2K) and
  the randomisation strata (:class:`statsmodels.discrete.discrete_model.Logit`), all arms
  in one model: the conditional odds ratio of each arm versus control with its Wald interval
  and Wald test.

Missing values (NaN: only an observed-cases rule leaves them) are left out of every test.
Undefined answers are NaN with a warning, never a placeholder: an arm without patients; a
chi-square or CMH statistic without variance (nobody, or everybody, responded); a logistic
model that does not converge or separates perfectly.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from scipy import stats
from statsmodels.stats.contingency_tables import StratifiedTable
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from trialsim.stats.binary import mh_risk_difference
from trialsim.stats.endpoint_data import EndpointData
from trialsim.stats.results import NAN, ArmSummary, RawComparison, undefined

RD = "difference in response rate (arm − control)"


def describe(data: EndpointData, arm: np.ndarray, names: Sequence[str],
             level: float) -> tuple[list[ArmSummary], list[str]]:
    """Per arm: patients, analysed, responders, rate and Wilson interval."""
    out, warn = [], []
    seen = ~np.isnan(data.value)
    for j, name in enumerate(names):
        m = arm == j
        n_obs = int((m & seen).sum())
        x = int(np.nansum(data.value[m]))
        if n_obs == 0:
            warn.append(f"{name}: no patient with a value: rate undefined")
            rate, ci = NAN, (NAN, NAN)
        else:
            lo, hi = proportion_confint(x, n_obs, alpha=1 - level, method="wilson")
            # exact at the boundaries (the formula's values there, free of rounding)
            lo, hi = (0.0 if x == 0 else float(lo)), (1.0 if x == n_obs else float(hi))
            rate, ci = x / n_obs, (lo, hi)
        out.append(ArmSummary(str(name), "binary", int(m.sum()), n_obs, "rate", rate, ci,
                              level, count=x))
    return out, warn


def _counts(y: np.ndarray, arm: np.ndarray, j: int) -> tuple[int, int]:
    m = (arm == j) & ~np.isnan(y)
    return int(y[m].sum()), int(m.sum())


def _difference(x1: int, n1: int, x0: int, n0: int, level: float) -> tuple[float, tuple]:
    lo, hi = confint_proportions_2indep(x1, n1, x0, n0, method="newcomb", compare="diff",
                                       alpha=1 - level)
    return x1 / n1 - x0 / n0, (float(lo), float(hi))


def _signed(z: float) -> tuple[float, float]:
    return float(stats.norm.sf(z)), float(stats.norm.cdf(z))


def chisq(data: EndpointData, arm: np.ndarray, strata: np.ndarray, names: Sequence[str],
          control: int, level: float, *, correction: bool = False
          ) -> tuple[list[RawComparison], list[str]]:
    """Pearson chi-square (``correction``: Yates) per arm versus control."""
    out, warn = [], []
    x0, n0 = _counts(data.value, arm, control)
    for j in _active(names, control):
        x1, n1 = _counts(data.value, arm, j)
        label = f"{names[j]} vs {names[control]}"
        if n1 == 0 or n0 == 0:
            warn.append(f"{label}: an arm without patients: no comparison")
            out.append(undefined(RD, "difference"))
            continue
        d, ci = _difference(x1, n1, x0, n0, level)
        if x1 + x0 in (0, n1 + n0):
            warn.append(f"{label}: chi-square undefined ("
                        + ("nobody" if x1 + x0 == 0 else "everybody") + " responded)")
            out.append(RawComparison(RD, "difference", d, ci, NAN, NAN, NAN))
            continue
        table = [[x1, n1 - x1], [x0, n0 - x0]]
        res = stats.chi2_contingency(table, correction=correction)
        z = float(np.sign(d) * np.sqrt(res.statistic))
        out.append(RawComparison(RD, "difference", d, ci, float(res.pvalue), *_signed(z)))
    return out, warn


def chisq_yates(data: EndpointData, arm: np.ndarray, strata: np.ndarray,
                names: Sequence[str], control: int, level: float
                ) -> tuple[list[RawComparison], list[str]]:
    """Pearson chi-square with Yates's continuity correction."""
    return chisq(data, arm, strata, names, control, level, correction=True)


def fisher(data: EndpointData, arm: np.ndarray, strata: np.ndarray, names: Sequence[str],
           control: int, level: float) -> tuple[list[RawComparison], list[str]]:
    """Fisher's exact test per arm versus control."""
    out, warn = [], []
    x0, n0 = _counts(data.value, arm, control)
    for j in _active(names, control):
        x1, n1 = _counts(data.value, arm, j)
        if n1 == 0 or n0 == 0:
            warn.append(f"{names[j]} vs {names[control]}: an arm without patients: "
                        "no comparison")
            out.append(undefined(RD, "difference"))
            continue
        d, ci = _difference(x1, n1, x0, n0, level)
        table = [[x1, n1 - x1], [x0, n0 - x0]]
        p = [float(stats.fisher_exact(table, alternative=a).pvalue)
             for a in ("two-sided", "greater", "less")]
        out.append(RawComparison(RD, "difference", d, ci, *p))
    return out, warn


def _stratum_tables(y: np.ndarray, arm: np.ndarray, strata: np.ndarray, j: int,
                    c: int) -> np.ndarray:
    """(strata, 4): x1, n1, x0, n0 per stratum among patients with a value."""
    seen = ~np.isnan(y)
    rows = []
    for s in np.unique(strata):
        ms = (strata == s) & seen
        a, b = ms & (arm == j), ms & (arm == c)
        rows.append((y[a].sum(), a.sum(), y[b].sum(), b.sum()))
    return np.array(rows, dtype=float).reshape(-1, 4)


def cmh(data: EndpointData, arm: np.ndarray, strata: np.ndarray, names: Sequence[str],
        control: int, level: float) -> tuple[list[RawComparison], list[str]]:
    """CMH test with the MH risk difference (Sato) and MH common odds ratio."""
    estimand = (RD + ", Mantel–Haenszel over the randomisation strata")
    z_q = float(stats.norm.ppf(0.5 + level / 2))
    out, warn = [], []
    for j in _active(names, control):
        label = f"{names[j]} vs {names[control]}"
        t = _stratum_tables(data.value, arm, strata, j, control)
        t = t[(t[:, 1] + t[:, 3]) >= 2]
        if t.size == 0 or t[:, 1].sum() == 0 or t[:, 3].sum() == 0:
            warn.append(f"{label}: an arm without patients: no comparison")
            out.append(undefined(estimand, "difference"))
            continue
        x1, n1, x0, n0 = t.T
        d, var = (float(v) for v in mh_risk_difference(x1, n1, x0, n0))
        se = np.sqrt(var) if var > 0 else NAN
        ci = (d - z_q * se, d + z_q * se) if var > 0 else (NAN, NAN)
        if not var > 0:
            warn.append(f"{label}: Mantel–Haenszel risk difference without variance: "
                        "no interval")
        tables = np.array([[x1, n1 - x1], [x0, n0 - x0]])      # (2, 2, strata)
        m = x1 + x0
        if np.all((m == 0) | (m == n1 + n0)):
            warn.append(f"{label}: CMH test undefined (in every stratum nobody or "
                        "everybody responded)")
            out.append(RawComparison(estimand, "difference", d, ci, NAN, NAN, NAN))
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)   # zero cells: OR is inf/NaN
            st = StratifiedTable(tables)
            test = st.test_null_odds(correction=False)
            expected = (n1 * m / (n1 + n0)).sum()
            z = float(np.sign(x1.sum() - expected) * np.sqrt(test.statistic))
            odds = float(st.oddsratio_pooled)
            lo, hi = st.logodds_pooled_confint(alpha=1 - level)
        or_ci = (float(np.exp(lo)), float(np.exp(hi)))
        if not np.isfinite(odds) or not np.all(np.isfinite(or_ci)):
            warn.append(f"{label}: Mantel–Haenszel odds ratio undefined (zero cells)")
            odds, or_ci = NAN, (NAN, NAN)
        extra = (("odds_ratio", odds), ("odds_ratio_ci", or_ci))
        out.append(RawComparison(estimand, "difference", d, ci, float(test.pvalue),
                                 *_signed(z), extra=extra))
    return out, warn


def _design(arm: np.ndarray, strata: np.ndarray, baseline: np.ndarray | None,
            names: Sequence[str], control: int) -> tuple[np.ndarray, list[int]]:
    """Intercept, one dummy per active arm, baseline, one dummy per non-first stratum."""
    cols = [np.ones(arm.size)]
    active = _active(names, control)
    cols += [(arm == j).astype(float) for j in active]
    if baseline is not None:
        cols.append(np.asarray(baseline, dtype=float))
    levels = np.unique(strata)
    cols += [(strata == s).astype(float) for s in levels[1:]]
    return np.column_stack(cols), list(range(1, 1 + len(active)))


def logistic(data: EndpointData, arm: np.ndarray, strata: np.ndarray, names: Sequence[str],
             control: int, level: float) -> tuple[list[RawComparison], list[str]]:
    """Logistic regression on arm, baseline and strata: conditional odds ratios."""
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import PerfectSeparationError

    estimand = "odds ratio of response (arm / control), adjusted for " + (
        "baseline and " if data.baseline is not None else "") + "the randomisation strata"
    active = _active(names, control)
    warn: list[str] = []
    keep = ~np.isnan(data.value) & np.isin(arm, [control, *active])
    if data.baseline is not None:
        keep &= ~np.isnan(data.baseline)
    base = None if data.baseline is None else data.baseline[keep]
    y = data.value[keep]
    a = arm[keep]
    present = [j for j in active if np.any(a == j)]
    if not np.any(a == control) or len(present) < len(active):
        warn.append("an arm without patients: no logistic model")
        return [undefined(estimand, "ratio") for _ in active], warn
    x, idx = _design(a, strata[keep], base, names, control)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = sm.Logit(y, x).fit(disp=0, maxiter=100, method="newton")
        converged = bool(fit.mle_retvals.get("converged", False))
        cov_ok = np.all(np.isfinite(fit.bse[idx]))
    except (PerfectSeparationError, np.linalg.LinAlgError, ValueError):
        converged = cov_ok = False
    if not (converged and cov_ok) or np.any(np.abs(fit.params[idx]) > 15):
        warn.append("logistic model did not converge (separation or too few responders)")
        return [undefined(estimand, "ratio") for _ in active], warn
    ci = fit.conf_int(alpha=1 - level)
    out = []
    for i in idx:
        z = float(fit.tvalues[i])
        out.append(RawComparison(estimand, "ratio", float(np.exp(fit.params[i])),
                                 (float(np.exp(ci[i, 0])), float(np.exp(ci[i, 1]))),
                                 float(fit.pvalues[i]), *_signed(z)))
    return out, warn


def _active(names: Sequence[str], control: int) -> list[int]:
    return [j for j in range(len(names)) if j != control]
