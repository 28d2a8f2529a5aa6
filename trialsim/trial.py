"""One simulated trial: cohort → randomisation → regimen → model → endpoints → analysis.

Randomness: replicate ``r`` of a protocol with seed ``s`` draws everything from
``numpy.random.default_rng(SeedSequence(s, spawn_key=(r,)))`` — the r-th child that
``SeedSequence(s).spawn`` would give — in a fixed order (cohort, randomisation, patient
parameters, dropout, flares, visit scoring, adverse events). The model itself is
deterministic and elementwise over patients, so a replicate's result does not depend on
which other replicates share its array chunk, nor on the number of workers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from trialsim.cohort import Cohort, enrol
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
from trialsim.protocol import Protocol
from trialsim.randomization import randomize, strata_labels
from trialsim.regimen import DoseSchedule, dose_schedule
from trialsim.safety import adverse_events
from trialsim.stats.binary import BinaryAnalysis, analyse_binary


def replicate_rng(protocol: Protocol, replicate: int) -> np.random.Generator:
    """The generator of replicate ``replicate``: a spawned child of the protocol seed."""
    seq = np.random.SeedSequence(protocol.trial.seed, spawn_key=(replicate,))
    return np.random.default_rng(seq)


def schedules(protocol: Protocol) -> list[DoseSchedule]:
    """Each arm's dose schedule over the trial horizon, in arm order."""
    return [dose_schedule(a.regimen, protocol.horizon_days) for a in protocol.arms]


@dataclass(frozen=True)
class TrialResult:
    """Everything one simulated trial produced."""

    protocol: Protocol
    replicate: int
    cohort: Cohort
    arm: np.ndarray
    strata: np.ndarray
    parameters: PatientParameters
    trajectory: Trajectory
    visits: VisitRecords
    dropout_day: np.ndarray
    responder: np.ndarray
    adverse: pd.DataFrame
    analysis: BinaryAnalysis

    def patient_table(self) -> pd.DataFrame:
        """One row per patient: demographics, baseline, endpoint, dropout, adverse events."""
        p = self.protocol
        k = self.visits.week_index(p.endpoint.week)
        pts = self.cohort.patients
        table = pd.DataFrame({
            "id": pts["id"],
            "arm": [p.arms[i].name for i in self.arm],
            "sex": pts["sex"],
            "age": pts["age"],
            "ancestry": pts["ancestry"],
            "renal": pts["renal"],
            "sledai_baseline": self.visits.sledai[:, 0],
            f"sledai_week{p.endpoint.week:g}": np.where(self.visits.observed[:, k],
                                                         self.visits.sledai[:, k], np.nan),
            "pga_baseline": self.visits.pga[:, 0],
            "anti_dsdna_baseline": pts["anti_dsdna0"].round(1),
            "c3_baseline": pts["c3_0"].round(2),
            "dropout": self.dropout_day < p.horizon_days,
            "dropout_day": np.where(self.dropout_day < p.horizon_days,
                                    self.dropout_day.round(1), np.nan),
            f"{p.endpoint.primary}_responder": self.responder,
        })
        return pd.concat([table, self.adverse.reset_index(drop=True)], axis=1)

    def visit_table(self) -> pd.DataFrame:
        """Long format: one row per patient and visit with SLEDAI-2K, PGA and immunology."""
        n, v = self.visits.sledai.shape
        traj = self.trajectory
        frame = pd.DataFrame({
            "id": np.repeat(self.cohort.patients["id"].to_numpy(), v),
            "arm": np.repeat([self.protocol.arms[i].name for i in self.arm], v),
            "week": np.tile(self.visits.weeks, n),
            "observed": self.visits.observed.ravel(),
            "sledai": self.visits.sledai.ravel(),
            "pga": self.visits.pga.ravel().round(2),
            "anti_dsdna": self.visits.anti_dsdna.ravel().round(1),
            "c3": self.visits.c3.ravel().round(3),
        })
        for name, col in (("R", "treg"), ("F", "tfh"), ("H", "th17"), ("K", "nk_cd8"),
                          ("X", "activity")):
            frame[col] = traj[name].ravel().round(4)
        return frame


