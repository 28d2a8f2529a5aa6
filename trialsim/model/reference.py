r"""A tight reference solution of the immune-balance equations, patient by patient.

The same right-hand side as :mod:`trialsim.model.dynamics` (its docstring has the
equations), integrated with ``scipy.integrate.solve_ivp`` (LSODA, ``rtol`` 1e-8, ``atol``
1e-10) one patient at a time, restarted at every dose and every sample day. The plasma
concentration is the formula of :mod:`trialsim.model.pk` inlined as a function of t (exact
superposition of every dose given so far, without the 5-day memory cut-off and without the
30-minute grid), so the only approximation left is the ODE solver's.

It exists to measure the production integrator (:mod:`trialsim.model.kernel`): the accuracy
tests and ``make bench`` (``speedup_vs_reference``, ``max_relative_state_error``, the SRI-4
and SLEDAI-2K agreement) compare the two. It is about a thousand times slower; never use it
in a simulation.
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp

from trialsim.model.dynamics import STATES, STEP_DAYS, Trajectory
from trialsim.model.parameters import ModelParameters
from trialsim.model.pk import concentration
from trialsim.model.variability import PatientParameters
from trialsim.regimen import DoseSchedule
from trialsim.sledai import DOMAINS

RTOL = 1e-8
ATOL = 1e-10
_PEAK_GRID_DAYS = 1 / 1440   # plasma peak searched on a 1-minute grid


def _pk_coefficients(route: str, p: ModelParameters) -> tuple[float, float]:
    """(c_e, c_a): a 1-MIU dose gives c_e·e^(−ke τ) − c_a·e^(−ka τ) pM at τ days."""
    if route == "iv":
        return p.pmol_per_miu / p.volume_l, 0.0
    c = p.bioavailability_sc * p.pmol_per_miu * p.ka / (p.volume_l * (p.ka - p.ke))
    return c, c


def _rhs(p: ModelParameters, theta: float, c_endo: float, occ_r0: float, occ_k0: float,
         treg_gain: float, s_f: float, s_h: float, soc: float, domain_rate: np.ndarray,
         pk: tuple[float, float], t0: float, e0: float, a0: float):
    """The right-hand side on one restart segment [t0, next breakpoint).

    ``e0``, ``a0`` are Σ amount·e^(−ke (t0 − t_dose)) and Σ amount·e^(−ka (t0 − t_dose))
    over the doses given at or before ``t0``, so C(t) = c_e·e0·e^(−ke (t − t0)) −
    c_a·a0·e^(−ka (t − t0)) on the segment.
    """
    c_e, c_a = pk
    ke, ka = p.ke, p.ka
    w_f, w_h, w_a, w_k = p.weight_tfh, p.weight_th17, p.weight_antibody, p.weight_effector
    f_ll, lam = p.long_lived_fraction, p.loop_gain
    phi = p.treg_pool   # host's baseline Treg pool relative to SLE (trialsim.model.hosts)

    def f(t: float, y: np.ndarray) -> np.ndarray:
        S, D, R, K, F, H, P, A, X = y[:9]
        Y = y[9:-1]
        tau = t - t0
        conc = c_e * e0 * np.exp(-ke * tau) - c_a * a0 * np.exp(-ka * tau)
        exo = theta * max(conc, 0.0)
        sink = max(1.0 + phi * p.treg_sink * (R - 1.0) + phi * p.desensitisation_sink * D,
                   0.2)
        il2 = (exo + c_endo) / sink
        occ_r = il2 / (il2 + p.ec50_treg_pm)
        occ_k = il2 / (il2 + p.ec50_effector_pm)
        ag = (1.0 - lam) + lam * X
        drive = w_f * F + w_h * H + w_a * A + w_k * K
        soc_t = soc * (1.0 - np.exp(-t / p.soc_onset_days))
        dy = np.empty_like(y)
        dy[0] = p.signal_rate * (occ_r - S)
        dy[1] = p.desensitisation_rate * (max(R - 1.0, 0.0) - D)
        gain = treg_gain / phi if S - occ_r0 > 0.0 else treg_gain   # trialsim.model.hosts
        dy[2] = p.treg_return * R * (1.0 + gain * (S - occ_r0) / (1.0 - occ_r0) - R)
        dy[3] = p.effector_return * K * (
            1.0 + p.effector_gain * (occ_k - occ_k0) / (1.0 - occ_k0) - K)
        dy[4] = p.tfh_rate * (ag * (1.0 + s_f) / (1.0 + s_f * R) - F)
        dy[5] = p.th17_rate * (ag * (1.0 + s_h) / (1.0 + s_h * R) - H)
        dy[6] = p.plasmablast_rate * (F - P)
        dy[7] = p.antibody_rate * (f_ll + (1.0 - f_ll) * P - A)
        dy[8] = p.tissue_rate * ((1.0 - soc_t) * drive - X)
        dy[9:-1] = domain_rate * (X - Y)
        dy[-1] = exo
        return dy

    return f


def integrate_patient(schedule: DoseSchedule, patients: PatientParameters, i: int,
                      params: ModelParameters, sample_days: np.ndarray,
                      grid_days: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Patient ``i`` under ``schedule``: (states at ``sample_days``, states on ``grid_days``).

    Rows are the states S, D, R, K, F, H, P, A, X, the organ domains Y and the exposure
    AUC (pM·day), in that order. ``grid_days`` (default: none) are extra output times, for
    example the 6-hour grid on which the production integrator takes its extremes.
    """
    p, pp = params, patients
    sample_days = np.asarray(sample_days, dtype=float)
    grid = np.zeros(0) if grid_days is None else np.asarray(grid_days, dtype=float)
    horizon = float(sample_days.max())
    c_endo = p.endogenous_il2_pm * pp.il2_deficiency[i]
    occ_r0 = c_endo / (c_endo + p.ec50_treg_pm)
    occ_k0 = c_endo / (c_endo + p.ec50_effector_pm)
    domain_rate = np.array([p.renal_rate if d == "renal" else p.organ_rate for d in DOMAINS])
    pk = _pk_coefficients(schedule.route, p)
    doses = [(float(t), float(a)) for t, a in zip(schedule.times, schedule.amounts,
                                                   strict=True) if t <= horizon]
    cuts = sorted({0.0, horizon, *(t for t, _ in doses)})
    y = np.concatenate([[occ_r0, 0.0], np.ones(7), np.ones(len(DOMAINS)), [0.0]])
    want = np.concatenate([sample_days, grid])
    out = np.empty((y.size, want.size))
    out[:, want == 0.0] = y[:, None]
    for t0, t1 in zip(cuts[:-1], cuts[1:], strict=True):
        given = [(td, a) for td, a in doses if td <= t0]
        e0 = sum(a * np.exp(-p.ke * (t0 - td)) for td, a in given)
        a0 = sum(a * np.exp(-p.ka * (t0 - td)) for td, a in given)
        rhs = _rhs(p, float(pp.exposure[i]), c_endo, occ_r0, occ_k0, float(pp.treg_gain[i]),
                   float(pp.tfh_suppression[i]), float(pp.th17_suppression[i]),
                   float(pp.soc_effect[i]), domain_rate, pk, t0, e0, a0)
        inside = (want > t0) & (want <= t1)
        sol = solve_ivp(rhs, (t0, t1), y, method="LSODA", rtol=RTOL, atol=ATOL,
                        t_eval=np.unique(np.append(want[inside], t1)))
        if not sol.success:  # pragma: no cover - LSODA does not fail on this smooth system
            raise RuntimeError(f"reference integration failed: {sol.message}")
        idx = np.searchsorted(sol.t, want[inside])
        out[:, inside] = sol.y[:, idx]
        y = sol.y[:, -1]
    return out[:, :sample_days.size], out[:, sample_days.size:]


