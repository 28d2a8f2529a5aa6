"""Tests of trialsim.stats.binary: the vectorised intervals and 2x2 tests of power curves.

Known values come from published examples; scipy and statsmodels serve as independent
reference implementations (the vectorised path must give the libraries' answers).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.contingency_tables import StratifiedTable
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from trialsim.stats.binary import (
    chisq_pvalue,
    cmh_pvalue,
    cmh_test,
    compare_arms,
    compare_counts,
    fisher_pvalue,
    mh_risk_difference,
    newcombe_interval,
    wilson_interval,
)


def _patients(*arms: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Patient-level (responder, arm) arrays for arms given as (responders, n)."""
    resp, arm = [], []
    for j, (x, n) in enumerate(arms):
        resp += [True] * x + [False] * (n - x)
        arm += [j] * n
    return np.array(resp), np.array(arm)


@st.composite
def tables(draw: st.DrawFn, max_n: int = 60) -> tuple[int, int, int, int]:
    n1 = draw(st.integers(1, max_n))
    n0 = draw(st.integers(1, max_n))
    return draw(st.integers(0, n1)), n1, draw(st.integers(0, n0)), n0


# --------------------------------------------------------------------------- Wilson


@pytest.mark.parametrize(
    ("x", "n", "lo", "hi"),
    [(16, 29, 0.375, 0.716), (9, 30, 0.167, 0.479), (19, 29, 0.473, 0.801), (11, 30, 0.219, 0.545)],
)
def test_wilson_known_values(x: int, n: int, lo: float, hi: float) -> None:
    """Wilson 95 % limits rounded to 3 dp, as printed in trial reports (z = 1.95996)."""
    got_lo, got_hi = wilson_interval(x, n)
    assert round(float(got_lo), 3) == lo
    assert round(float(got_hi), 3) == hi


def test_wilson_edges_and_vectorisation() -> None:
    lo, hi = wilson_interval([0, 5, 0, 7], [10, 5, 0, 29])
    assert lo.shape == hi.shape == (4,)
    assert lo[0] == 0.0 and hi[1] == 1.0  # exact at the boundaries
    assert np.isnan(lo[2]) and np.isnan(hi[2])  # n = 0: no data, no interval (not (0, 1))
    # 0/10: upper limit z^2/(n+z^2) in closed form.
    z2 = stats.norm.ppf(0.975) ** 2
    assert hi[0] == pytest.approx(z2 / (10 + z2), abs=1e-12)
    # A wider level gives a wider interval.
    lo99, hi99 = wilson_interval(7, 29, level=0.99)
    assert lo99 < lo[3] and hi99 > hi[3]


def test_wilson_rejects_bad_counts() -> None:
    with pytest.raises(ValueError):
        wilson_interval(11, 10)
    with pytest.raises(ValueError):
        wilson_interval(-1, 10)
    with pytest.raises(ValueError):
        wilson_interval(1.5, 10)
    with pytest.raises(ValueError):
        wilson_interval(1, 10, level=1.0)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(0, 500), data=st.data(), level=st.floats(0.5, 0.999))
def test_wilson_contains_estimate(n: int, data: st.DataObject, level: float) -> None:
    x = data.draw(st.integers(0, n))
    lo, hi = wilson_interval(x, n, level)
    if n == 0:
        assert np.isnan(lo) and np.isnan(hi)
        return
    assert 0.0 <= lo <= x / n <= hi <= 1.0
    ref = proportion_confint(x, n, alpha=1 - level, method="wilson")
    assert (float(lo), float(hi)) == pytest.approx(ref, abs=1e-12)


# --------------------------------------------------------------------------- Newcombe


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ((56, 70, 48, 80), (0.0524, 0.3339)),  # example (a), as quoted in the brief
        ((9, 10, 3, 10), (0.1705, 0.8090)),  # (b)
        ((5, 56, 0, 29), (-0.0381, 0.1926)),  # (d)
        ((10, 10, 0, 20), (0.6791, 1.0000)),  # (g)
        ((10, 10, 0, 10), (0.6075, 1.0000)),  # (h)
    ],
)
def test_newcombe_table_ii(table: tuple[int, int, int, int], expected: tuple[float, float]) -> None:
    """Newcombe (1998) Stat Med 17:873, Table II, method 10 (hybrid score interval)."""
    lo, hi = newcombe_interval(*table)
    assert float(lo) == pytest.approx(expected[0], abs=1e-3)
    assert float(hi) == pytest.approx(expected[1], abs=1e-3)