@dataclass(frozen=True)
class _Prepared:
    cohort: Cohort
    arm: np.ndarray
    strata: np.ndarray
    parameters: PatientParameters
    dropout_day: np.ndarray
    rng: np.random.Generator


def _prepare(protocol: Protocol, replicate: int, params: ModelParameters,
             source: str) -> _Prepared:
    rng = replicate_rng(protocol, replicate)
    cohort = enrol(protocol.population, rng, source)
    strata = strata_labels(cohort.patients, protocol.randomization.stratify_by)
    arm = randomize(cohort.patients, protocol, rng)
    pp = sample_patient_parameters(cohort.patients["severity"].to_numpy(), params,
                                   protocol.model, rng)
    hazard = -np.log1p(-protocol.analysis.dropout_per_year) / 365.25
    dropout = (rng.exponential(1.0 / hazard, arm.size) if hazard > 0
               else np.full(arm.size, np.inf))
    return _Prepared(cohort, arm, strata, pp, dropout, rng)


def _concat_parameters(parts: Sequence[PatientParameters]) -> PatientParameters:
    names = PatientParameters.__dataclass_fields__
    return PatientParameters(**{k: np.concatenate([getattr(p, k) for p in parts])
                                for k in names})


def _slice_trajectory(traj: Trajectory, sl: slice) -> Trajectory:
    return Trajectory(traj.days, {k: v[sl] for k, v in traj.states.items()}, traj.Y[sl],
                      traj.il2_peak_pm[sl], traj.exposure_auc[sl],
                      {k: v[sl] for k, v in traj.extremes.items()})


def simulate_trials(protocol: Protocol, replicates: Sequence[int],
                    params: ModelParameters = DEFAULT_PARAMETERS,
                    source: str = "protocol") -> list[TrialResult]:
    """Simulate the given replicates, integrating all their patients as one array system."""
    prepared = [_prepare(protocol, r, params, source) for r in replicates]
    sched = schedules(protocol)
    days = np.asarray(protocol.visits.days)
    arm_all = np.concatenate([p.arm for p in prepared])
    traj_all = simulate(sched, arm_all, _concat_parameters([p.parameters for p in prepared]),
                        params, days)
    results: list[TrialResult] = []
    start = 0
    control = protocol.arms.index(protocol.control_arm)
    names = [a.name for a in protocol.arms]
    for r, prep in zip(replicates, prepared, strict=True):
        n = prep.arm.size
        traj = _slice_trajectory(traj_all, slice(start, start + n))
        start += n
        rng = prep.rng
        factor = (entry_flare_factor(days, prep.parameters.entry_flare, params)
                  * flare_factor(days, traj["X"], params, rng))
        visits = record_visits(prep.cohort, traj, factor, prep.dropout_day, rng)
        resp = responders(visits, protocol.endpoint.primary, protocol.endpoint.week)
        ae = adverse_events(sched, prep.arm, prep.parameters.exposure, prep.dropout_day, rng)
        a = protocol.analysis
        analysis = analyse_binary(resp, prep.arm, names, control, test=a.test, alpha=a.alpha,
                                  sided=a.sided, strata=prep.strata)
        results.append(TrialResult(protocol, r, prep.cohort, prep.arm, prep.strata,
                                   prep.parameters, traj, visits, prep.dropout_day, resp, ae,
                                   analysis))
    return results


def simulate_trial(protocol: Protocol, replicate: int = 0,
                   params: ModelParameters = DEFAULT_PARAMETERS,
                   source: str = "protocol") -> TrialResult:
    """Simulate one trial (replicate ``replicate`` of the protocol's seed)."""
    return simulate_trials(protocol, [replicate], params, source)[0]
