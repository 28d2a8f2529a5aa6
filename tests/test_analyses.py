"""The analysis registry: every method against an independent reference on fixed data, one
contract suite over all methods, degenerate input, and the CI level.

References are published worked examples (source in each docstring) or a second,
independent computation (a closed form, another statsmodels estimator, our vectorised
path); exact quantities agree to 1e-6.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats

from trialsim.stats.analysis import METHODS, analyse_trial, ci_level, methods_for
from trialsim.stats.binary import chisq_pvalue, fisher_pvalue, newcombe_interval
from trialsim.stats.endpoint_data import EndpointData
from trialsim.stats.survival import logrank_components

NAMES = ["placebo", "il2"]


def _binary(*arms: tuple[int, int], baseline: bool = False) -> tuple[EndpointData, np.ndarray]:
    """Patient-level responders for arms given as (responders, n)."""
    y, arm = [], []
    for j, (x, n) in enumerate(arms):
        y += [1.0] * x + [0.0] * (n - x)
        arm += [j] * n
    y_a, arm_a = np.array(y), np.array(arm)
    base = np.random.default_rng(0).normal(10, 3, y_a.size) if baseline else None
    return EndpointData("sri4", "binary", y_a, baseline=base), arm_a


def _run(data: EndpointData | list, arm: np.ndarray, strata: np.ndarray | None = None,
         names: list[str] | None = None, **kw):
    strata = np.zeros(arm.size, dtype=int) if strata is None else strata
    endpoints = data if isinstance(data, list) else [data]
    return analyse_trial(endpoints, arm, strata, names or NAMES, 0, **kw)


# --------------------------------------------------------------------------- binary


def test_he_2020_chisq_fisher_wilson_newcombe() -> None:
    """He et al. (2020) Ann Rheum Dis 79:141: SRI-4 at week 24, 19/29 IL-2 vs 11/30
    placebo; chi-square without correction p = 0.0267, Fisher's exact p = 0.038; the
    vectorised path (an independent implementation) agrees to 1e-9."""
    data, arm = _binary((11, 30), (19, 29))
    res = _run(data, arm, methods={"binary": "chisq"})
    placebo, il2 = res.arms
    assert (placebo.n, placebo.count, il2.n, il2.count) == (30, 11, 29, 19)
    assert il2.ci == pytest.approx((0.4735, 0.8006), abs=1e-4)
    (c,) = res.comparisons
    assert c.estimate == pytest.approx(19 / 29 - 11 / 30, abs=1e-12)
    assert c.p_value == pytest.approx(0.0267, abs=4e-4)
    assert c.p_value == pytest.approx(float(chisq_pvalue(19, 29, 11, 30)), rel=1e-9)
    assert c.ci == pytest.approx(tuple(float(v) for v in newcombe_interval(19, 29, 11, 30)),
                                 abs=1e-9)
    assert c.significant and c.p_adjusted == c.p_value   # one comparison: no adjustment
    f = _run(data, arm, methods={"binary": "fisher"}).comparisons[0]
    assert f.p_value == pytest.approx(0.038, abs=2e-3)
    assert f.p_value == pytest.approx(float(fisher_pvalue(19, 29, 11, 30)), rel=1e-9)
    y = _run(data, arm, methods={"binary": "chisq-yates"}).comparisons[0]
    table = [[19, 10], [11, 19]]
    assert y.p_value == pytest.approx(stats.chi2_contingency(table, correction=True).pvalue,
                                      rel=1e-9)
    assert y.p_value > c.p_value                          # Yates is conservative


AGRESTI = [  # (drug success, drug failure, control success, control failure) per centre
    (11, 25, 10, 27), (16, 4, 22, 10), (14, 5, 7, 12), (2, 14, 1, 16), (6, 11, 0, 12),
    (1, 10, 0, 10), (1, 4, 1, 8), (4, 2, 6, 1)]


def test_cmh_agresti_mh_difference_and_odds_ratio() -> None:
    """Agresti (2013) Categorical Data Analysis 3rd ed., pp. 226–231, eight-centre trial:
    CMH = 6.38 (P = 0.012), Mantel–Haenszel odds ratio 2.13, MH risk difference 0.130
    (SE 0.050, 95% CI 0.0313–0.2284 as printed by the cicalc R package)."""
    y, arm, strata = [], [], []
    for k, (a, b, c, d) in enumerate(AGRESTI):
        y += [1.0] * c + [0.0] * d + [1.0] * a + [0.0] * b
        arm += [0] * (c + d) + [1] * (a + b)
        strata += [k] * (a + b + c + d)
    data = EndpointData("response", "binary", np.array(y))
    res = _run(data, np.array(arm), np.array(strata), methods={"binary": "cmh"})
    (c,) = res.comparisons
    assert stats.chi2.isf(c.p_value, 1) == pytest.approx(6.38, abs=5e-3)
    assert c.estimate == pytest.approx(0.130, abs=5e-4)
    assert c.ci == pytest.approx((0.0313, 0.2284), abs=5e-5)
    extra = dict(c.extra)
    assert extra["odds_ratio"] == pytest.approx(2.13, abs=5e-3)
    lo, hi = extra["odds_ratio_ci"]
    assert lo < 2.13 < hi
    assert "Mantel–Haenszel" in c.estimand
    d = c.to_dict()
    assert d["test"] == "cmh" and d["odds_ratio"] == pytest.approx(2.1345, abs=1e-4)


def test_logistic_matches_glm() -> None:
    """Logistic regression on arm, baseline and strata (statsmodels Logit, Newton) against
    the same model fitted as a binomial GLM by IRLS: an independent fitting path."""
    rng = np.random.default_rng(5)
    n = 150
    arm = np.repeat([0, 1, 2], n // 3)
    strata = rng.integers(0, 2, n)
    base = rng.normal(11, 3, n)
    eta = -1.5 + 0.4 * arm + 0.1 * (base - 11) + 0.3 * strata
    y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)
    data = EndpointData("sri4", "binary", y, baseline=base)
    res = _run(data, arm, strata, ["placebo", "low", "high"], methods={"binary": "logistic"},
               multiplicity="none")
    x = np.column_stack([np.ones(n), arm == 1, arm == 2, base, strata == 1]).astype(float)
    glm = sm.GLM(y, x, family=sm.families.Binomial()).fit(tol=1e-12)
    ci = glm.conf_int()
    for i, c in enumerate(res.comparisons, start=1):
        assert np.log(c.estimate) == pytest.approx(glm.params[i], abs=1e-6)
        assert c.p_value == pytest.approx(glm.pvalues[i], abs=1e-6)
        assert np.log(c.ci) == pytest.approx((ci[i, 0], ci[i, 1]), abs=1e-6)
        assert c.scale == "ratio" and "odds ratio" in c.estimand


# --------------------------------------------------------------------------- continuous


def _continuous(rng: np.random.Generator, n: int = 90, effect: float = -1.0,
                visits: int = 3) -> tuple[EndpointData, np.ndarray, np.ndarray]:
    arm = np.repeat([0, 1], n // 2)
    strata = rng.integers(0, 2, n)
    base = rng.normal(11, 3, n)
    u = rng.normal(0, 2, n)
    rep = (-2 + effect * arm[:, None] * np.linspace(0.3, 1, visits) - 0.3 * (base[:, None] - 11)
           + 0.5 * strata[:, None] + u[:, None] + rng.normal(0, 2, (n, visits)))
    data = EndpointData("sledai_change", "continuous", rep[:, -1], baseline=base,
                        repeated=rep, weeks=np.array([8.0, 16.0, 24.0][:visits]),
                        higher_is_better=False)
    return data, arm, strata


def test_ancova_matches_closed_form() -> None:
    """ANCOVA estimate, t interval and t test against the normal equations solved by numpy
    (and, without covariates, the pooled two-sample t-test of scipy)."""
    rng = np.random.default_rng(11)
    data, arm, strata = _continuous(rng)
    (c,) = _run(data, arm, strata, methods={"continuous": "ancova"}).comparisons
    x = np.column_stack([np.ones(arm.size), arm, data.baseline, strata]).astype(float)
    beta, *_ = np.linalg.lstsq(x, data.value, rcond=None)
    resid = data.value - x @ beta
    df = arm.size - x.shape[1]
    s2 = resid @ resid / df
    se = np.sqrt(s2 * np.linalg.inv(x.T @ x)[1, 1])
    t = beta[1] / se
    assert c.estimate == pytest.approx(beta[1], abs=1e-9)
    assert c.p_value == pytest.approx(2 * stats.t.sf(abs(t), df), abs=1e-9)
    q = stats.t.ppf(0.975, df)
    assert c.ci == pytest.approx((beta[1] - q * se, beta[1] + q * se), abs=1e-9)
    plain = EndpointData("x", "continuous", data.value)
    (c0,) = _run(plain, arm, methods={"continuous": "ancova"}).comparisons
    tt = stats.ttest_ind(data.value[arm == 1], data.value[arm == 0])
    assert c0.p_value == pytest.approx(tt.pvalue, rel=1e-9)


def test_gee_complete_balanced_data_equals_ols() -> None:
    """With complete, balanced visits and an exchangeable working correlation, GLS equals
    OLS for this mean model (every column is visit-level or patient-level: Zyskind's
    condition), so the GEE effect at the last visit is the OLS coefficient of the long
    data; the bias-reduced sandwich SE exceeds the plain sandwich one."""
    rng = np.random.default_rng(3)
    data, arm, strata = _continuous(rng, n=80)
    (c,) = _run(data, arm, strata, methods={"continuous": "gee"}).comparisons
    n, v = data.repeated.shape
    vis = np.tile(np.arange(v), n)
    a = np.repeat(arm, v)
    x = np.column_stack([*(vis == k for k in range(v)), *((a == 1) & (vis == k)
                                                         for k in range(v)),
                         np.repeat(data.baseline, v), np.repeat(strata, v) == 1]).astype(float)
    beta, *_ = np.linalg.lstsq(x, data.repeated.ravel(), rcond=None)
    assert c.estimate == pytest.approx(beta[2 * v - 1], abs=1e-6)
    robust = sm.GEE(data.repeated.ravel(), x, groups=np.repeat(np.arange(n), v),
                    cov_struct=sm.cov_struct.Exchangeable()).fit()
    se_robust = robust.bse[2 * v - 1]
    z = stats.norm.ppf(0.975)
    se_bc = (c.ci[1] - c.ci[0]) / (2 * z)
    assert se_bc > se_robust
    assert "GEE" in c.estimand


def test_gee_uses_incomplete_patients() -> None:
    rng = np.random.default_rng(4)
    data, arm, strata = _continuous(rng, n=80)
    rep = data.repeated.copy()
    rep[rng.random(rep.shape) < 0.2] = np.nan
    gappy = EndpointData(data.name, "continuous", rep[:, -1], baseline=data.baseline,
                         repeated=rep, higher_is_better=False)
    res = _run(gappy, arm, strata, methods={"continuous": "gee"})
    assert np.isfinite(res.comparisons[0].p_value)
    assert res.arms[0].analysed == int((~np.isnan(rep[:, -1]) & (arm == 0)).sum())


# --------------------------------------------------------------------------- time to event

GEHAN = (  # Freireich et al. (1963) Blood 21:699 (Gehan 1965): weeks in remission, 0 = censored
    [(6, 1), (6, 1), (6, 1), (6, 0), (7, 1), (9, 0), (10, 1), (10, 0), (11, 0), (13, 1),
     (16, 1), (17, 0), (19, 0), (20, 0), (22, 1), (23, 1), (25, 0), (32, 0), (32, 0), (34, 0),
     (35, 0)],                                                    # 6-mercaptopurine
    [(t, 1) for t in (1, 1, 2, 2, 3, 4, 4, 5, 5, 8, 8, 8, 8, 11, 11, 12, 12, 15, 17, 22, 23)],
)


def _gehan() -> tuple[EndpointData, np.ndarray]:
    rows = GEHAN[1] + GEHAN[0]                      # placebo = control first
    t = np.array([r[0] for r in rows], dtype=float)
    e = np.array([r[1] for r in rows], dtype=bool)
    arm = np.array([0] * 21 + [1] * 21)
    return EndpointData("remission", "time-to-event", t, event=e), arm


def test_logrank_gehan() -> None:
    """Kleinbaum & Klein (2012) Survival Analysis 3rd ed., ch. 2: log-rank chi-square 16.79
    for the remission data (R ``survdiff``: 16.8, p = 4e-5); our O − E and V reproduce
    statsmodels' statistic to 1e-9; 6-MP has fewer relapses (HR < 1)."""
    data, arm = _gehan()
    (c,) = _run(data, arm, methods={"time-to-event": "logrank"}).comparisons
    assert stats.chi2.isf(c.p_value, 1) == pytest.approx(16.79, abs=5e-3)
    o, e, v = logrank_components(data.value, data.event, arm)
    assert (o - e) ** 2 / v == pytest.approx(16.792940989, abs=1e-6)
    assert o == 9 and e == pytest.approx(19.25, abs=0.01)
    assert c.estimate == pytest.approx(np.exp((o - e) / v), rel=1e-12) and c.estimate < 1
    assert c.benefit > 0 and c.z > 0          # longer remission is better: favours 6-MP


