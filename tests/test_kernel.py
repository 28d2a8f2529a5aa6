"""The compiled model kernel (trialsim/model/kernel.py): equal to a plain numpy version of its
scheme, close to a tight reference solution of the same equations, second order, and
independent of threads, blocks and patient order."""

from __future__ import annotations

import multiprocessing

import numba
import numpy as np
import pytest

from tests import kernel_oracle
from trialsim.model import DEFAULT_PARAMETERS, kernel, sample_patient_parameters, simulate
from trialsim.model import dynamics as dyn
from trialsim.model.reference import simulate_reference
from trialsim.protocol import Model, Regimen
from trialsim.regimen import PLACEBO, dose_schedule

HE2020 = Regimen(dose_miu=1.0, every_days=2, on_days=14, off_days=14, cycles=3)
DAILY = Regimen(dose_miu=1.0, every_days=1)
HIGH_IV = Regimen(dose_miu=18.0, every_days=1, on_days=5, off_days=9, route="iv")


def _patients(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return sample_patient_parameters(rng.standard_normal(n), DEFAULT_PARAMETERS, Model(), rng)


def _kernel_inputs(regimens, arm, pp, days):
    horizon = float(np.max(days))
    sched = [dose_schedule(r, horizon) if r is not None else PLACEBO for r in regimens]
    return dyn.kernel_inputs(sched, arm, pp, DEFAULT_PARAMETERS, days)


@pytest.mark.parametrize("regimens", [
    (None, HE2020), (DAILY, None, HIGH_IV), (HE2020, DAILY),
], ids=["he2020", "daily+iv", "no-placebo"])
def test_kernel_equals_the_numpy_version_of_its_scheme(regimens) -> None:
    """37 patients (not a multiple of the block size) in interleaved arms, 8 weeks, two visits
    sharing a day: every output equal to 1e-10 relative."""
    n = 37
    arm = np.arange(n) % len(regimens)
    days = np.array([0.0, 1.0, 3.5, 7.0, 7.0, 14.0, 30.0, 56.0])
    inputs = _kernel_inputs(regimens, arm, _patients(n), days)
    got = kernel.run(*inputs)
    want = kernel_oracle.run(*inputs)
    for name, g, w in zip(("states", "Y", "peak/auc", "extremes"), got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-13, err_msg=name)
    assert (got[2][:, 0] > 0).sum() == sum(regimens[a] is not None for a in arm)


def _rel_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b) / np.abs(b)))


@pytest.fixture(scope="module")
def reference_case():
    """He 2020 regimen over its first 4 weeks (the whole first cycle and its off-phase),
    3 placebo and 3 IL-2 patients, on a 12-hour grid: the reference and the kernel."""
    pp = _patients(6, seed=3)
    arm = np.array([0, 1, 0, 1, 0, 1])
    days = np.arange(0.0, 28.01, 0.5)
    sched = [PLACEBO, dose_schedule(HE2020, 28.0)]
    ref = simulate_reference(sched, arm, pp, DEFAULT_PARAMETERS, days)
    return sched, arm, pp, days, ref


def test_kernel_agrees_with_the_reference_solution(reference_case) -> None:
    """Issue 9: every state within 0.5% of LSODA (rtol 1e-8) on the same equations. The
    first-order splitting of the former integrator was 2-3% off in Treg; the plain Strang
    composition (Treg driven by the signal at the step's middle) 0.51% in Treg and 0.63% in
    D here; Treg driven by the mean signal of each half step 0.15% and 0.24%."""
    sched, arm, pp, days, ref = reference_case
    got = simulate(sched, arm, pp, DEFAULT_PARAMETERS, days)
    for name in dyn.STATES:
        r, g = ref[name], got[name]
        if name == "D":   # starts at 0: measure it in units of its largest value
            assert np.max(np.abs(g - r)) < 0.005 * np.max(r), name
        else:
            assert _rel_error(g, r) < 0.005, (name, _rel_error(g, r))
    assert _rel_error(got.Y, ref.Y) < 0.005
    treated = arm == 1
    assert _rel_error(got.exposure_auc[treated], ref.exposure_auc[treated]) < 0.01
    np.testing.assert_array_equal(got["R"][~treated], 1.0)


