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

    IL2(t)   = (θ·C(t) + δ·c_endo) / max(1 + φ·sink·(R − 1) + φ·sink_D·D, 0.2)  [pM]
    dD/dt    = k_D (max(R − 1, 0) − D)
    occ_r    = IL2 / (IL2 + EC50_αβγ);  occ_k = IL2 / (IL2 + EC50_βγ)
    dS/dt    = k_S (occ_r − S)
    dR/dt    = k_R R (1 + g_R·(S − S0)/(1 − S0) − R)    g_R/φ where S > S0  (logistic)
    dK/dt    = k_K K (1 + g_K (occ_k − occ_k0)/(1 − occ_k0) − K)
    Ag       = (1 − λ) + λ X                                                (autoantigen loop)
    dF/dt    = k_F (Ag (1 + s_F)/(1 + s_F R) − F)
    dH/dt    = k_H (Ag (1 + s_H)/(1 + s_H R) − H)
    dP/dt    = k_P (F − P)
    dA/dt    = k_A (f_LL + (1 − f_LL) P − A)
    I        = w_F F + w_H H + w_A A + w_K K                                (Σw = 1)
    dX/dt    = k_X ((1 − soc(t)) I − X),   soc(t) = soc·(1 − e^(−t/τ_soc))
    dY_d/dt  = k_d (X − Y_d)

φ is the host's baseline Treg pool relative to SLE (``treg_pool``, 1 in SLE;
:mod:`trialsim.model.hosts`). S0 and occ_k0 are the baseline occupancies from endogenous
IL-2 alone. The receptors are
saturable, so while drug is on board the occupancies are taken on a 30-minute grid of C(t)
(the hours-long s.c. peaks are seen as peaks, not as their mean). The sink divisor is floored
at 0.2 so a contracted Treg pool cannot make IL-2 diverge. Expanded Treg consume IL-2 (the
sink), so off drug their signal falls below baseline and they shrink back: IL-2 competition
is the homeostat, and under continued dosing the same sink blunts exposure (tachyphylaxis).