def test_cox_gehan() -> None:
    """Kleinbaum & Klein (2012) ch. 3: Cox model with Breslow ties, coefficient 1.509 for
    placebo versus 6-MP (HR 4.523), so 6-MP versus placebo has HR 1/4.523 = 0.221."""
    data, arm = _gehan()
    (c,) = _run(data, arm, methods={"time-to-event": "cox"}).comparisons
    assert c.estimate == pytest.approx(1 / 4.523, abs=5e-4)
    z = np.log(c.estimate) / 0.40956
    assert c.p_value == pytest.approx(2 * stats.norm.sf(abs(z)), rel=1e-3)


def test_stratified_logrank_matches_survdiff() -> None:
    from statsmodels.duration.survfunc import survdiff

    rng = np.random.default_rng(8)
    n = 120
    arm = np.repeat([0, 1], n // 2)
    strata = rng.integers(0, 3, n)
    t = np.ceil(rng.exponential(100 * (1 + 0.5 * arm) * (1 + strata)))   # ties in days
    e = t < 150
    t = np.minimum(t, 150)
    o, ex, v = logrank_components(t, e, arm, strata)
    chi2, _ = survdiff(t, e.astype(float), arm, strata=strata)
    assert (o - ex) ** 2 / v == pytest.approx(chi2, rel=1e-9)


# --------------------------------------------------------------------------- contract suite


def _data_for(kind: str, rng: np.random.Generator, n: int) -> EndpointData:
    base = rng.normal(11, 3, n)
    if kind == "binary":
        return EndpointData("b", kind, (rng.random(n) < 0.45).astype(float), baseline=base)
    if kind == "continuous":
        rep = rng.normal(-2, 3, (n, 3))
        return EndpointData("c", kind, rep[:, -1], baseline=base, repeated=rep,
                            higher_is_better=False)
    t = rng.exponential(200, n)
    return EndpointData("t", kind, np.minimum(t, 168), event=t < 168)


@pytest.mark.parametrize("method", sorted(METHODS))
@pytest.mark.parametrize("sided", [1, 2])
def test_every_method_contract(method: str, sided: int) -> None:
    """One suite over every registered method: shapes, JSON, intervals around estimates,
    p-values in [0, 1], adjusted >= raw, CI level from alpha and sidedness."""
    kind = METHODS[method].kind
    rng = np.random.default_rng(hash(method) % 2**32)
    n = 90
    arm = np.repeat([0, 1, 2], n // 3)
    strata = rng.integers(0, 2, n)
    data = _data_for(kind, rng, n)
    res = analyse_trial([data], arm, strata, ["placebo", "low", "high"], 0,
                        methods={kind: method}, sided=sided, alpha=0.05)
    assert res.ci_level == (0.95 if sided == 2 else 0.9)
    assert [a.name for a in res.arms] == ["placebo", "low", "high"]
    assert [(c.arm, c.control) for c in res.comparisons] == [("low", "placebo"),
                                                             ("high", "placebo")]
    for c in res.comparisons:
        assert c.method == method and c.ci_level == res.ci_level
        assert 0.0 <= c.p_value <= 1.0 and c.p_value <= c.p_adjusted <= 1.0
        assert c.ci[0] <= c.estimate <= c.ci[1]
        assert isinstance(c.significant, bool)
    for a in res.arms:
        assert a.ci[0] <= a.estimate <= a.ci[1]
    doc = json.loads(json.dumps(res.to_dict(), allow_nan=False))
    assert set(doc["comparisons"][0]) >= {"arm", "control", "estimand", "estimate", "ci",
                                          "ci_level", "p_value", "p_adjusted",
                                          "significant", "test"}


@pytest.mark.parametrize(("alpha", "sided", "level"),
                         [(0.05, 2, 0.95), (0.025, 1, 0.95), (0.05, 1, 0.9), (0.1, 2, 0.9)])
def test_ci_level_follows_alpha_and_sidedness(alpha: float, sided: int, level: float) -> None:
    assert ci_level(alpha, sided) == pytest.approx(level)
    data, arm = _binary((11, 30), (19, 29))
    res = _run(data, arm, alpha=alpha, sided=sided, methods={"binary": "chisq"})
    lo, hi = newcombe_interval(19, 29, 11, 30, level)
    assert res.comparisons[0].ci == pytest.approx((float(lo), float(hi)), abs=1e-9)
    assert res.arms[0].ci_level == pytest.approx(level)


def test_one_sided_respects_direction() -> None:
    """Lower is better for a SLEDAI-2K change: a fall in the arm gives a small one-sided p
    and a decision; the same data read as "higher is better" give neither."""
    rng = np.random.default_rng(2)
    data, arm, strata = _continuous(rng, effect=-3.0)
    res = _run(data, arm, strata, sided=1, methods={"continuous": "ancova"})
    c = res.comparisons[0]
    assert c.estimate < 0 and c.benefit > 0 and c.p_value < 0.01 and c.significant
    flipped = EndpointData(data.name, "continuous", data.value, baseline=data.baseline)
    c2 = _run(flipped, arm, strata, sided=1, methods={"continuous": "ancova"}).comparisons[0]
    assert c2.p_value > 0.99 and not c2.significant
    assert c2.p_value == pytest.approx(1 - c.p_value, abs=1e-12)


# --------------------------------------------------------------------------- degenerate input


@pytest.mark.parametrize("method", sorted(METHODS))
def test_empty_arm_gives_nan_and_a_warning(method: str) -> None:
    """An arm without patients: NaN estimate, interval and p-value, no decision, a warning
    — never a rate of 0 with interval (0, 1)."""
    kind = METHODS[method].kind
    rng = np.random.default_rng(1)
    n = 60
    arm = np.repeat([0, 2], n // 2)              # arm 1 ("low") has nobody
    data = _data_for(kind, rng, n)
    res = analyse_trial([data], arm, rng.integers(0, 2, n), ["placebo", "low", "high"], 0,
                        methods={kind: method})
    low = res.arms[1]
    assert low.n == 0 and np.isnan(low.estimate) and np.all(np.isnan(low.ci))
    c = res.comparisons[0]
    assert np.isnan(c.estimate) and np.isnan(c.p_value) and c.significant is False
    assert any("low" in w or "without patients" in w for w in res.warnings)
    doc = json.loads(json.dumps(res.to_dict(), allow_nan=False))
    assert doc["arms"][1]["estimate"] is None and doc["comparisons"][0]["p_value"] is None
    assert doc["warnings"]


@pytest.mark.parametrize("method", ["chisq", "chisq-yates", "cmh"])
def test_degenerate_table_gives_nan_p(method: str) -> None:
    """Nobody responded: the rates (0) and their difference (0) are real estimates, but the
    chi-square / CMH statistic is 0/0: NaN with a warning."""
    data, arm = _binary((0, 20), (0, 20))
    res = _run(data, arm, methods={"binary": method})
    c = res.comparisons[0]
    assert res.arms[0].estimate == 0.0 and c.estimate == 0.0
    assert np.isnan(c.p_value) and c.significant is False
    assert any("undefined" in w for w in res.warnings)


def test_bad_arguments_are_clear_errors() -> None:
    data, arm = _binary((3, 10), (5, 10))
    with pytest.raises(ValueError, match="analyses continuous"):
        _run(data, arm, methods={"binary": "ancova"})
    with pytest.raises(ValueError, match="multiplicity must be one of"):
        _run(data, arm, multiplicity="sidak")
    with pytest.raises(ValueError, match="sided"):
        _run(data, arm, sided=3)
    with pytest.raises(ValueError, match="not a secondary endpoint"):
        _run(data, arm, sequence=["renal"])
    bad = EndpointData("sri4", "binary", np.full(20, 2.0))
    with pytest.raises(ValueError, match="0, 1 or NaN"):
        _run(bad, arm)
    assert set(methods_for("time-to-event")) == {"logrank", "cox"}


def test_ancova_pools_multiple_imputations_by_rubins_rules() -> None:
    """Identical imputations reproduce the single ANCOVA (no between-imputation variance);
    differing ones give the mean estimate and Rubin's total variance W + (1 + 1/m)·B with
    (m − 1)(1 + W/((1 + 1/m)B))² degrees of freedom (Rubin 1987, ch. 3), computed here from
    the per-imputation fits."""
    from dataclasses import replace

    rng = np.random.default_rng(5)
    data, arm, strata = _continuous(rng)
    methods = {"continuous": "ancova"}
    (single,) = _run(data, arm, strata, methods=methods).comparisons
    same = replace(data, imputations=np.repeat(data.value[None, :], 5, axis=0))
    (pooled,) = _run(same, arm, strata, methods=methods).comparisons
    assert pooled.estimate == pytest.approx(single.estimate, abs=1e-12)
    assert pooled.ci == pytest.approx(single.ci, abs=1e-9)
    assert pooled.p_value == pytest.approx(single.p_value, abs=1e-9)

    m = 8
    imps = data.value[None, :] + rng.normal(0, 1.5, (m, data.value.size))
    fits = [_run(replace(data, value=v), arm, strata, methods=methods).comparisons[0]
            for v in imps]
    q = np.array([f.estimate for f in fits])
    df_c = arm.size - 4
    se = np.array([(f.ci[1] - f.ci[0]) / 2 / stats.t.ppf(0.975, df_c) for f in fits])
    w, b = np.mean(se**2), np.var(q, ddof=1)
    total = w + (1 + 1 / m) * b
    df = min((m - 1) * (1 + w / ((1 + 1 / m) * b)) ** 2, df_c)
    (mi,) = _run(replace(data, imputations=imps), arm, strata, methods=methods).comparisons
    assert mi.estimate == pytest.approx(q.mean(), abs=1e-12)
    half = stats.t.ppf(0.975, df) * np.sqrt(total)
    assert mi.ci == pytest.approx((q.mean() - half, q.mean() + half), abs=1e-9)
    assert mi.p_value == pytest.approx(2 * stats.t.sf(abs(q.mean()) / np.sqrt(total), df),
                                       abs=1e-9)