@settings(max_examples=200, deadline=None)
@given(t=tables(max_n=200))
def test_newcombe_contains_difference(t: tuple[int, int, int, int]) -> None:
    x1, n1, x0, n0 = t
    lo, hi = newcombe_interval(x1, n1, x0, n0)
    assert -1.0 <= lo <= x1 / n1 - x0 / n0 <= hi <= 1.0
    ref = confint_proportions_2indep(x1, n1, x0, n0, method="newcomb", compare="diff")
    assert (float(lo), float(hi)) == pytest.approx(tuple(map(float, ref)), abs=1e-9)


# --------------------------------------------------------------------------- chi-square


def test_he_2020_chisq_and_fisher() -> None:
    """He et al. (2020) Ann Rheum Dis 79:141: SRI-4 at week 24, 19/29 IL-2 vs 11/30 placebo.

    Pearson chi-square without continuity correction gives p = 0.0267 and Fisher's exact
    test p = 0.038 (two-sided).
    """
    assert float(chisq_pvalue(19, 29, 11, 30)) == pytest.approx(0.0267, abs=4e-4)
    assert float(fisher_pvalue(19, 29, 11, 30)) == pytest.approx(0.038, abs=2e-3)


@settings(max_examples=300, deadline=None)
@given(t=tables())
def test_chisq_matches_scipy(t: tuple[int, int, int, int]) -> None:
    x1, n1, x0, n0 = t
    p2 = float(chisq_pvalue(x1, n1, x0, n0))
    p1 = float(chisq_pvalue(x1, n1, x0, n0, sided=1))
    if x1 + x0 in (0, n1 + n0):
        assert np.isnan(p2) and np.isnan(p1)  # degenerate: scipy refuses such tables
        return
    table = [[x1, n1 - x1], [x0, n0 - x0]]
    expected = stats.chi2_contingency(table, correction=False).pvalue
    assert p2 == pytest.approx(expected, rel=1e-9, abs=1e-14)
    yates = stats.chi2_contingency(table, correction=True).pvalue
    assert float(chisq_pvalue(x1, n1, x0, n0, correction=True)) == pytest.approx(
        yates, rel=1e-9, abs=1e-14)
    # The two-sided p is twice the smaller one-sided p.
    assert p2 == pytest.approx(2 * min(p1, 1 - p1), rel=1e-9, abs=1e-14)
    assert (p1 < 0.5) == (x1 / n1 > x0 / n0)


def test_chisq_vectorised_and_degenerate() -> None:
    x1 = np.array([[19, 0], [29, 5]])
    x0 = np.array([[11, 0], [30, 5]])
    p = chisq_pvalue(x1, 29, x0, 30)
    assert p.shape == (2, 2)
    assert p[0, 0] == pytest.approx(float(chisq_pvalue(19, 29, 11, 30)), rel=1e-12)
    assert np.isnan(p[0, 1]) and np.isnan(p[1, 0])  # nobody / everybody responded
    assert np.isnan(chisq_pvalue(0, 0, 3, 10))  # empty arm
    with pytest.raises(ValueError):
        chisq_pvalue(1, 10, 2, 10, sided=3)


# --------------------------------------------------------------------------- Fisher


@settings(max_examples=150, deadline=None)
@given(t=tables(max_n=40))
def test_fisher_matches_scipy(t: tuple[int, int, int, int]) -> None:
    x1, n1, x0, n0 = t
    table = [[x1, n1 - x1], [x0, n0 - x0]]
    for sided, alternative in ((2, "two-sided"), (1, "greater")):
        expected = stats.fisher_exact(table, alternative=alternative).pvalue
        got = float(fisher_pvalue(x1, n1, x0, n0, sided=sided))
        assert got == pytest.approx(expected, rel=1e-12, abs=1e-15)
        assert 0.0 <= got <= 1.0


def test_fisher_vectorised_with_repeats() -> None:
    x1 = np.array([19, 3, 19, 0, 3])
    x0 = np.array([11, 9, 11, 0, 9])
    got = fisher_pvalue(x1, 29, x0, 30, sided=1)
    expected = [
        stats.fisher_exact([[a, 29 - a], [b, 30 - b]], alternative="greater").pvalue
        for a, b in zip(x1, x0, strict=True)
    ]
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert got[0] == got[2]


# --------------------------------------------------------------------------- CMH


def _statsmodels_cmh(x1: np.ndarray, n1: np.ndarray, x0: np.ndarray, n0: np.ndarray) -> float:
    table = np.array([[x1, n1 - x1], [x0, n0 - x0]], dtype=float)  # shape (2, 2, K)
    return float(StratifiedTable(table).test_null_odds(correction=False).pvalue)