Integration (:mod:`trialsim.model.kernel`, compiled with numba): steps of 6 hours, each a
second-order operator splitting (a Strang composition in which Treg are driven by the mean
IL-2 signal of each half step) of exact (or Padé-exact) flows of the single equations, with
30-minute PK sub-steps only where drug is on board. Unconditionally stable and positivity
preserving; within 0.5% of a tight LSODA solution of the same equations for the He 2020
regimen, about 1% in the first days of a cGVHD-host expansion (:mod:`trialsim.model.reference`;
``make bench`` measures it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trialsim.errors import ModelError
from trialsim.model.parameters import DEFAULT_PARAMETERS, ModelParameters
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


def _constants(patients: PatientParameters, p: ModelParameters) -> tuple[np.ndarray, np.ndarray]:
    """The kernel's per-patient constants (n, 7) and population constants, computed once
    (column names: ``kernel.PAT_COLUMNS`` and ``kernel.POP_ENTRIES``)."""
    pp = patients
    # A host with a baseline Treg pool φ = treg_pool times the SLE one (trialsim.model.hosts):
    # IL-2 consumption and the niche exogenous IL-2 adds are absolute numbers of cells, so
    # in units of the host's own baseline the sinks are φ times and the gain above the
    # baseline signal 1/φ times SLE's; a shortfall below it shrinks the host's own pool
    # with the SLE gain.
    phi = p.treg_pool
    pat = np.column_stack([
        pp.exposure, p.endogenous_il2_pm * pp.il2_deficiency, pp.treg_gain,
        pp.tfh_suppression, pp.th17_suppression, pp.soc_effect, pp.treg_gain / phi,
    ])
    pop = np.array([
        p.ec50_treg_pm, p.ec50_effector_pm, p.treg_sink * phi, p.desensitisation_sink * phi,
        p.signal_rate, p.desensitisation_rate, p.treg_return, p.effector_return,
        p.effector_gain, p.tfh_rate, p.th17_rate, p.plasmablast_rate, p.antibody_rate,
        p.long_lived_fraction, p.tissue_rate, p.loop_gain, p.weight_tfh, p.weight_th17,
        p.weight_antibody, p.weight_effector, STEP_DAYS,
    ])
    return pat, pop


def arm_concentrations(schedules: list[DoseSchedule], params: ModelParameters,
                       n_steps: int) -> np.ndarray:
    """(arms, steps, SUBSTEPS): each arm's typical plasma IL-2 (pM) at the sub-step midpoints."""
    fine = (np.arange(n_steps * SUBSTEPS) + 0.5) * (STEP_DAYS / SUBSTEPS)
    return np.stack([concentration(s, fine, params).reshape(n_steps, SUBSTEPS)
                     for s in schedules])


def kernel_inputs(schedules: list[DoseSchedule], arm: np.ndarray,
                  patients: PatientParameters, params: ModelParameters,
                  sample_days: np.ndarray) -> tuple[np.ndarray, ...]:
    """The arguments of :func:`trialsim.model.kernel.run` for :func:`simulate`'s inputs:
    arm, per-arm plasma curves, per-patient and population constants, the standard-of-care
    ramp at each step's middle, the organ-domain rates and each sample's step."""
    p = params
    sample_days = np.asarray(sample_days, dtype=float)
    n_steps = int(np.ceil(sample_days.max() / STEP_DAYS - 1e-9))
    sample_step = np.rint(sample_days / STEP_DAYS).astype(np.int64)
    conc = arm_concentrations(schedules, p, n_steps)
    pat, pop = _constants(patients, p)
    soc_mid = 1.0 - np.exp(-(np.arange(n_steps) + 0.5) * STEP_DAYS / p.soc_onset_days)
    domain_rate = np.array([p.renal_rate if d == "renal" else p.organ_rate for d in DOMAINS])
    return np.asarray(arm), conc, pat, pop, soc_mid, domain_rate, sample_step


def simulate(
    schedules: list[DoseSchedule],
    arm: np.ndarray,
    patients: PatientParameters,
    params: ModelParameters,
    sample_days: np.ndarray,
) -> Trajectory:
    """Integrate every patient from day 0 to ``max(sample_days)`` (compiled kernel,
    :mod:`trialsim.model.kernel`).

    ``schedules[k]`` is the dose schedule of arm ``k`` and ``arm[i]`` patient ``i``'s arm.
    Returns the states at ``sample_days`` (rounded to the 6-hour grid).
    """
    from trialsim.model import kernel  # numba compiles (or loads its cache) on first use

    sample_days = np.asarray(sample_days, dtype=float)
    out, out_y, stat, ext = kernel.run(*kernel_inputs(schedules, arm, patients, params,
                                                      sample_days))
    if not (np.isfinite(out).all() and (out >= 0).all()):
        raise ModelError("the immune-balance model produced a negative or non-finite state")
    states = {name: out[k] for k, name in enumerate(STATES)}
    extremes = {"R_max": ext[:, 0], "K_max": ext[:, 1], "F_min": ext[:, 2],
                "H_min": ext[:, 3]}
    return Trajectory(sample_days, states, out_y, stat[:, 0], stat[:, 1], extremes)


def warm_up() -> None:
    """Load the compiled one-thread kernel now (from numba's cache, or compile it), by
    integrating one untreated patient for a day. Pool backends call it before forking their
    workers, so each worker starts with the kernel in memory instead of loading it itself."""
    from trialsim.regimen import dose_schedule

    p = DEFAULT_PARAMETERS
    one = np.ones(1)
    patients = PatientParameters(
        exposure=one, il2_deficiency=one * p.il2_deficiency, treg_gain=one * p.treg_gain,
        tfh_suppression=one * p.tfh_suppression, th17_suppression=one * p.th17_suppression,
        soc_effect=one * p.soc_effect, entry_flare=one * p.entry_flare,
        site=np.zeros(1, dtype=np.int64))
    simulate([dose_schedule(None, 1.0)], np.zeros(1, dtype=np.int64), patients, p,
             np.array([0.0, 1.0]))
