"""Tests of trialsim.stats.power: analytic power against R, exact enumeration and Monte Carlo."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize, stats

from trialsim.stats.binary import chisq_pvalue
from trialsim.stats.power import (
    mc_standard_error,
    power_two_proportions,
    sample_size_two_proportions,
)

SEED = 20200141  # fixed so the Monte-Carlo tests are reproducible


def exact_rejection_rate(p1: float, p0: float, n1: int, n0: int, alpha: float = 0.05) -> float:
    """Exact P(chi-square p < alpha) by summing binomial probabilities over all tables."""
    x1 = np.arange(n1 + 1)[:, None]
    x0 = np.arange(n0 + 1)[None, :]
    weight = stats.binom.pmf(x1, n1, p1) * stats.binom.pmf(x0, n0, p0)
    return float(weight[chisq_pvalue(x1, n1, x0, n0) < alpha].sum())


# --------------------------------------------------------------------------- R reference


def test_power_matches_r_power_prop_test() -> None:
    """R: ``power.prop.test(n = 50, p1 = .50, p2 = .75)`` prints power = 0.7401659.

    Our formula is R's ``strict = FALSE`` body term by term, so agreement is to rounding of
    R's printout (7 significant digits), far inside the 1e-3 the design allows.
    """
    assert power_two_proportions(0.75, 0.5, 50, 50) == pytest.approx(0.7401659, abs=1e-6)
    assert power_two_proportions(0.5, 0.75, 50, 50) == pytest.approx(0.7401659, abs=1e-6)


def test_sample_size_matches_r_power_prop_test() -> None:
    """R: ``power.prop.test(p1 = .50, p2 = .75, power = .90)`` gives n = 76.7 per group.

    (R's help page example states ``n = 76.7``; solving our formula gives 76.70693.) So the
    smallest integer group size is 77: power(76) = 0.8973 < 0.9 <= power(77) = 0.9011.
    """
    assert sample_size_two_proportions(0.75, 0.5, power=0.9) == (77, 77)
    assert (
        power_two_proportions(0.75, 0.5, 76, 76) < 0.9 <= power_two_proportions(0.75, 0.5, 77, 77)
    )
    n_cont = optimize.brentq(lambda n: power_two_proportions(0.75, 0.5, n, n) - 0.9, 2, 500)
    assert n_cont == pytest.approx(76.7, abs=0.05)


def test_more_r_examples() -> None:
    """Further examples from R's ``?power.prop.test``.

    * ``power.prop.test(n = 50, p1 = .5, power = .90)`` gives p2 = 0.8026;
    * ``power.prop.test(p1 = .90, p2 = 1.0, power = .8)`` gives n = 73.37 (so 74);
    * ``power.prop.test(p1 = .5, p2 = 0.501, sig.level = .001, power = .90)`` gives
      n = 10451937 (R prints 7 significant digits; our continuous root is 10451936.6).
    """
    p2 = optimize.brentq(lambda p: power_two_proportions(p, 0.5, 50, 50) - 0.9, 0.5, 1.0)
    assert p2 == pytest.approx(0.8026, abs=1e-4)
    assert sample_size_two_proportions(1.0, 0.9, power=0.8) == (74, 74)
    assert sample_size_two_proportions(0.501, 0.5, power=0.9, alpha=0.001) == (
        10451937,
        10451937,
    )


# --------------------------------------------------------------------------- formula details


def test_null_and_strict_and_one_sided() -> None:
    # Equal rates: the non-strict formula counts one tail only, hence alpha/2 (as in R).
    assert power_two_proportions(0.4, 0.4, 80, 80) == pytest.approx(0.025, abs=1e-12)
    assert power_two_proportions(0.4, 0.4, 80, 80, strict=True) == pytest.approx(0.05)
    # One-sided at alpha equals non-strict two-sided at 2 * alpha.
    assert power_two_proportions(0.6, 0.35, 60, 60, alpha=0.025, sided=1) == pytest.approx(
        power_two_proportions(0.6, 0.35, 60, 60, alpha=0.05, sided=2), rel=1e-12
    )
    # One-sided test of p1 > p0 has almost no power when p1 < p0.
    assert power_two_proportions(0.35, 0.6, 60, 60, sided=1) < 1e-3
    # Deterministic outcomes.
    assert power_two_proportions(1.0, 0.0, 3, 3) == 1.0
    assert power_two_proportions(0.0, 0.0, 3, 3) == 0.0


def test_unequal_groups_formula() -> None:
    """Hand-evaluated formula with the size-weighted pooled rate (Fleiss, Tytun & Ury 1980)."""
    p1, p0, n1, n0 = 0.6, 0.35, 40, 80
    pbar = (40 * 0.6 + 80 * 0.35) / 120
    num = 0.25 - stats.norm.ppf(0.975) * math.sqrt(pbar * (1 - pbar) * (1 / 40 + 1 / 80))
    den = math.sqrt(0.6 * 0.4 / 40 + 0.35 * 0.65 / 80)
    assert power_two_proportions(p1, p0, n1, n0) == pytest.approx(
        stats.norm.cdf(num / den), rel=1e-12
    )


@settings(max_examples=60, deadline=None)
@given(
    p0=st.floats(0.05, 0.9),
    delta=st.floats(0.05, 0.5),
    target=st.floats(0.5, 0.95),
    ratio=st.sampled_from([0.5, 1.0, 1.5, 2.0]),
    sided=st.sampled_from([1, 2]),
)
def test_sample_size_is_smallest(
    p0: float, delta: float, target: float, ratio: float, sided: int
) -> None:
    p1 = min(p0 + delta, 1.0)
    n1, n0 = sample_size_two_proportions(p1, p0, target, sided=sided, ratio=ratio)
    assert n0 == math.ceil(ratio * n1)
    assert power_two_proportions(p1, p0, n1, n0, sided=sided) >= target
    smaller = [
        power_two_proportions(p1, p0, m, math.ceil(ratio * m), sided=sided) for m in range(1, n1)
    ]
    assert all(pw < target for pw in smaller)


def test_sample_size_rejects_impossible_targets() -> None:
    with pytest.raises(ValueError):
        sample_size_two_proportions(0.4, 0.4)
    with pytest.raises(ValueError):
        sample_size_two_proportions(0.3, 0.4, sided=1)
    with pytest.raises(ValueError):
        sample_size_two_proportions(0.6, 0.4, power=1.0)
    with pytest.raises(ValueError):
        power_two_proportions(0.6, 0.4, 0, 10)


def test_mc_standard_error() -> None:
    assert mc_standard_error(0.8, 400) == pytest.approx(0.02)
    assert mc_standard_error(0.0, 10) == 0.0
    with pytest.raises(ValueError):
        mc_standard_error(0.5, 0)


# --------------------------------------------------------------------------- Monte Carlo


def test_monte_carlo_power_agrees_with_formula() -> None:
    """Empirical power of the vectorised chi-square test over R = 4000 binomial trials.

    Tolerance = 4 Monte-Carlo SE + 0.015. The 4 SE (0.026 here) makes a false alarm from
    sampling noise a ~6e-5 event. The 0.015 allows for the bias of the normal approximation
    itself: exact enumeration of all 61 x 61 tables gives a true power of 0.8028 against the
    formula's 0.7904 (bias 0.0124; asserted in the next test), so a smaller allowance such
    as 0.01 would not cover a correct implementation.
    """
    p1, p0, n, reps = 0.60, 0.35, 60, 4000
    rng = np.random.default_rng(SEED)
    x1 = rng.binomial(n, p1, size=reps)
    x0 = rng.binomial(n, p0, size=reps)
    empirical = float(np.mean(chisq_pvalue(x1, n, x0, n) < 0.05))
    analytic = power_two_proportions(p1, p0, n, n)
    assert analytic == pytest.approx(0.7904, abs=1e-4)
    tol = 4 * mc_standard_error(analytic, reps) + 0.015
    assert abs(empirical - analytic) < tol
    # Tighter: against the exact rejection rate there is no approximation bias at all.
    exact = exact_rejection_rate(p1, p0, n, n)
    assert abs(empirical - exact) < 4 * mc_standard_error(exact, reps)


def test_exact_power_close_to_formula() -> None:
    """The normal-approximation bias at moderate n is about one percentage point."""
    assert exact_rejection_rate(0.60, 0.35, 60, 60) == pytest.approx(0.8028, abs=1e-4)
    for p1, p0, n in [(0.60, 0.35, 60), (0.75, 0.50, 50), (0.66, 0.37, 30), (0.5, 0.3, 100)]:
        bias = exact_rejection_rate(p1, p0, n, n) - power_two_proportions(p1, p0, n, n)
        assert abs(bias) < 0.015


def test_monte_carlo_type_i_error() -> None:
    """Empirical size at p0 = p1 = 0.4, n = 80 per arm, R = 10000 trials.

    Tolerance = 4 Monte-Carlo SE (0.0087) + 0.005. The 0.005 covers the discreteness of the
    uncorrected chi-square test, whose exact size here (all 81 x 81 tables enumerated) is
    0.0472, not 0.05; the allowance is asserted to be large enough below.
    """
    p, n, reps, alpha = 0.4, 80, 10_000, 0.05
    exact = exact_rejection_rate(p, p, n, n, alpha)
    assert exact == pytest.approx(0.0472, abs=1e-4)
    assert abs(exact - alpha) < 0.005
    rng = np.random.default_rng(SEED + 1)
    x1 = rng.binomial(n, p, size=reps)
    x0 = rng.binomial(n, p, size=reps)
    empirical = float(np.mean(chisq_pvalue(x1, n, x0, n) < alpha))
    assert abs(empirical - alpha) < 4 * mc_standard_error(alpha, reps) + 0.005
