"""Tests of the immune-balance model: pharmacokinetics, parameters, invariants, calibration
directions and the reproducibility of vectorised simulation."""

from __future__ import annotations

import math
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trialsim.errors import ModelError
from trialsim.model import (
    DEFAULT_PARAMETERS,
    ModelParameters,
    parameter_table,
    sample_patient_parameters,
    simulate,
)
from trialsim.model.pk import concentration, unit_response
from trialsim.protocol import Model, Regimen, load_protocol
from trialsim.regimen import PLACEBO, DoseSchedule, dose_schedule
from trialsim.trial import TrialResult, simulate_trials

ROOT = Path(__file__).resolve().parent.parent
MINUTE = 1 / 1440


# --------------------------------------------------------------------------- pharmacokinetics


def test_sc_peak_time_within_label_range() -> None:
    """Proleukin label: s.c. Tmax 2-6 h."""
    tau = np.arange(0, 24 * 60 + 1) * MINUTE
    c = unit_response(tau, "sc", DEFAULT_PARAMETERS)
    t_max_h = tau[np.argmax(c)] * 24
    assert 2.0 <= t_max_h <= 6.0, t_max_h
    assert c[0] == 0.0 and c.max() > 0


@pytest.mark.parametrize("route", ["sc", "iv"])
def test_no_concentration_before_the_dose(route: str) -> None:
    tau = np.array([-5.0, -1.0, -MINUTE, -1e-12])
    np.testing.assert_array_equal(unit_response(tau, route, DEFAULT_PARAMETERS), 0.0)
    sched = DoseSchedule(np.array([2.0]), np.array([1.0]), route)
    np.testing.assert_array_equal(
        concentration(sched, np.linspace(0, 1.999, 50), DEFAULT_PARAMETERS), 0.0)


def test_iv_elimination_half_life_is_85_minutes() -> None:
    """Konrad MW et al., Cancer Res 1990;50:2009: elimination t1/2 85 min (within 1%)."""
    c0, c85 = unit_response(np.array([0.0, 85 * MINUTE]), "iv", DEFAULT_PARAMETERS)
    assert c85 / c0 == pytest.approx(0.5, rel=0.01)
    # Initial concentration: dose / volume (3990 pmol / 14.7 L).
    assert c0 == pytest.approx(DEFAULT_PARAMETERS.pmol_per_miu / DEFAULT_PARAMETERS.volume_l)


def test_sc_exposure_is_bioavailability_times_iv() -> None:
    """Linear one-compartment model: AUC_sc / AUC_iv = F (trapezoid on a 1-minute grid)."""
    tau = np.arange(0, 5 * 1440 + 1) * MINUTE
    auc = {r: np.trapezoid(unit_response(tau, r, DEFAULT_PARAMETERS), tau) for r in ("sc", "iv")}
    assert auc["sc"] / auc["iv"] == pytest.approx(DEFAULT_PARAMETERS.bioavailability_sc,
                                                  rel=1e-3)


@pytest.mark.parametrize("route", ["sc", "iv"])
def test_doses_superpose(route: str) -> None:
    p = DEFAULT_PARAMETERS
    t = np.linspace(0, 4.0, 2001)
    sched = DoseSchedule(np.array([0.0, 0.7]), np.array([1.0, 2.5]), route)
    expected = unit_response(t, route, p) + 2.5 * unit_response(t - 0.7, route, p)
    np.testing.assert_allclose(concentration(sched, t, p), expected, rtol=1e-12, atol=0)
    single = DoseSchedule(np.array([0.0]), np.array([3.0]), route)
    np.testing.assert_allclose(concentration(single, t, p), 3.0 * unit_response(t, route, p),
                               rtol=1e-12, atol=0)


# --------------------------------------------------------------------------- parameters


def test_every_parameter_is_sourced() -> None:
    table = parameter_table()
    assert list(table["name"]) == [f.name for f in fields(ModelParameters)]
    for f in fields(ModelParameters):
        meta = f.metadata
        assert {"unit", "kind", "source"} <= set(meta), f.name
        assert meta["kind"] in {"sourced", "derived", "fitted", "assumed"}, f.name
        assert isinstance(meta["unit"], str) and meta["unit"].strip(), f.name
        assert isinstance(meta["source"], str) and len(meta["source"].strip()) > 10, f.name
    assert table["value"].map(lambda v: math.isfinite(v) and v >= 0).all()
    # issue 12: every fitted parameter states its uncertainty (or why it has none)
    fitted = table[table["kind"] == "fitted"]
    assert (fitted["uncertainty"].str.len() > 20).all(), fitted[["name", "uncertainty"]]


# --------------------------------------------------------------------------- invariants


def _cohort_parameters(n: int, seed: int):
    rng = np.random.default_rng(seed)
    severity = rng.normal(0.0, 1.0, n)
    return sample_patient_parameters(severity, DEFAULT_PARAMETERS, Model(), rng)


@settings(max_examples=20, deadline=None)
@given(dose=st.floats(0.05, 50.0), every=st.floats(1.0, 7.0),
       route=st.sampled_from(["sc", "iv"]), seed=st.integers(0, 2**32 - 1))
def test_states_stay_finite_and_non_negative(dose: float, every: float, route: str,
                                             seed: int) -> None:
    horizon = 56.0
    sched = dose_schedule(Regimen(dose_miu=dose, every_days=every, route=route), horizon)
    n = 16
    arm = np.arange(n) % 2
    pp = _cohort_parameters(n, seed)
    for name, value in pp.to_frame().items():
        assert np.isfinite(value).all() and (value >= 0).all(), name
    traj = simulate([PLACEBO, sched], arm, pp, DEFAULT_PARAMETERS, np.arange(0, 57, 7.0))
    arrays = [*traj.states.values(), traj.Y, traj.il2_peak_pm, traj.exposure_auc,
              *traj.extremes.values()]
    for a in arrays:
        assert np.isfinite(a).all() and (a >= 0).all()
    treated = arm == 1
    assert (traj.il2_peak_pm[treated] > 0).all() and (traj.il2_peak_pm[~treated] == 0).all()
    assert (traj.extremes["R_max"][treated] > 1).all()


