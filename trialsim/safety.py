"""Adverse events: injection-site reactions, fever and flu-like illness, by dose.

Per-patient risk over the course is 1 − exp(−Σ hazards of the doses received). Hazards are
fitted to He 2020 Table 3 (1 MIU every other day, 21 injections over 12 weeks; placebo also
injected): injection-site reaction 31.0% vs 6.7%, fever 13.8% vs 0%, flu-like 10.3% vs 0%.

* injection-site reaction, per s.c. injection: h_inj + h_isr·D (D in MIU). Placebo injections
  alone: −ln(1 − 0.067)/21 = 0.0033; drug: (−ln(1 − 0.31) − 21·0.0033)/21 MIU = 0.0144/MIU.
* fever and flu-like, per dose: h·(θ·D)^1.5, θ the exposure factor. From 1 MIU × 21:
  fever −ln(1 − 0.138)/21 = 0.0071, flu-like −ln(1 − 0.103)/21 = 0.0052. The exponent 1.5
  (assumed) makes cytokine-release symptoms rise faster than dose, as the IL-2Rβγ window
  opens (Trotta 2018); at cancer doses (≈ 42 MIU i.v.) they become near-certain, as in the
  Proleukin label.

Placebo patients in a double-blind trial receive dummy injections matching the active arm
with the most s.c. doses. Infections and serious events are not modelled (the He 2020 figures
favour IL-2, 6.9% vs 20%, by a mechanism the model does not contain).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trialsim.regimen import DoseSchedule

H_INJECTION = -np.log(1 - 0.067) / 21
H_ISR_PER_MIU = (-np.log(1 - 0.31) - 21 * H_INJECTION) / 21
H_FEVER = -np.log(1 - 0.138) / 21
H_FLU = -np.log(1 - 0.103) / 21
CYTOKINE_EXPONENT = 1.5
EVENTS: tuple[str, ...] = ("injection_site_reaction", "fever", "flu_like")


def adverse_events(schedules: list[DoseSchedule], arm: np.ndarray, exposure: np.ndarray,
                   dropout_day: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """One boolean column per event in :data:`EVENTS`, one row per patient."""
    n = arm.size
    dummy = max((len(s) for s in schedules if s.route == "sc"), default=0)
    dummy_times = next((s.times for s in schedules if s.route == "sc" and len(s) == dummy),
                       np.zeros(0))
    hazards = {e: np.zeros(n) for e in EVENTS}
    for k, sched in enumerate(schedules):
        idx = np.flatnonzero(arm == k)
        if len(sched) == 0:  # placebo: dummy injections only
            got = dummy_times[None, :] <= dropout_day[idx, None]
            hazards["injection_site_reaction"][idx] = H_INJECTION * got.sum(axis=1)
            continue
        got = sched.times[None, :] <= dropout_day[idx, None]          # (patients, doses)
        dose = sched.amounts[None, :] * got
        if sched.route == "sc":
            hazards["injection_site_reaction"][idx] = (
                H_INJECTION * got.sum(axis=1) + H_ISR_PER_MIU * dose.sum(axis=1))
        cytokine = ((exposure[idx, None] * dose) ** CYTOKINE_EXPONENT).sum(axis=1)
        hazards["fever"][idx] = H_FEVER * cytokine
        hazards["flu_like"][idx] = H_FLU * cytokine
    u = rng.random((n, len(EVENTS)))
    return pd.DataFrame({e: u[:, j] < 1 - np.exp(-hazards[e]) for j, e in enumerate(EVENTS)})
