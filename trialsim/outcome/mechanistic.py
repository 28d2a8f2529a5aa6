"""The mechanistic outcome model: immune-balance dynamics → visits → endpoints.

For a batch of replicates: per-patient parameters (patient-keyed PARAMETERS stream, site
effects from the trial's SITES stream), one array integration of every patient of the batch
(:func:`trialsim.model.simulate`), then per replicate the entry flare and new flares
(FLARES), visit scoring with assessor noise and BILAG grades (VISITS), adverse-event days
(ADVERSE), dropout and rescue therapy (:mod:`trialsim.conduct`; the DROPOUT draw of
enrolment), and every endpoint of the protocol (:mod:`trialsim.endpoints.registry`;
multiple imputation from IMPUTATION). The model is elementwise over patients, so a patient's
trajectory does not depend on who else is in the batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from trialsim import conduct
from trialsim.endpoints.catalog import CATALOG
from trialsim.endpoints.registry import EndpointContext, compute_endpoints
from trialsim.endpoints.visits import VisitRecords, record_visits
from trialsim.model import (
    DEFAULT_PARAMETERS,
    ModelParameters,
    PatientParameters,
    Trajectory,
    sample_patient_parameters,
    simulate,
)
from trialsim.model.flares import entry_flare_factor, flare_factor
from trialsim.model.trial_effects import (
    TrialEffect,
    apply_trial_effect,
    draw_trial_effect,
    trial_effect,
)
from trialsim.outcome.base import Enrolled, OutcomeModel, Outcomes
from trialsim.protocol import Protocol
from trialsim.regimen import DoseSchedule, dose_schedule
from trialsim.safety import adverse_event_days, events_before
from trialsim.streams import Stage


@dataclass(frozen=True)
class MechanisticDetail:
    """The mechanistic model's records of one replicate (arrays over its patients)."""

    parameters: PatientParameters
    trajectory: Trajectory
    visits: VisitRecords
    adverse: pd.DataFrame
    trial_effect: TrialEffect | None = None


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

    def simulate(self, protocol: Protocol, batch: Sequence[Enrolled]) -> list[Outcomes]:
        params = self.params
        effects = [self.effect(protocol, e) for e in batch]
        pps = [apply_trial_effect(
            sample_patient_parameters(e.cohort.patients["severity"].to_numpy(), params,
                                      protocol.model,
                                      e.streams.patients(Stage.PARAMETERS, e.ids),
                                      site_rng=e.streams.generator(Stage.SITES)), eff)
               for e, eff in zip(batch, effects, strict=True)]
        sched = schedules(protocol)
        days = np.asarray(protocol.visits.days)
        traj_all = simulate(sched, np.concatenate([e.arm for e in batch]),
                            _concat_parameters(pps), params, days)
        out: list[Outcomes] = []
        start = 0
        for e, pp, eff in zip(batch, pps, effects, strict=True):
            traj = _slice_trajectory(traj_all, slice(start, start + e.n))
            start += e.n
            factor = (entry_flare_factor(days, pp.entry_flare, params)
                      * flare_factor(days, traj["X"], params,
                                     e.streams.patients(Stage.FLARES, e.ids)))
            visits = record_visits(e.cohort, traj, factor, e.dropout_day,
                                   e.streams.patients(Stage.VISITS, e.ids), eff.assessor)
            ae_days = adverse_event_days(sched, e.arm, pp.exposure,
                                         e.streams.patients(Stage.ADVERSE, e.ids))
            dropout = self.dropout(protocol, e, visits, ae_days, days)
            observed = days[None, :] <= dropout[:, None]
            visits = visits.with_conduct(observed, conduct.rescue_visits(
                visits.sledai, observed, protocol.conduct.rescue_sledai_increase))
            ae = events_before(ae_days, dropout)
            ctx = EndpointContext(
                protocol.endpoint.week, protocol.analysis.missing,
                protocol.analysis.missing_continuous, e.arm, ae,
                lambda name, e=e: e.streams.generator(Stage.IMPUTATION,
                                                      list(CATALOG).index(name)))
            endpoints = compute_endpoints(protocol.endpoint.all, visits, ctx)
            resp = endpoints[protocol.endpoint.primary].value == 1.0
            out.append(Outcomes(resp, MechanisticDetail(pp, traj, visits, ae, eff),
                                endpoints=endpoints, dropout_day=dropout))
        return out

    @staticmethod
    def dropout(protocol: Protocol, e: Enrolled, visits: VisitRecords,
                ae_days: pd.DataFrame, days: np.ndarray) -> np.ndarray:
        """Dropout days under the protocol's ``[conduct]`` (the enrolment draw when the
        hazard does not depend on what happens in the trial)."""
        c = protocol.conduct
        mult = conduct.activity_multiplier(c.dropout, c.dropout_activity, visits.sledai,
                                           visits.latent["activity"])
        if (mult is None and c.dropout_after_adverse_event == 1.0) or e.dropout_draw is None:
            return e.dropout_day
        return conduct.dropout_days(e.dropout_draw, conduct.arm_hazard(protocol, e.arm),
                                    days, mult,
                                    ae_days.to_numpy().min(axis=1),
                                    c.dropout_after_adverse_event)
