"""Multiplicity: adjusted p-values against statsmodels and scipy, the fixed sequence, and the
family-wise error of three doses against placebo under the global null."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.multitest import multipletests

from trialsim.stats.analysis import analyse_trial
from trialsim.stats.binary import compare_counts
from trialsim.stats.endpoint_data import EndpointData
from trialsim.stats.multiplicity import (
    adjust,
    dunnett_adjust,
    dunnett_critical,
    fixed_sequence,
)

SM_NAMES = {"bonferroni": "bonferroni", "holm": "holm", "hochberg": "simes-hochberg"}


@settings(max_examples=120, deadline=None)
@given(p=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=8),
       method=st.sampled_from(sorted(SM_NAMES)))
def test_adjust_equals_multipletests(p: list[float], method: str) -> None:
    expected = multipletests(p, method=SM_NAMES[method])[1]
    np.testing.assert_allclose(adjust(p, method), expected, rtol=0, atol=1e-12)


def test_adjust_is_vectorised_and_keeps_nan() -> None:
    rng = np.random.default_rng(0)
    p = rng.random((20, 4)) ** 3
    for method in SM_NAMES:
        got = adjust(p, method)
        for row, g in zip(p, got, strict=True):
            np.testing.assert_allclose(g, multipletests(row, method=SM_NAMES[method])[1],
                                       atol=1e-12)
    q = adjust([0.01, np.nan, 0.02], "holm")
    assert np.isnan(q[1])
    ref = multipletests([0.01, 1.0, 0.02], method="holm")[1]
    np.testing.assert_allclose(q[[0, 2]], ref[[0, 2]])
    with pytest.raises(ValueError, match="method must be one of"):
        adjust([0.1], "sidak")


def _groups(rng: np.random.Generator, sizes: list[int], shift: list[float]) -> list:
    return [rng.normal(m, 1.0, n) for n, m in zip(sizes, shift, strict=True)]


@pytest.mark.parametrize(("sizes", "shift", "sided"), [
    ([20, 20, 20, 20], [0.0, 0.3, 0.6, 0.1], 2),
    ([30, 15, 25, 20], [0.0, 0.5, -0.2, 0.8], 2),
    ([25, 25, 25, 25], [0.0, 0.4, 0.7, 0.0], 1),
])
def test_dunnett_equals_scipy(sizes: list[int], shift: list[float], sided: int) -> None:
    """Dunnett's many-to-one test (scipy.stats.dunnett, itself checked against R's
    multcomp) equals our Dunnett adjustment of the pooled-variance t statistics
    (ANCOVA without covariates); both integrate the multivariate t by quasi-Monte-Carlo,
    hence the 2e-3 tolerance."""
    rng = np.random.default_rng(sum(sizes))
    g = _groups(rng, sizes, shift)
    ref = stats.dunnett(*g[1:], control=g[0],
                        alternative="two-sided" if sided == 2 else "greater",
                        random_state=1).pvalue
    value = np.concatenate(g)
    arm = np.repeat(np.arange(len(sizes)), sizes)
    data = EndpointData("y", "continuous", value)
    res = analyse_trial([data], arm, np.zeros(arm.size, int), ["c", "a", "b", "d"], 0,
                        methods={"continuous": "ancova"}, multiplicity="dunnett", sided=sided)
    got = [c.p_adjusted for c in res.comparisons]
    np.testing.assert_allclose(got, ref, atol=2e-3)


def test_dunnett_critical_value_gives_alpha() -> None:
    n = [40, 40, 40]
    c = dunnett_critical(n, 40, 0.05)
    # Dunnett's table (1955; equal n, 3 comparisons, infinite df): 2.35 two-sided.
    assert c == pytest.approx(2.349, abs=2e-3)
    assert dunnett_adjust([c], n[:1], 40)[0] == pytest.approx(2 * stats.norm.sf(c), abs=1e-9)
    p_at_c = dunnett_adjust([c, 0.0, 0.0], n, 40)[0]
    assert p_at_c == pytest.approx(0.05, abs=2e-4)


def test_fixed_sequence_gates() -> None:
    prim = np.array([0.01, 0.04])
    sec1 = np.array([0.001, 0.03])
    sec2 = np.array([0.2, 0.0001])
    a, b, c = fixed_sequence([prim, sec1, sec2])
    np.testing.assert_allclose(a, prim)
    np.testing.assert_allclose(b, [0.04, 0.04])
    np.testing.assert_allclose(c, [0.2, 0.04])     # raised to the gate 0.04
    # An undefined primary closes the gate.
    _, d = fixed_sequence([np.array([np.nan]), np.array([0.001])])
    assert d[0] == 1.0


def test_fixed_sequence_in_a_trial() -> None:
    """Secondary endpoints in the sequence are tested only after the primary succeeds;
    a secondary outside the sequence is descriptive (no decision)."""
    rng = np.random.default_rng(9)
    n = 200
    arm = np.repeat([0, 1], n // 2)
    strata = rng.integers(0, 2, n)
    prim = EndpointData("sri4", "binary", (rng.random(n) < 0.3 + 0.25 * arm).astype(float))
    strong = EndpointData("change", "continuous", rng.normal(-1.5 * arm, 2), baseline=None,
                          higher_is_better=False)
    null = EndpointData("flare", "binary", (rng.random(n) < 0.2).astype(float))
    extra = EndpointData("treg", "continuous", rng.normal(arm, 1))
    res = analyse_trial([prim, strong, null, extra], arm, strata, ["p", "a"], 0,
                        sequence=["change", "flare"])
    roles = [e.role for e in res.endpoints]
    assert roles == ["primary", "secondary", "secondary", "descriptive"]
    p0 = res.endpoints[0].comparisons[0]
    s1 = res.endpoints[1].comparisons[0]
    s2 = res.endpoints[2].comparisons[0]
    d = res.endpoints[3].comparisons[0]
    assert p0.significant and s1.significant
    assert s1.p_adjusted == pytest.approx(max(p0.p_value, s1.p_value))
    assert s2.p_adjusted >= s1.p_adjusted and s1.multiplicity == "holm, fixed sequence"
    assert d.significant is None and d.p_adjusted is None and d.p_value < 1e-6
    # A failed primary stops the sequence: the strong secondary is then not significant.
    flat = EndpointData("sri4", "binary", (rng.random(n) < 0.3).astype(float))
    res2 = analyse_trial([flat, strong], arm, strata, ["p", "a"], 0, sequence=["change"])
    if not res2.endpoints[0].comparisons[0].significant:
        assert not res2.endpoints[1].comparisons[0].significant


# --------------------------------------------------------------------------- FWER by simulation

TRIALS = 4000
ALPHA = 0.05


def _null_counts(rng: np.random.Generator, per_arm: int, arms: int, rate: float,
                 strata: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """(trials, strata, arms) responders and patients: identical arms, two strata with
    different response rates, patients split over strata at random."""
    n = rng.multinomial(per_arm, [1 / strata] * strata, size=(TRIALS, arms))   # (T, A, S)
    p = np.array([rate - 0.1, rate + 0.1])[:strata]
    x = rng.binomial(n, p[None, None, :])
    return x.transpose(0, 2, 1).astype(float), n.transpose(0, 2, 1).astype(float)


def test_three_doses_global_null_fwer() -> None:
    """Three doses vs placebo, identical arms (SRI-4 rate 0.4, 40 per arm), 4,000 trials:
    the family-wise error with Holm, Hochberg, Bonferroni or Dunnett is at most alpha + 3
    Monte-Carlo SE; unadjusted (each comparison at alpha) it is well above alpha."""
    rng = np.random.default_rng(20240601)
    x, n = _null_counts(rng, 40, 4, 0.4)
    cc = compare_counts(x, n, 0, test="chisq")
    p = cc.p_two
    se = math.sqrt(ALPHA * (1 - ALPHA) / TRIALS)
    fwer = {"none": float(np.mean(np.any(p < ALPHA, axis=1)))}
    for method in ("bonferroni", "holm", "hochberg"):
        fwer[method] = float(np.mean(np.any(adjust(p, method) < ALPHA, axis=1)))
    z = stats.norm.isf(p / 2)
    crit = np.array([dunnett_critical(cc.n_arm[t], cc.n_control[t, 0], ALPHA)
                     for t in range(TRIALS)])
    fwer["dunnett"] = float(np.mean(np.any(z > crit[:, None], axis=1)))
    report = ", ".join(f"{k} {v:.4f}" for k, v in fwer.items())
    print(f"\nFWER, 3 doses vs placebo under the global null ({TRIALS} trials, MC SE "
          f"{se:.4f}): {report}")
    for method in ("bonferroni", "holm", "hochberg", "dunnett"):
        assert fwer[method] <= ALPHA + 3 * se, report
    assert fwer["none"] > ALPHA + 3 * se, report
    assert fwer["dunnett"] >= fwer["bonferroni"] and fwer["holm"] >= fwer["bonferroni"]
    # Dunnett uses the correlation: nearly exact (its FWER within 3 SE of alpha).
    assert abs(fwer["dunnett"] - ALPHA) <= 3 * se, report