def simulate_reference(schedules: list[DoseSchedule], arm: np.ndarray,
                       patients: PatientParameters, params: ModelParameters,
                       sample_days: np.ndarray) -> Trajectory:
    """:func:`trialsim.model.simulate`'s contract, solved patient by patient (slow).

    Extremes are taken on the 6-hour grid, as the production integrator takes them; the
    plasma peak on a 1-minute grid.
    """
    sample_days = np.asarray(sample_days, dtype=float)
    horizon = float(sample_days.max())
    n, v, m = len(patients), sample_days.size, len(DOMAINS)
    grid = np.arange(1, int(np.ceil(horizon / STEP_DAYS - 1e-9)) + 1) * STEP_DAYS
    fine = np.arange(0.0, horizon + _PEAK_GRID_DAYS / 2, _PEAK_GRID_DAYS)
    peak_typical = np.array([concentration(s, fine, params).max(initial=0.0)
                             for s in schedules])
    states = {k: np.empty((n, v)) for k in STATES}
    Y = np.empty((n, v, m))
    auc = np.empty(n)
    ext = {k: np.empty(n) for k in ("R_max", "K_max", "F_min", "H_min")}
    for i in range(n):
        at, on = integrate_patient(schedules[arm[i]], patients, i, params, sample_days, grid)
        for j, k in enumerate(STATES):
            states[k][i] = at[j]
        Y[i] = at[9:9 + m].T
        auc[i] = at[-1, -1]
        ext["R_max"][i] = max(1.0, on[2].max(initial=1.0))
        ext["K_max"][i] = max(1.0, on[3].max(initial=1.0))
        ext["F_min"][i] = min(1.0, on[4].min(initial=1.0))
        ext["H_min"][i] = min(1.0, on[5].min(initial=1.0))
    peak = patients.exposure * peak_typical[np.asarray(arm)]
    return Trajectory(sample_days, states, Y, peak, auc, ext)
