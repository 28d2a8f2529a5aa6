"""Power over sample sizes (trialsim.design.sizes) against binomial formulas.

The fixed-rates outcome model makes the arm counts exactly binomial, so simulated power must
agree with the exact power (all 31 × 31 outcomes of a 30-vs-30 trial) and with the normal
approximation within Monte-Carlo error; tolerances are 3 MC SE of 4,000 replicates.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.conftest import ROOT
from trialsim.design.sizes import PowerError, parse_sizes, power_curve
from trialsim.protocol import load_protocol, parse_protocol
from trialsim.stats.power import (
    exact_power_two_proportions,
    power_two_proportions,
    sample_size_two_proportions,
)

REPS = 4000
P0, P1 = 0.367, 0.655   # He 2020 SRI-4 at week 24: 11/30 and 19/29


def fixed_rates(p0: float, p1: float, **extra: dict) -> dict:
    data = {
        "trial": {"name": "fixed", "seed": 7, "replicates": REPS},
        "population": {"n": 60},
        "arm": [{"name": "placebo"},
                {"name": "active", "regimen": {"dose_miu": 1.0, "every_days": 2}}],
        "visits": {"weeks": [0, 24]},
        "endpoint": {"primary": "sri4", "week": 24},
        "analysis": {"test": "chisq", "alpha": 0.05, "sided": 2, "dropout_per_year": 0.0},
        "randomization": {"block_size": 2, "stratify_by": []},
        "outcome": {"model": "fixed-rates", "rates": {"placebo": p0, "active": p1}},
    }
    for k, v in extra.items():
        data[k] = {**data.get(k, {}), **v}
    return data


@pytest.fixture(scope="module")
def he_curve():
    p = parse_protocol(fixed_rates(P0, P1))
    return power_curve(p, [40, 60, 80, 100, 120, 140], target=0.8)


def test_power_at_30_per_arm_matches_exact_and_normal(he_curve) -> None:
    row = next(r for r in he_curve.rows if r.n == 60)
    assert row.n_per_arm == [30, 30] and row.mean_n_per_arm == [30.0, 30.0]
    exact = exact_power_two_proportions(P1, P0, 30, 30)       # 0.6252
    normal = power_two_proportions(P1, P0, 30, 30)            # 0.6116 (power.prop.test)
    se = math.sqrt(exact * (1 - exact) / REPS)                # 0.0077
    assert abs(row.power - exact) <= 3 * se, (row.power, exact)
    assert abs(row.power - normal) <= 3 * se, (row.power, normal)
    assert row.power_se == pytest.approx(math.sqrt(row.power * (1 - row.power) / REPS))
    assert row.ci95[0] < row.power < row.ci95[1]


def test_required_n_matches_analytic_sample_size(he_curve) -> None:
    n1, n0 = sample_size_two_proportions(P1, P0, power=0.8)   # 47 per arm (power.prop.test)
    assert he_curve.required_n is not None
    assert abs(he_curve.required_n / 2 - n1) <= 4, he_curve.required_n
    fit = he_curve.fit
    lo, hi = fit["n_for_target_ci95"]
    assert lo <= fit["n_for_target"] <= hi
    c = he_curve.confirm
    assert c is not None and c.n == he_curve.required_n
    # The size reported is confirmed: its run's 95% interval reaches the target, and the
    # exact power there is at least 0.8 - 3 MC SE.
    assert c.ci95[1] >= 0.8
    half = he_curve.required_n // 2
    assert exact_power_two_proportions(P1, P0, half, half) >= 0.8 - 3 * c.power_se


def test_power_non_decreasing_within_mc_error(he_curve) -> None:
    powers = [r.power for r in he_curve.rows]
    ses = [r.power_se for r in he_curve.rows]
    for a, b, sa, sb in zip(powers, powers[1:], ses, ses[1:], strict=False):
        assert b >= a - 3 * math.hypot(sa, sb)


def test_type_one_error_fixed_design() -> None:
    p = parse_protocol(fixed_rates(0.4, 0.4))
    curve = power_curve(p, [120], confirm=False)
    se = math.sqrt(0.05 * 0.95 / REPS)
    assert abs(curve.rows[0].power - 0.05) <= 3 * se, curve.rows[0].power
    assert curve.required_n is None and curve.note


def test_type_one_error_three_look_obrien_fleming() -> None:
    p = parse_protocol(fixed_rates(0.4, 0.4, population={"enrolment_per_month": 10.0},
                                   interim={"looks": [1 / 3, 2 / 3, 1.0], "spending": "obf"}))
    curve = power_curve(p, [120], confirm=False)
    row = curve.rows[0]
    se = math.sqrt(0.05 * 0.95 / REPS)
    assert abs(row.power - 0.05) <= 3 * se, row.power
    # OBF spends almost nothing early: the first look stops < 0.1% of null trials.
    assert row.sequential["stop_efficacy"][0] < 0.003
    assert curve.bounds["efficacy"][0] > 3.4


def test_group_sequential_power_close_to_analytic() -> None:
    """With an effect, simulated GS power and early stopping agree with the recursive
    integration at the simulated rates (3 MC SE + 0.02 for the normal approximation)."""
    p = parse_protocol(fixed_rates(P0, P1, population={"enrolment_per_month": 10.0},
                                   interim={"looks": [0.5, 1.0], "spending": "pocock"}))
    p = p.with_overrides(replicates=1000)
    row = power_curve(p, [100], confirm=False).rows[0]
    assert abs(row.power - row.analytic_power) <= 3 * row.power_se + 0.02
    assert row.sequential["expected_n_analysed"] < 100
    assert row.sequential["expected_n_enrolled"] >= row.sequential["expected_n_analysed"]


def test_multi_arm_any_and_all_power() -> None:
    data = fixed_rates(0.3, 0.6)
    data["arm"].append({"name": "high", "regimen": {"dose_miu": 2.0, "every_days": 2}})
    data["outcome"]["rates"]["high"] = 0.6
    data["randomization"]["block_size"] = 3
    p = parse_protocol(data).with_overrides(replicates=400)
    row = power_curve(p, [90], confirm=False).rows[0]
    each = [c["power"] for c in row.comparisons]
    assert [c["arm"] for c in row.comparisons] == ["active", "high"]
    assert row.all_power <= min(each) <= max(each) <= row.any_power
    single = power_two_proportions(0.6, 0.3, 30, 30)
    for c in row.comparisons:
        assert abs(c["power"] - single) <= 3 * c["power_se"] + 0.03


def test_precision_mode_reaches_requested_se() -> None:
    p = parse_protocol(fixed_rates(P0, P1))
    curve = power_curve(p, [60], precision=0.012, confirm=False)
    assert curve.rows[0].power_se <= 0.012
    assert curve.replicates >= 0.2 / 0.012**2  # p(1-p) >= 0.2 near 62% power


def test_parse_sizes_rounds_to_allocation_unit() -> None:
    p = load_protocol(ROOT / "protocols" / "ld-il2-vs-placebo.toml")
    assert parse_sizes("40:240:40", p) == [40, 80, 120, 160, 200, 240]
    assert parse_sizes("41,61", p) == [42, 62]
    for bad in ("x", "240:40:10", "40:240:0", "1,2"):
        with pytest.raises(PowerError):
            parse_sizes(bad, p)


def test_reproducible_and_prefix_of_larger_runs() -> None:
    p = parse_protocol(fixed_rates(P0, P1)).with_overrides(replicates=60)
    a = power_curve(p, [40, 80], confirm=False)
    b = power_curve(p, [40, 80], confirm=False)
    assert a.to_dict() == b.to_dict()
    # The 40-patient point does not depend on which other sizes are simulated with it.
    c = power_curve(p, [40, 120], confirm=False)
    assert a.rows[0] == c.rows[0]
    assert np.isfinite(a.rows[1].analytic_power)
