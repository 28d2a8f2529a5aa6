"""Tests of trialsim.stats.binary: intervals, 2x2 tests and the one-trial analysis.

Known values come from published examples; scipy and statsmodels serve as independent
reference implementations for the tests.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.contingency_tables import StratifiedTable

from trialsim.stats.binary import (
    BinaryAnalysis,
    analyse_binary,
    chisq_pvalue,
    cmh_pvalue,
    fisher_pvalue,
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
    assert (lo[2], hi[2]) == (0.0, 1.0)  # n = 0: no information
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
    p = x / n if n else 0.0
    assert 0.0 <= lo <= p <= hi <= 1.0


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
    assert 0.0 <= p2 <= 1.0 and 0.0 <= p1 <= 1.0
    if x1 + x0 in (0, n1 + n0):
        assert p2 == p1 == 1.0  # degenerate: scipy refuses such tables
        return
    table = [[x1, n1 - x1], [x0, n0 - x0]]
    expected = stats.chi2_contingency(table, correction=False).pvalue
    assert p2 == pytest.approx(expected, rel=1e-9, abs=1e-14)
    # The two-sided p is twice the smaller one-sided p.
    assert p2 == pytest.approx(2 * min(p1, 1 - p1), rel=1e-9, abs=1e-14)
    assert (p1 < 0.5) == (x1 / n1 > x0 / n0)


def test_chisq_vectorised_and_degenerate() -> None:
    x1 = np.array([[19, 0], [29, 5]])
    x0 = np.array([[11, 0], [30, 5]])
    p = chisq_pvalue(x1, 29, x0, 30)
    assert p.shape == (2, 2)
    assert p[0, 0] == pytest.approx(float(chisq_pvalue(19, 29, 11, 30)), rel=1e-12)
    assert p[0, 1] == 1.0 and p[1, 0] == 1.0  # nobody / everybody responded
    assert float(chisq_pvalue(0, 0, 3, 10)) == 1.0  # empty arm
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
    assert 0.0 <= p <= 1.0
    m = x1 + x0
    if np.all((m == 0) | (m == n1 + n0)):
        assert p == 1.0  # no stratum has any variance
        return
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
    assert cmh_pvalue([0, 3], [5, 3], [0, 4], [6, 4]) == 1.0
    assert cmh_pvalue([1], [1], [0], [0]) == 1.0


# --------------------------------------------------------------------------- analyse_binary


def test_analyse_binary_he_2020() -> None:
    resp, arm = _patients((11, 30), (19, 29))
    res = analyse_binary(resp, arm, ["placebo", "il2"], control=0)
    placebo, il2 = res.arms
    assert (placebo.name, placebo.n, placebo.responders) == ("placebo", 30, 11)
    assert (il2.name, il2.n, il2.responders) == ("il2", 29, 19)
    assert il2.rate == pytest.approx(19 / 29)
    assert il2.ci95 == pytest.approx((0.4735, 0.8006), abs=1e-4)
    (cmp,) = res.comparisons
    assert (cmp.arm, cmp.control, cmp.test) == ("il2", "placebo", "chisq")
    assert cmp.difference == pytest.approx(19 / 29 - 11 / 30)
    assert cmp.p_value == pytest.approx(0.0267, abs=4e-4)
    assert cmp.significant
    assert cmp.ci95[0] < cmp.difference < cmp.ci95[1]

    fisher = analyse_binary(resp, arm, ["placebo", "il2"], control=0, test="fisher")
    assert fisher.comparisons[0].p_value == pytest.approx(0.038, abs=2e-3)
    # One-sided p is about half the two-sided chi-square p here.
    one = analyse_binary(resp, arm, ["placebo", "il2"], control=0, sided=1)
    assert one.comparisons[0].p_value == pytest.approx(0.0267 / 2, abs=3e-4)
    assert one.comparisons[0].significant


def test_one_sided_requires_positive_difference() -> None:
    # The arm is slightly worse: with alpha this lax a one-sided p for "arm better" (~0.6)
    # would pass p < alpha, but a worse arm is never declared superior.
    resp, arm = _patients((10, 30), (9, 30))
    res = analyse_binary(resp, arm, ["placebo", "il2"], 0, sided=1, alpha=0.9)
    cmp = res.comparisons[0]
    assert cmp.difference < 0 and cmp.p_value < 0.9
    assert not cmp.significant
    two = analyse_binary(resp, arm, ["placebo", "il2"], 0, sided=2, alpha=0.9)
    assert two.comparisons[0].significant  # p ~ 0.78 < 0.9 two-sided


def test_three_arms_control_in_middle_and_json() -> None:
    resp, arm = _patients((20, 30), (10, 30), (15, 30))
    res = analyse_binary(resp, arm, ["low", "placebo", "high"], control=1, test="fisher")
    assert [a.name for a in res.arms] == ["low", "placebo", "high"]
    pairs = [(c.arm, c.control) for c in res.comparisons]
    assert pairs == [("low", "placebo"), ("high", "placebo")]
    d = json.loads(json.dumps(res.to_dict()))
    assert d["arms"][0] == {
        "name": "low",
        "n": 30,
        "responders": 20,
        "rate": pytest.approx(2 / 3),
        "ci95": [pytest.approx(res.arms[0].ci95[0]), pytest.approx(res.arms[0].ci95[1])],
    }
    assert set(d["comparisons"][1]) == {
        "arm", "control", "difference", "ci95", "p_value", "test", "significant",
    }  # fmt: skip
    assert d["comparisons"][1]["test"] == "fisher"
    assert isinstance(d["comparisons"][0]["significant"], bool)


def test_cmh_in_analyse_binary() -> None:
    # Two strata (e.g. baseline SLEDAI < 10 / >= 10); a third arm must not leak into the test.
    strata_tables = [(12, 20, 7, 21), (8, 15, 6, 14)]
    resp_parts, arm_parts, strata_parts = [], [], []
    for s, (x1, n1, x0, n0) in enumerate(strata_tables):
        r, a = _patients((x0, n0), (x1, n1), (n1, n1))
        resp_parts.append(r)
        arm_parts.append(a)
        strata_parts.append(np.full(a.size, 10 * s + 3))  # arbitrary labels
    resp, arm, strata = map(np.concatenate, (resp_parts, arm_parts, strata_parts))
    names = ["placebo", "il2", "other"]
    res = analyse_binary(resp, arm, names, 0, test="cmh", strata=strata)
    x1, n1, x0, n0 = (np.array(c) for c in zip(*strata_tables, strict=True))
    assert res.comparisons[0].p_value == pytest.approx(_statsmodels_cmh(x1, n1, x0, n0))
    assert res.comparisons[0].test == "cmh"
    with pytest.raises(ValueError, match="strata"):
        analyse_binary(resp, arm, names, 0, test="cmh")
    # Unstratified tests ignore strata.
    a = analyse_binary(resp, arm, names, 0, strata=strata)
    b = analyse_binary(resp, arm, names, 0)
    assert a == b


@pytest.mark.parametrize(
    "kwargs",
    [
        {"test": "logrank"},
        {"alpha": 0.0},
        {"sided": 3},
        {"level": 1.5},
        {"control": 2},
    ],
)
def test_analyse_binary_rejects_bad_arguments(kwargs: dict) -> None:
    resp, arm = _patients((3, 10), (5, 10))
    args = {"control": 0, **kwargs}
    control = args.pop("control")
    with pytest.raises(ValueError):
        analyse_binary(resp, arm, ["a", "b"], control, **args)


def test_analyse_binary_rejects_bad_arrays() -> None:
    resp, arm = _patients((3, 10), (5, 10))
    with pytest.raises(ValueError):
        analyse_binary(resp[:-1], arm, ["a", "b"], 0)
    with pytest.raises(ValueError):
        analyse_binary(resp, arm + 1, ["a", "b"], 0)  # index 2 does not exist
    with pytest.raises(ValueError):
        analyse_binary(resp * 2, arm, ["a", "b"], 0)


@settings(max_examples=100, deadline=None)
@given(
    data=st.data(),
    n_arms=st.integers(2, 4),
    n=st.integers(0, 80),
    test=st.sampled_from(["chisq", "fisher", "cmh"]),
    sided=st.sampled_from([1, 2]),
)
def test_analyse_binary_properties(
    data: st.DataObject, n_arms: int, n: int, test: str, sided: int
) -> None:
    resp = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    arm = np.array(data.draw(st.lists(st.integers(0, n_arms - 1), min_size=n, max_size=n)))
    strata = np.array(data.draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)))
    control = data.draw(st.integers(0, n_arms - 1))
    names = [f"arm{j}" for j in range(n_arms)]
    res = analyse_binary(resp, arm, names, control, test=test, sided=sided, strata=strata)
    assert isinstance(res, BinaryAnalysis)
    assert sum(a.n for a in res.arms) == n
    assert len(res.comparisons) == n_arms - 1
    for a in res.arms:
        assert 0.0 <= a.ci95[0] <= a.rate <= a.ci95[1] <= 1.0
    for c in res.comparisons:
        assert 0.0 <= c.p_value <= 1.0
        assert -1.0 <= c.ci95[0] <= c.difference <= c.ci95[1] <= 1.0
        if sided == 1 and c.difference <= 0:
            assert not c.significant
    json.dumps(res.to_dict())
