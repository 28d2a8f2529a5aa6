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
from trialsim.cohort import Cohort
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
from trialsim.model.parameter_ensemble import (
    POINT,
    ParameterSet,
    apply_parameter_sets,
    draw_parameter_set,
)
from trialsim.model.trial_effects import (
    TrialEffect,
    apply_trial_effects,
    draw_trial_effect,
    trial_effect,
)
from trialsim.model.variability import site_effects
from trialsim.outcome.base import Enrolled, OutcomeModel, Outcomes
from trialsim.protocol import Protocol
from trialsim.regimen import DoseSchedule, dose_schedule
from trialsim.safety import adverse_event_days, events_before
from trialsim.streams import StackedStream, Stage


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
        sched = schedules(protocol)
        days = np.asarray(protocol.visits.days)
        sizes = [e.n for e in batch]
        trial = np.repeat(np.arange(len(batch)), sizes)
        arm = np.concatenate([e.arm for e in batch])

        # Every patient-level step below is elementwise over patients with patient-keyed
        # draws, so the batch is handled as one array (the same values, patient by patient,
        # as each replicate alone) and split into replicates at the end.
        def stream(stage: Stage) -> StackedStream:
            return StackedStream([e.streams.patients(stage, e.ids) for e in batch])

        pp_all = sample_patient_parameters(
            np.concatenate([e.cohort.columns["severity"] for e in batch]), params,
            protocol.model, stream(Stage.PARAMETERS),
            site_table=np.stack([site_effects(protocol.model,
                                              e.streams.generator(Stage.SITES))
                                 for e in batch]), trial=trial)
        pp_all = apply_parameter_sets(apply_trial_effects(pp_all, effects, trial), sets, trial)
        traj_all = simulate(sched, arm, pp_all, params, days)
        factor = (entry_flare_factor(days, pp_all.entry_flare, params)
                  * flare_factor(days, traj_all["X"], params, stream(Stage.FLARES)))
        planned = np.concatenate([e.dropout_day for e in batch])
        visits = record_visits(Cohort.stack([e.cohort for e in batch]), traj_all, factor,
                               planned, stream(Stage.VISITS),
                               np.repeat([eff.assessor for eff in effects], sizes))
        ae_days = adverse_event_days(sched, arm, pp_all.exposure, stream(Stage.ADVERSE))
        draws = [e.dropout_draw for e in batch]
        dropout = self.dropout(protocol, arm, planned,
                               None if any(d is None for d in draws) else np.concatenate(draws),
                               visits, ae_days, days)
        observed = days[None, :] <= dropout[:, None]
        visits = visits.with_conduct(observed, conduct.rescue_visits(
            visits.sledai, observed, protocol.conduct.rescue_sledai_increase))
        ae = events_before(ae_days, dropout)
        c = protocol.analysis
        per_trial = [n for n in protocol.endpoint.all if CATALOG[n].kind == "continuous"
                     and c.missing_continuous == "multiple-imputation"]
        together = compute_endpoints(
            [n for n in protocol.endpoint.all if n not in per_trial], visits,
            EndpointContext(protocol.endpoint.week, c.missing, c.missing_continuous, arm, ae))
        out: list[Outcomes] = []
        bounds = np.cumsum([0, *sizes])
        events = ae.to_numpy()
        for i, (e, eff, ps) in enumerate(zip(batch, effects, sets, strict=True)):
            rows = slice(int(bounds[i]), int(bounds[i + 1]))
            rec = visits.take(rows)
            mine = pd.DataFrame(events[rows], columns=ae.columns)
            alone = compute_endpoints(per_trial, rec, EndpointContext(
                protocol.endpoint.week, c.missing, c.missing_continuous, e.arm, mine,
                lambda name, e=e: e.streams.generator(Stage.IMPUTATION,
                                                      list(CATALOG).index(name)))
            ) if per_trial else {}
            endpoints = {n: alone[n] if n in alone else together[n].take(rows)
                         for n in protocol.endpoint.all}
            resp = endpoints[protocol.endpoint.primary].value == 1.0
            out.append(Outcomes(resp, MechanisticDetail(
                pp_all.take(rows), _slice_trajectory(traj_all, rows), rec, mine, eff, ps),
                endpoints=endpoints, dropout_day=dropout[rows]))
        return out

    @staticmethod
    def dropout(protocol: Protocol, arm: np.ndarray, planned: np.ndarray,
                draw: np.ndarray | None, visits: VisitRecords, ae_days: pd.DataFrame,
                days: np.ndarray) -> np.ndarray:
        """Dropout days under the protocol's ``[conduct]``: the enrolment's ``planned`` days
        when the hazard does not depend on what happens in the trial, else from the
        enrolment's unit-exponential ``draw`` (arrays over patients)."""
        c = protocol.conduct
        mult = conduct.activity_multiplier(c.dropout, c.dropout_activity, visits.sledai,
                                           visits.latent["activity"])
        if (mult is None and c.dropout_after_adverse_event == 1.0) or draw is None:
            return planned
        return conduct.dropout_days(draw, conduct.arm_hazard(protocol, arm), days, mult,
                                    ae_days.to_numpy().min(axis=1),
                                    c.dropout_after_adverse_event)