@pytest.mark.parametrize(
    "strata",
    [
        # (x1, n1, x0, n0) per stratum
        [(12, 20, 7, 21), (8, 15, 6, 14)],
        [(3, 10, 1, 9), (9, 12, 4, 11), (15, 30, 10, 28)],
        [(5, 8, 5, 7), (2, 9, 6, 10), (10, 15, 4, 16), (1, 3, 0, 2)],
    ],
)
def test_cmh_matches_statsmodels(strata: list[tuple[int, int, int, int]]) -> None:
    x1, n1, x0, n0 = (np.array(c) for c in zip(*strata, strict=True))
    assert cmh_pvalue(x1, n1, x0, n0) == pytest.approx(_statsmodels_cmh(x1, n1, x0, n0), rel=1e-9)


@settings(max_examples=100, deadline=None)
@given(st.lists(tables(max_n=25), min_size=1, max_size=5))
def test_cmh_matches_statsmodels_random(strata: list[tuple[int, int, int, int]]) -> None:
    x1, n1, x0, n0 = (np.array(c) for c in zip(*strata, strict=True))
    p = cmh_pvalue(x1, n1, x0, n0)
    m = x1 + x0
    if np.all((m == 0) | (m == n1 + n0)):
        assert np.isnan(p)  # no stratum has any variance
        return
    assert 0.0 <= p <= 1.0
    expected = _statsmodels_cmh(x1, n1, x0, n0)
    assert p == pytest.approx(expected, rel=1e-7, abs=1e-12)
    p_one = cmh_pvalue(x1, n1, x0, n0, sided=1)
    assert p == pytest.approx(2 * min(p_one, 1 - p_one), rel=1e-7, abs=1e-12)


def test_cmh_single_stratum_is_scaled_pearson() -> None:
    """With one stratum the CMH statistic is Pearson's X^2 times (N-1)/N."""
    x1, n1, x0, n0 = 19, 29, 11, 30
    x2 = stats.chi2_contingency([[x1, n1 - x1], [x0, n0 - x0]], correction=False).statistic
    big_n = n1 + n0
    expected = stats.chi2.sf(x2 * (big_n - 1) / big_n, 1)
    assert cmh_pvalue([x1], [n1], [x0], [n0]) == pytest.approx(expected, rel=1e-12)
    # One-sided for "arm better": the arm is better here, and worse with the arms swapped.
    assert cmh_pvalue([x1], [n1], [x0], [n0], sided=1) == pytest.approx(expected / 2, rel=1e-9)
    assert cmh_pvalue([x0], [n0], [x1], [n1], sided=1) == pytest.approx(1 - expected / 2)


def test_cmh_skips_tiny_strata_and_zero_variance() -> None:
    base = cmh_pvalue([12, 8], [20, 15], [7, 6], [21, 14])
    # A one-patient stratum carries no information and must not change the answer.
    assert cmh_pvalue([12, 8, 1], [20, 15, 1], [7, 6, 0], [21, 14, 0]) == pytest.approx(base)
    assert np.isnan(cmh_pvalue([0, 3], [5, 3], [0, 4], [6, 4]))
    assert np.isnan(cmh_pvalue([1], [1], [0], [0]))


# --------------------------------------------------------------------------- MH risk difference

AGRESTI = [  # Agresti (2013) Categorical Data Analysis 3rd ed., p. 226: 8-centre trial,
    # (drug success, drug failure, control success, control failure) per centre
    (11, 25, 10, 27), (16, 4, 22, 10), (14, 5, 7, 12), (2, 14, 1, 16), (6, 11, 0, 12),
    (1, 10, 0, 10), (1, 4, 1, 8), (4, 2, 6, 1)]


def _agresti() -> tuple[np.ndarray, ...]:
    t = np.array(AGRESTI, dtype=float)
    return t[:, 0], t[:, 0] + t[:, 1], t[:, 2], t[:, 2] + t[:, 3]


def test_mh_risk_difference_agresti() -> None:
    """Agresti (2013, p. 231): Mantel–Haenszel common risk difference 0.130, SE 0.050 (Sato
    variance); the 95% Wald interval (0.0313, 0.2284) as printed by the GSK ``cicalc`` R
    package (``ci_risk_diff_mh_strata``) for the same data."""
    d, var = mh_risk_difference(*_agresti())
    assert round(float(d), 3) == 0.130
    assert round(float(np.sqrt(var)), 3) == 0.050
    z = stats.norm.ppf(0.975)
    assert float(d - z * np.sqrt(var)) == pytest.approx(0.0313, abs=5e-5)
    assert float(d + z * np.sqrt(var)) == pytest.approx(0.2284, abs=5e-5)