def test_step_error_is_second_order(reference_case, monkeypatch) -> None:
    """Halving the step (with the PK sub-steps at the same count per step) cuts the largest
    Treg and Tfh errors about 4-fold (a first-order scheme: 2-fold); we require > 3."""
    sched, arm, pp, days, ref = reference_case

    def errors() -> np.ndarray:
        got = simulate(sched, arm, pp, DEFAULT_PARAMETERS, days)
        return np.array([_rel_error(got[s], ref[s]) for s in ("R", "F", "X")])

    coarse = errors()
    monkeypatch.setattr(dyn, "STEP_DAYS", dyn.STEP_DAYS / 2)
    fine = errors()
    assert (coarse / fine > 3.0).all(), coarse / fine


def test_threads_blocks_and_patient_order_do_not_change_results(monkeypatch) -> None:
    n = 50
    pp = _patients(n, seed=7)
    arm = np.arange(n) % 3
    days = np.array([0.0, 7.0, 21.0, 42.0])
    sched = [PLACEBO, dose_schedule(HE2020, 42.0), dose_schedule(DAILY, 42.0)]
    base = simulate(sched, arm, pp, DEFAULT_PARAMETERS, days)

    monkeypatch.setattr(kernel, "PARALLEL_MIN_PATIENTS", 0)
    kernel.set_threads(2)
    try:
        threaded = simulate(sched, arm, pp, DEFAULT_PARAMETERS, days)
    finally:
        kernel.set_threads(None)
    for name in dyn.STATES:
        np.testing.assert_array_equal(threaded[name], base[name])

    perm = np.random.default_rng(1).permutation(n)
    shuffled = type(pp)(**{k: getattr(pp, k)[perm] for k in pp.__dataclass_fields__})
    moved = simulate(sched, arm[perm], shuffled, DEFAULT_PARAMETERS, days)
    for name in dyn.STATES:
        np.testing.assert_array_equal(moved[name], base[name][perm])
    np.testing.assert_array_equal(moved.Y, base.Y[perm])
    np.testing.assert_array_equal(moved.extremes["R_max"], base.extremes["R_max"][perm])


def test_thread_setting(monkeypatch) -> None:
    """Worker processes run the kernel serially unless told otherwise; the main process may
    use every core numba sees; the setting is validated."""
    with pytest.raises(ValueError, match="threads must be >= 1"):
        kernel.set_threads(0)
    monkeypatch.delenv("TRIALSIM_MODEL_THREADS", raising=False)
    assert kernel.threads() == numba.config.NUMBA_NUM_THREADS
    with multiprocessing.get_context("fork").Pool(1) as pool:
        assert pool.apply(kernel.threads) == 1
    monkeypatch.setenv("TRIALSIM_MODEL_THREADS", "1")
    assert kernel.threads() == 1


def test_no_patients_gives_empty_trajectories() -> None:
    pp = _patients(0)
    traj = simulate([PLACEBO], np.zeros(0, dtype=int), pp, DEFAULT_PARAMETERS,
                    np.array([0.0, 7.0]))
    assert traj["R"].shape == (0, 2) and traj.Y.shape[:2] == (0, 2)


def test_negative_treg_target_follows_the_equations() -> None:
    """Issue 9: in high-gain patients the Treg target 1 + g·(S − S0)/(1 − S0) falls below 0
    after an on-phase (expanded Treg consume IL-2, the signal drops under its baseline). The
    kernel used to floor it at 1e-3, which kept Treg 1.4% (target −0.10) and 3.0% (−0.19)
    above the reference in the off-phase; integrated as the equation says, within 0.25%."""
    pp = _patients(2, seed=5)
    pp = type(pp)(**{**{k: getattr(pp, k) for k in pp.__dataclass_fields__},
                     "treg_gain": np.full(2, 14.0), "exposure": np.full(2, 1.35),
                     "il2_deficiency": np.array([0.83, 1.0])})
    arm = np.ones(2, dtype=int)
    days = np.arange(0.0, 21.01, 0.25)
    sched = [PLACEBO, dose_schedule(HE2020, 21.0)]
    ref = simulate_reference(sched, arm, pp, DEFAULT_PARAMETERS, days)
    c_endo = DEFAULT_PARAMETERS.endogenous_il2_pm * pp.il2_deficiency[:, None]
    s0 = c_endo / (c_endo + DEFAULT_PARAMETERS.ec50_treg_pm)
    target = 1.0 + 14.0 * (ref["S"] - s0) / (1.0 - s0)
    assert (target.min(axis=1) < -0.05).all()   # the case is exercised
    got = simulate(sched, arm, pp, DEFAULT_PARAMETERS, days)
    off = days >= 14.0
    assert _rel_error(got["R"][:, off], ref["R"][:, off]) < 0.005
