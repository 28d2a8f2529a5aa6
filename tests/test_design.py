"""Operating characteristics of whole simulated designs.

Tolerances are Monte-Carlo: with R replicates a simulated rejection rate has standard error
sqrt(p(1 − p)/R); we allow 4 SE (a false failure about once in 16,000 runs) plus, where a
normal approximation is compared with an exact discrete test, a stated allowance.
"""

from __future__ import annotations

import math

import pytest

from tests.conftest import ROOT
from trialsim.design import run_design
from trialsim.protocol import load_protocol, parse_protocol
from trialsim.stats.power import power_two_proportions


def _null_protocol(test: str, replicates: int) -> dict:
    """Two identical placebo arms: every 'significant' comparison is a type I error."""
    return {
        "trial": {"name": "null", "seed": 31, "replicates": replicates},
        "population": {"n": 60, "min_sledai": 6},
        "arm": [{"name": "placebo"}, {"name": "placebo-b"}],
        "visits": {"weeks": [0, 4, 8, 12]},
        "endpoint": {"primary": "sri4", "week": 12},
        "analysis": {"test": test, "alpha": 0.05, "sided": 2, "dropout_per_year": 0.1},
    }


@pytest.mark.parametrize("test", ["chisq", "cmh"])
def test_type_one_error_stays_at_alpha(test: str) -> None:
    """Under no effect the rejection rate is alpha within 4 MC SE (+0.01 for the discreteness
    of a 2×30 binary table, whose exact size at alpha 0.05 lies in 0.04-0.06)."""
    reps = 1500
    p = parse_protocol(_null_protocol(test, reps))
    oc = run_design(p, chunk=100).oc
    rate = oc.comparisons[0].power
    tol = 4 * math.sqrt(0.05 * 0.95 / reps) + 0.01
    assert abs(rate - 0.05) < tol, rate


def test_fisher_is_conservative_under_the_null() -> None:
    reps = 1500
    oc = run_design(parse_protocol(_null_protocol("fisher", reps)), chunk=100).oc
    assert oc.comparisons[0].power <= 0.05 + 4 * math.sqrt(0.05 * 0.95 / reps)


def test_simulated_power_matches_the_analytic_formula_at_the_simulated_rates() -> None:
    """The default design's simulated power agrees with the two-proportion formula evaluated
    at the simulated mean response rates. Allowance beyond 4 MC SE: 0.05, for patient-level
    heterogeneity (which makes responses less variable than a binomial with one p) and the
    formula's normal approximation."""
    reps = 400
    p = load_protocol(ROOT / "protocols" / "ld-il2-vs-placebo.toml").with_overrides(
        replicates=reps)
    oc = run_design(p).oc
    rates = {a.name: a.mean_rate for a in oc.arms}
    analytic = power_two_proportions(rates["il2-1miu"], rates["placebo"], 30, 30)
    sim = oc.comparisons[0].power
    tol = 4 * math.sqrt(analytic * (1 - analytic) / reps) + 0.05
    assert abs(sim - analytic) < tol, (sim, analytic)


def test_power_grows_with_sample_size() -> None:
    base = load_protocol(ROOT / "protocols" / "ld-il2-vs-placebo.toml")
    powers = [run_design(base.with_overrides(n=n, replicates=200)).oc.comparisons[0].power
              for n in (40, 160)]
    # Analytic power at the design's effect: ~0.3 at n = 40, ~0.9 at n = 160; the gap is
    # far beyond the MC SE of ≤ 0.035 each.
    assert powers[1] > powers[0] + 0.3


def test_results_do_not_depend_on_chunk_size() -> None:
    p = load_protocol(ROOT / "protocols" / "ld-il2-vs-placebo.toml").with_overrides(
        replicates=9)
    a = run_design(p, chunk=9).oc
    b = run_design(p, chunk=2).oc
    assert a == b