def test_cmh_agresti() -> None:
    """Agresti (2013, section 6.3): CMH = 6.38 (P = 0.012) for the eight-centre trial."""
    x1, n1, x0, n0 = _agresti()
    z = float(cmh_test(x1, n1, x0, n0))
    assert z * z == pytest.approx(6.38, abs=5e-3)
    assert cmh_pvalue(x1, n1, x0, n0) == pytest.approx(0.0115, abs=1e-4)


@settings(max_examples=100, deadline=None)
@given(t=tables(max_n=80))
def test_mh_risk_difference_one_stratum_is_wald(t: tuple[int, int, int, int]) -> None:
    """With one stratum the MH estimate is the crude difference and Sato's variance the
    Wald variance p1(1-p1)/n1 + p0(1-p0)/n0."""
    x1, n1, x0, n0 = t
    d, var = mh_risk_difference([x1], [n1], [x0], [n0])
    p1, p0 = x1 / n1, x0 / n0
    assert float(d) == pytest.approx(p1 - p0, abs=1e-12)
    assert float(var) == pytest.approx(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0, abs=1e-12)


# --------------------------------------------------------------------------- many trials


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(tables(max_n=20), min_size=3, max_size=3), min_size=1, max_size=3),
       st.sampled_from(["chisq", "chisq-yates", "fisher", "cmh"]))
def test_compare_counts_matches_libraries(trials: list, test: str) -> None:
    """The vectorised path, trial by trial, against scipy / statsmodels on the same tables
    (three strata, two arms; arm 1 versus control 0)."""
    arr = np.array(trials, dtype=float)                 # (R, strata, 4): x1, n1, x0, n0
    x = np.stack([arr[..., 2], arr[..., 0]], axis=-1)   # (R, strata, arms): control first
    n = np.stack([arr[..., 3], arr[..., 1]], axis=-1)
    got = compare_counts(x, n, 0, test=test)
    for r in range(arr.shape[0]):
        x1, n1, x0, n0 = arr[r].sum(axis=0)
        table = [[x1, n1 - x1], [x0, n0 - x0]]
        if test == "cmh":
            s = arr[r]
            keep = (s[:, 1] + s[:, 3]) >= 2
            s = s[keep]
            m = s[:, 0] + s[:, 2]
            if s.size == 0 or np.all((m == 0) | (m == s[:, 1] + s[:, 3])):
                assert np.isnan(got.p_two[r, 0])
                continue
            st_tab = np.array([[s[:, 0], s[:, 1] - s[:, 0]], [s[:, 2], s[:, 3] - s[:, 2]]])
            ref = StratifiedTable(st_tab).test_null_odds(correction=False).pvalue
            assert got.p_two[r, 0] == pytest.approx(ref, rel=1e-7, abs=1e-12)
            assert got.estimate[r, 0] == pytest.approx(
                float(mh_risk_difference(*arr[r].T)[0]), abs=1e-12)
        elif test == "fisher":
            ref = stats.fisher_exact(table).pvalue
            assert got.p_two[r, 0] == pytest.approx(ref, rel=1e-9, abs=1e-14)
            less = stats.fisher_exact(table, alternative="less").pvalue
            assert got.p_less[r, 0] == pytest.approx(less, rel=1e-9, abs=1e-14)
        elif x1 + x0 in (0, n1 + n0):
            assert np.isnan(got.p_two[r, 0])
        else:
            ref = stats.chi2_contingency(table, correction=test == "chisq-yates").pvalue
            assert got.p_two[r, 0] == pytest.approx(ref, rel=1e-9, abs=1e-14)
        if test != "cmh":
            assert got.estimate[r, 0] == pytest.approx(x1 / n1 - x0 / n0, abs=1e-12)


def test_compare_arms_one_sided_needs_a_better_arm() -> None:
    # The arm is slightly worse: with alpha this lax a one-sided p for "arm better" (~0.6)
    # passes p < alpha, but a worse arm is never declared superior.
    x = np.array([[[10, 9]]])
    n = np.array([[[30, 30]]])
    p, sig = compare_arms(x, n, 0, sided=1, alpha=0.9)
    assert p[0, 0] < 0.9 and not sig[0, 0]
    _, sig2 = compare_arms(x, n, 0, sided=2, alpha=0.9)
    assert sig2[0, 0]
