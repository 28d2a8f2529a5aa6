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


def adverse_event_days(schedules: list[DoseSchedule], arm: np.ndarray, exposure: np.ndarray,
                       rng: np.random.Generator) -> pd.DataFrame:
    """Day of each event in :data:`EVENTS` had the patient stayed in the trial (inf: none).

    The event comes with the dose at which the cumulative hazard Σ h first reaches
    E = −ln(1 − u), u ~ Uniform(0, 1) per patient and event: the same u and the same events
    as ``u < 1 − exp(−Σ h)`` over the doses received, now with a time, so that dropout can
    depend on an adverse event that happened (:mod:`trialsim.conduct`)."""
    n = arm.size
    dummy = max((len(s) for s in schedules if s.route == "sc"), default=0)
    dummy_times = next((s.times for s in schedules if s.route == "sc" and len(s) == dummy),
                       np.zeros(0))
    u = rng.random((n, len(EVENTS)))
    threshold = -np.log1p(-u)
    days = np.full((n, len(EVENTS)), np.inf)
    for k, sched in enumerate(schedules):
        idx = np.flatnonzero(arm == k)
        if not idx.size:
            continue
        per_dose = {e: np.zeros((idx.size, 0)) for e in EVENTS}
        times = sched.times
        if len(sched) == 0:  # placebo: dummy injections only
            times = dummy_times
            per_dose["injection_site_reaction"] = np.full((idx.size, times.size), H_INJECTION)
        else:
            dose = np.broadcast_to(sched.amounts[None, :], (idx.size, times.size))
            if sched.route == "sc":
                per_dose["injection_site_reaction"] = H_INJECTION + H_ISR_PER_MIU * dose
            cytokine = (exposure[idx, None] * dose) ** CYTOKINE_EXPONENT
            per_dose["fever"] = H_FEVER * cytokine
            per_dose["flu_like"] = H_FLU * cytokine
        for j, e in enumerate(EVENTS):
            h = per_dose[e]
            if not h.size:
                continue
            reached = np.cumsum(h, axis=1) >= threshold[idx, j, None]
            first = np.argmax(reached, axis=1)
            days[idx, j] = np.where(reached.any(axis=1), times[first], np.inf)
    return pd.DataFrame(days, columns=list(EVENTS))


def adverse_events(schedules: list[DoseSchedule], arm: np.ndarray, exposure: np.ndarray,
                   dropout_day: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """One boolean column per event in :data:`EVENTS`, one row per patient: the events of
    :func:`adverse_event_days` that fall on or before the patient's dropout day."""
    return events_before(adverse_event_days(schedules, arm, exposure, rng), dropout_day)


def events_before(days: pd.DataFrame, dropout_day: np.ndarray) -> pd.DataFrame:
    """Which events of :func:`adverse_event_days` happened (on or before dropout)."""
    d = days.to_numpy()
    return pd.DataFrame(np.isfinite(d) & (d <= np.asarray(dropout_day)[:, None]),
                        columns=days.columns)