def test_invalid_state_raises_model_error() -> None:
    """The invariant check is live: negative drive makes activity negative."""
    params = DEFAULT_PARAMETERS.with_(weight_tfh=-10.0)
    pp = _cohort_parameters(4, 0)
    with pytest.raises(ModelError):
        simulate([PLACEBO], np.zeros(4, dtype=int), pp, params, np.array([0.0, 28.0]))


# --------------------------------------------------------------------------- He 2020 directions


@pytest.fixture(scope="module")
def he2020() -> TrialResult:
    """The He 2020 design with 400 patients (200 per arm) so the medians are stable: the
    margins below (e.g. Treg median 1.9 against 1.5) are many times the sampling error of a
    median of 200 patients."""
    protocol = load_protocol(ROOT / "protocols" / "he2020.toml").with_overrides(n=400)
    return simulate_trials(protocol, [0])[0]


def _col(result: TrialResult, day: float) -> int:
    return int(np.flatnonzero(result.trajectory.days == day)[0])


def test_placebo_treg_stays_exactly_at_baseline(he2020: TrialResult) -> None:
    placebo = he2020.arm == 0
    assert placebo.sum() > 150
    traj = he2020.trajectory
    np.testing.assert_array_equal(traj["R"][placebo], 1.0)
    np.testing.assert_array_equal(traj["K"][placebo], 1.0)
    np.testing.assert_array_equal(traj.il2_peak_pm[placebo], 0.0)


def test_il2_expands_treg_during_cycles_and_returns_off_drug(he2020: TrialResult) -> None:
    """1 MIU every other day: Treg about 2× at the end of an on-phase (day 14), back near
    baseline after the 2 weeks off (day 28)."""
    il2 = he2020.arm == 1
    treg = he2020.trajectory["R"][il2]
    assert np.median(treg[:, _col(he2020, 14)]) > 1.5
    assert np.median(treg[:, _col(he2020, 28)]) < 1.3


def test_il2_suppresses_tfh_and_th17(he2020: TrialResult) -> None:
    il2 = he2020.arm == 1
    k = _col(he2020, 14)
    assert np.median(he2020.trajectory["F"][il2, k]) < 1.0
    assert np.median(he2020.trajectory["H"][il2, k]) < 1.0


def test_low_dose_spares_nk_and_cd8(he2020: TrialResult) -> None:
    """Receptor window (Trotta 2018): 1 MIU barely touches IL-2Rβγ cells."""
    il2 = he2020.arm == 1
    assert (np.median(he2020.trajectory["K"][il2], axis=0) < 1.05).all()
    assert np.median(he2020.trajectory.extremes["K_max"][il2]) < 1.05


def test_treg_expansion_rises_with_dose_and_nk_only_at_high_dose() -> None:
    """Dose ranging (100 per arm): median day-14 Treg increases from 0.2 to 3 MIU; only the
    cancer-level i.v. regimen expands NK/CD8 (median K_max > 1.5)."""
    protocol = load_protocol(ROOT / "protocols" / "dose-ranging.toml")
    result = simulate_trials(protocol, [0])[0]
    k = _col(result, 14)
    names = [a.name for a in protocol.arms]
    treg = [np.median(result.trajectory["R"][result.arm == names.index(n), k])
            for n in ("placebo", "il2-0.2miu", "il2-0.5miu", "il2-1miu", "il2-3miu")]
    assert all(b > a for a, b in zip(treg, treg[1:], strict=False)), treg
    k_max = result.trajectory.extremes["K_max"]
    assert np.median(k_max[result.arm == names.index("high-dose-iv")]) > 1.5
    assert np.median(k_max[result.arm == names.index("il2-3miu")]) < 1.1


# --------------------------------------------------------------------------- reproducibility


@pytest.mark.parametrize("name", ["he2020", "daily-dosing"])
def test_chunking_does_not_change_results(name: str) -> None:
    """A replicate's result does not depend on which replicates share its array chunk."""
    protocol = load_protocol(ROOT / "protocols" / f"{name}.toml")
    together = simulate_trials(protocol, [0, 1, 2])
    for r in (0, 1, 2):
        alone = simulate_trials(protocol, [r])[0]
        assert together[r].replicate == alone.replicate == r
        assert np.array_equal(together[r].responder, alone.responder)
        assert np.array_equal(together[r].visits.sledai, alone.visits.sledai)
        assert np.array_equal(together[r].trajectory["R"], alone.trajectory["R"])
        assert np.array_equal(together[r].arm, alone.arm)
    # Replicates are genuinely different trials.
    assert not np.array_equal(together[0].visits.sledai, together[1].visits.sledai)


def test_same_protocol_same_result() -> None:
    protocol = load_protocol(ROOT / "protocols" / "he2020.toml")
    a, b = simulate_trials(protocol, [4])[0], simulate_trials(protocol, [4])[0]
    assert np.array_equal(a.visits.sledai, b.visits.sledai)
    assert np.array_equal(a.visits.pga, b.visits.pga)
    assert a.adverse.equals(b.adverse)
    c = simulate_trials(protocol.with_overrides(seed=protocol.trial.seed + 1), [4])[0]
    assert not np.array_equal(a.visits.sledai, c.visits.sledai)
