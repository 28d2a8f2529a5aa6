r"""The immune-balance dynamics, integrated for a whole cohort as arrays.

States per patient (all normalised to 1 at baseline except the signal ``S``):

=========  =======================================================================
``S``      Treg IL-2 signal (delayed IL-2Rαβγ occupancy, pSTAT5/CD25), 0-1
``D``      IL-2 desensitisation: accumulated Treg expansion (tachyphylaxis), 0 at baseline
``R``      regulatory T cells (Treg)
``K``      IL-2Rβγ effectors (NK, memory CD8, Th1-type)
``F``      follicular helper T cells (Tfh)
``H``      Th17 cells
``P``      plasmablasts
``A``      anti-dsDNA antibody
``X``      systemic disease activity (tissue inflammation)
``Y_d``    organ-domain activity, one per SLEDAI-2K domain, lagging ``X``
=========  =======================================================================

Equations (t in days; θ exposure factor, δ IL-2 deficiency, per patient)::

    IL2(t)   = (θ·C(t) + δ·c_endo) / max(1 + sink·(R − 1) + sink_D·D, 0.2)  [pM]
    dD/dt    = k_D (max(R − 1, 0) − D)
    occ_r    = IL2 / (IL2 + EC50_αβγ);  occ_k = IL2 / (IL2 + EC50_βγ)
    dS/dt    = k_S (occ_r − S)
    dR/dt    = k_R R (1 + g_R (S − S0)/(1 − S0) − R)                       (logistic)
    dK/dt    = k_K K (1 + g_K (occ_k − occ_k0)/(1 − occ_k0) − K)
    Ag       = (1 − λ) + λ X                                                (autoantigen loop)
    dF/dt    = k_F (Ag (1 + s_F)/(1 + s_F R) − F)
    dH/dt    = k_H (Ag (1 + s_H)/(1 + s_H R) − H)
    dP/dt    = k_P (F − P)
    dA/dt    = k_A (f_LL + (1 − f_LL) P − A)
    I        = w_F F + w_H H + w_A A + w_K K                                (Σw = 1)
    dX/dt    = k_X ((1 − soc(t)) I − X),   soc(t) = soc·(1 − e^(−t/τ_soc))
    dY_d/dt  = k_d (X − Y_d)

S0 and occ_k0 are the baseline occupancies from endogenous IL-2 alone. Within each 6-hour
step the occupancies are averaged over the twelve 30-minute PK sub-steps (the receptors are
saturable, so the mean of occupancy, not occupancy of the mean concentration). The sink
divisor is floored at 0.2 so a contracted Treg pool cannot make IL-2 diverge. Expanded Treg consume
IL-2 (the sink), so off drug their signal falls below baseline and they shrink back: IL-2
competition is the homeostat, and under continued dosing the same sink blunts exposure
(tachyphylaxis). C(t) is resolved on a 30-minute grid inside each 6-hour step, so the
hours-long s.c. peaks are seen by the saturable receptors.

Integration: exponential (exact-for-frozen-inputs) steps of ``dt`` days for every state,
which is unconditionally stable; the logistic states use the closed-form logistic step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trialsim.errors import ModelError
from trialsim.model.parameters import ModelParameters
from trialsim.model.pk import concentration
from trialsim.model.variability import PatientParameters
from trialsim.regimen import DoseSchedule
from trialsim.sledai import DOMAINS

STEP_DAYS = 0.25      # slow step: 6 h
SUBSTEPS = 12         # PK resolution inside a step: 30 min
STATES = ("S", "D", "R", "K", "F", "H", "P", "A", "X")


@dataclass(frozen=True)
class Trajectory:
    """Model states sampled at ``days``: each state an array of shape (n, len(days)).

    ``Y`` has shape (n, len(days), len(DOMAINS)); ``il2_peak_pm`` is each patient's highest
    plasma IL-2 over the whole course (pM) and ``exposure_auc`` the area under the plasma
    curve (pM·day). ``extremes`` holds each patient's highest Treg (``R_max``) and effector
    (``K_max``) and lowest Tfh (``F_min``) and Th17 (``H_min``) over every 6-hour step, which
    visits can miss under short intensive regimens.
    """

    days: np.ndarray
    states: dict[str, np.ndarray]
    Y: np.ndarray
    il2_peak_pm: np.ndarray
    exposure_auc: np.ndarray
    extremes: dict[str, np.ndarray]

    def __getitem__(self, name: str) -> np.ndarray:
        return self.states[name]


def _logistic_step(x: np.ndarray, target: np.ndarray, rate: float, dt: float) -> np.ndarray:
    """Exact step of dx/dt = rate·x·(target − x) with ``target`` frozen over ``dt``."""
    target = np.maximum(target, 1e-3)
    return target / (1.0 + (target / x - 1.0) * np.exp(-rate * target * dt))


def _relax(x: np.ndarray, target: np.ndarray, rate: float | np.ndarray, dt: float) -> np.ndarray:
    """Exact step of dx/dt = rate·(target − x) with ``target`` frozen over ``dt``."""
    return target + (x - target) * np.exp(-rate * dt)


def simulate(
    schedules: list[DoseSchedule],
    arm: np.ndarray,
    patients: PatientParameters,
    params: ModelParameters,
    sample_days: np.ndarray,
) -> Trajectory:
    """Integrate every patient at once from day 0 to ``max(sample_days)``.

    ``schedules[k]`` is the dose schedule of arm ``k`` and ``arm[i]`` patient ``i``'s arm.
    Returns the states at ``sample_days`` (rounded to the 6-hour grid).
    """
    p, pp = params, patients
    sample_days = np.asarray(sample_days, dtype=float)
    n_steps = int(np.ceil(sample_days.max() / STEP_DAYS - 1e-9))
    sample_step = np.rint(sample_days / STEP_DAYS).astype(int)
    fine = (np.arange(n_steps * SUBSTEPS) + 0.5) * (STEP_DAYS / SUBSTEPS)
    conc = np.stack([concentration(s, fine, p).reshape(n_steps, SUBSTEPS) for s in schedules])
    dosing_step = conc.max(axis=(0, 2)) > 0.0
    n = len(pp)

    c_endo = p.endogenous_il2_pm * pp.il2_deficiency
    occ_r0 = c_endo / (c_endo + p.ec50_treg_pm)
    occ_k0 = c_endo / (c_endo + p.ec50_effector_pm)
    w_f, w_h, w_a, w_k = p.weight_tfh, p.weight_th17, p.weight_antibody, p.weight_effector
    domain_rate = np.array([p.renal_rate if d == "renal" else p.organ_rate for d in DOMAINS])

    one = np.ones(n)
    S, D = occ_r0.copy(), np.zeros(n)
    R, K, F, H, P, A, X = (one.copy() for _ in range(7))
    Y = np.ones((n, len(DOMAINS)))
    peak = np.zeros(n)
    auc = np.zeros(n)
    r_max, k_max, f_min, h_min = one.copy(), one.copy(), one.copy(), one.copy()
    out = {k: np.empty((n, sample_days.size)) for k in STATES}
    out_y = np.empty((n, sample_days.size, len(DOMAINS)))
    dt = STEP_DAYS
    soc_decay = np.exp(-np.arange(n_steps + 1) * dt / p.soc_onset_days)

    def record(step: int) -> None:
        for k_col in np.flatnonzero(sample_step == step):
            for name, val in zip(STATES, (S, D, R, K, F, H, P, A, X), strict=True):
                out[name][:, k_col] = val
            out_y[:, k_col] = Y

    record(0)
    for j in range(n_steps):
        sink = np.maximum(1.0 + p.treg_sink * (R - 1.0) + p.desensitisation_sink * D, 0.2)
        if dosing_step[j]:
            exo = pp.exposure[:, None] * conc[arm, j, :]
            il2 = (exo + c_endo[:, None]) / sink[:, None]
            occ_r = (il2 / (il2 + p.ec50_treg_pm)).mean(axis=1)
            occ_k = (il2 / (il2 + p.ec50_effector_pm)).mean(axis=1)
            peak = np.maximum(peak, exo.max(axis=1))
            auc += exo.mean(axis=1) * dt
        else:
            il2 = c_endo / sink
            occ_r = il2 / (il2 + p.ec50_treg_pm)
            occ_k = il2 / (il2 + p.ec50_effector_pm)
        S = _relax(S, occ_r, p.signal_rate, dt)
        D = _relax(D, np.maximum(R - 1.0, 0.0), p.desensitisation_rate, dt)
        R = _logistic_step(R, 1.0 + pp.treg_gain * (S - occ_r0) / (1.0 - occ_r0),
                           p.treg_return, dt)
        K = _logistic_step(K, 1.0 + p.effector_gain * (occ_k - occ_k0) / (1.0 - occ_k0),
                           p.effector_return, dt)
        ag = (1.0 - p.loop_gain) + p.loop_gain * X
        F = _relax(F, ag * (1 + pp.tfh_suppression) / (1 + pp.tfh_suppression * R),
                   p.tfh_rate, dt)
        H = _relax(H, ag * (1 + pp.th17_suppression) / (1 + pp.th17_suppression * R),
                   p.th17_rate, dt)
        P = _relax(P, F, p.plasmablast_rate, dt)
        A = _relax(A, p.long_lived_fraction + (1 - p.long_lived_fraction) * P,
                   p.antibody_rate, dt)
        drive = w_f * F + w_h * H + w_a * A + w_k * K
        soc = pp.soc_effect * (1.0 - soc_decay[j + 1])
        X = _relax(X, (1.0 - soc) * drive, p.tissue_rate, dt)
        Y = _relax(Y, X[:, None], domain_rate, dt)
        np.maximum(r_max, R, out=r_max)
        np.maximum(k_max, K, out=k_max)
        np.minimum(f_min, F, out=f_min)
        np.minimum(h_min, H, out=h_min)
        record(j + 1)

    if not all(np.isfinite(v).all() and (v >= 0).all() for v in out.values()):
        raise ModelError("the immune-balance model produced a negative or non-finite state")
    extremes = {"R_max": r_max, "K_max": k_max, "F_min": f_min, "H_min": h_min}
    return Trajectory(sample_days, out, out_y, peak, auc, extremes)
