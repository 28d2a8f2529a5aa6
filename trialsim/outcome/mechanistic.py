"""The mechanistic outcome model: immune-balance dynamics → visits → endpoint.

For a batch of replicates: per-patient parameters (patient-keyed PARAMETERS stream, site
effects from the trial's SITES stream), one array integration of every patient of the batch
(:func:`trialsim.model.simulate`), then per replicate the entry flare and new flares
(FLARES), visit scoring with assessor noise (VISITS), the primary responder endpoint and
adverse events (ADVERSE). The model is elementwise over patients, so a patient's trajectory
does not depend on who else is in the batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from trialsim.endpoints import VisitRecords, record_visits, responders
from trialsim.model import (
    DEFAULT_PARAMETERS,
    ModelParameters,
    PatientParameters,
    Trajectory,
    sample_patient_parameters,
    simulate,
)
from trialsim.model.flares import entry_flare_factor, flare_factor
from trialsim.model.parameter_ensemble import (
    POINT,
    ParameterSet,
    apply_parameter_set,
    draw_parameter_set,
)
from trialsim.model.trial_effects import (
    TrialEffect,
    apply_trial_effect,
    draw_trial_effect,
    trial_effect,
)
from trialsim.outcome.base import Enrolled, OutcomeModel, Outcomes
from trialsim.protocol import Protocol
from trialsim.regimen import DoseSchedule, dose_schedule
from trialsim.safety import adverse_events
from trialsim.streams import Stage


@dataclass(frozen=True)
class MechanisticDetail:
    """The mechanistic model's records of one replicate (arrays over its patients)."""

    parameters: PatientParameters
    trajectory: Trajectory
    visits: VisitRecords
    adverse: pd.DataFrame
    trial_effect: TrialEffect | None = None
    parameter_set: ParameterSet | None = None


def schedules(protocol: Protocol) -> list[DoseSchedule]:
    """Each arm's dose schedule over the trial horizon, in arm order."""
    return [dose_schedule(a.regimen, protocol.horizon_days) for a in protocol.arms]


def _concat_parameters(parts: Sequence[PatientParameters]) -> PatientParameters:
    names = PatientParameters.__dataclass_fields__
    return PatientParameters(**{k: np.concatenate([getattr(p, k) for p in parts])
                                for k in names})


def _slice_trajectory(traj: Trajectory, sl: slice) -> Trajectory:
    return Trajectory(traj.days, {k: v[sl] for k, v in traj.states.items()}, traj.Y[sl],
                      traj.il2_peak_pm[sl], traj.exposure_auc[sl],
                      {k: v[sl] for k, v in traj.extremes.items()})


class MechanisticOutcome(OutcomeModel):
    """``[outcome] model = "mechanistic"`` (the default), with model parameters ``params``.

    Each replicate draws its between-trial effect from its TRIAL_EFFECTS stream when the
    protocol's ``[model] between_trial`` is on and ``conditional`` is False; otherwise the
    effect is typical (s = 0). ``fixed_effect`` forces one value of ``s`` for every replicate
    (used to tabulate the placebo response against ``s`` when fitting).
    """

    name = "mechanistic"

    def __init__(self, params: ModelParameters = DEFAULT_PARAMETERS, *,
                 conditional: bool = False, fixed_effect: float | None = None) -> None:
        self.params = params
        self.conditional = conditional
        self.fixed_effect = fixed_effect

    def effect(self, protocol: Protocol, e: Enrolled) -> TrialEffect:
        """The between-trial effect of replicate ``e``."""
        if self.fixed_effect is not None:
            return trial_effect(self.fixed_effect, self.params)
        if self.conditional or not protocol.model.between_trial:
            return trial_effect(0.0, self.params)
        return draw_trial_effect(e.streams.generator(Stage.TRIAL_EFFECTS), self.params)

    def parameter_set(self, protocol: Protocol, e: Enrolled) -> ParameterSet:
        """The fitted-parameter ensemble member of replicate ``e`` (parameter uncertainty):
        drawn when the between-trial effect is, the point values otherwise."""
        if (self.fixed_effect is not None or self.conditional
                or not protocol.model.between_trial):
            return POINT
        return draw_parameter_set(e.streams.generator(Stage.PARAMETER_SET), self.params)

    def simulate(self, protocol: Protocol, batch: Sequence[Enrolled]) -> list[Outcomes]:
        params = self.params
        effects = [self.effect(protocol, e) for e in batch]
        sets = [self.parameter_set(protocol, e) for e in batch]
        pps = [apply_parameter_set(apply_trial_effect(
            sample_patient_parameters(e.cohort.patients["severity"].to_numpy(), params,
                                      protocol.model,
                                      e.streams.patients(Stage.PARAMETERS, e.ids),
                                      site_rng=e.streams.generator(Stage.SITES)), eff), ps)
               for e, eff, ps in zip(batch, effects, sets, strict=True)]
        sched = schedules(protocol)
        days = np.asarray(protocol.visits.days)
        traj_all = simulate(sched, np.concatenate([e.arm for e in batch]),
                            _concat_parameters(pps), params, days)
        out: list[Outcomes] = []
        start = 0
        for e, pp, eff, ps in zip(batch, pps, effects, sets, strict=True):
            traj = _slice_trajectory(traj_all, slice(start, start + e.n))
            start += e.n
            factor = (entry_flare_factor(days, pp.entry_flare, params)
                      * flare_factor(days, traj["X"], params,
                                     e.streams.patients(Stage.FLARES, e.ids)))
            visits = record_visits(e.cohort, traj, factor, e.dropout_day,
                                   e.streams.patients(Stage.VISITS, e.ids), eff.assessor)
            resp = responders(visits, protocol.endpoint.primary, protocol.endpoint.week)
            ae = adverse_events(sched, e.arm, pp.exposure, e.dropout_day,
                                e.streams.patients(Stage.ADVERSE, e.ids))
            out.append(Outcomes(resp, MechanisticDetail(pp, traj, visits, ae, eff, ps)))
        return out
