"""Pharmacokinetics of aldesleukin: dose events → plasma concentration (pM).

One-compartment linear model, exact by superposition:

* s.c.: depot → plasma with first-order absorption ``ka`` and elimination ``ke``;
  C(τ) = F·D·ka / (V·(ka − ke)) · (e^(−ke·τ) − e^(−ka·τ))  (ka < ke: flip-flop kinetics).
* i.v. bolus: C(τ) = D / V · e^(−ke·τ).

D is the dose in pmol, V the volume in L, τ the time since the dose in days. Being linear,
a patient's curve is the typical curve scaled by their exposure factor (bioavailability and
volume variability, :mod:`trialsim.model.variability`), so the curve is computed once per
arm on a fine grid and shared by every patient of the arm.
"""

from __future__ import annotations

import numpy as np

from trialsim.model.parameters import ModelParameters
from trialsim.regimen import DoseSchedule

# Beyond this many days a dose's contribution is < 1e-9 of its peak (ka = 5/day): skip it.
_MEMORY_DAYS = 5.0


def unit_response(tau: np.ndarray, route: str, params: ModelParameters) -> np.ndarray:
    """Plasma IL-2 (pM) at ``tau`` days after a 1-MIU dose; 0 before the dose."""
    dose_pmol = params.pmol_per_miu
    ke, ka, v = params.ke, params.ka, params.volume_l
    tau = np.asarray(tau, dtype=float)
    after = tau >= 0
    t = np.where(after, tau, 0.0)
    if route == "iv":
        c = dose_pmol / v * np.exp(-ke * t)
    else:
        c = (params.bioavailability_sc * dose_pmol * ka / (v * (ka - ke))
             * (np.exp(-ke * t) - np.exp(-ka * t)))
    return np.where(after, c, 0.0)


def concentration(schedule: DoseSchedule, times: np.ndarray,
                  params: ModelParameters) -> np.ndarray:
    """Typical-patient plasma IL-2 (pM) at ``times`` (days) under ``schedule``."""
    times = np.asarray(times, dtype=float)
    out = np.zeros_like(times)
    for t_dose, amount in zip(schedule.times, schedule.amounts, strict=True):
        lo, hi = np.searchsorted(times, [t_dose, t_dose + _MEMORY_DAYS])
        out[lo:hi] += amount * unit_response(times[lo:hi] - t_dose, schedule.route, params)
    return out
