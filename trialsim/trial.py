"""One simulated trial: enrol → randomise → dropout → outcome model → endpoints → analysis.

Randomness is keyed (:mod:`trialsim.streams`): replicate ``r`` of a protocol with seed ``s``
draws every stage from ``SeedSequence(s, spawn_key=(r, stage, …))`` and every patient-level
draw from patient-keyed blocks. So a replicate's result does not depend on which other
replicates share its array chunk or on the number of workers, and patient ``k`` of
replicate ``r`` is the same person at every sample size: the first ``m`` patients of a trial
of ``n >= m`` are exactly the patients of the trial of ``m`` (see :meth:`TrialResult.head`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from trialsim import conduct
from trialsim.cohort import Cohort, enrol
from trialsim.model import DEFAULT_PARAMETERS, ModelParameters
from trialsim.outcome import Enrolled, MechanisticDetail, Outcomes, outcome_model
from trialsim.outcome.mechanistic import schedules
from trialsim.protocol import Protocol
from trialsim.randomization import randomize, strata_labels
from trialsim.stats.binary import BinaryAnalysis, analyse_binary
from trialsim.stats.endpoint_data import EndpointData
from trialsim.streams import ReplicateStreams, Stage

__all__ = ["TrialResult", "analyse", "enrol_and_randomise", "schedules", "simulate_trial",
           "simulate_trials"]

DAYS_PER_MONTH = 30.4375


@dataclass(frozen=True)
class TrialResult:
    """Everything one simulated trial produced (arrays over patients in enrolment order).

    ``endpoints`` holds every endpoint of the protocol, primary first
    (:class:`~trialsim.stats.endpoint_data.EndpointData`); ``responder`` is the primary
    binary endpoint as booleans (True: responder).
    """

    protocol: Protocol
    replicate: int
    cohort: Cohort
    arm: np.ndarray
    strata: np.ndarray
    enrol_day: np.ndarray
    dropout_day: np.ndarray
    responder: np.ndarray
    analysis: BinaryAnalysis
    detail: MechanisticDetail | None = None
    endpoints: dict[str, EndpointData] = field(default_factory=dict)

    def _mechanistic(self) -> MechanisticDetail:
        if self.detail is None:
            raise AttributeError(f"the {self.protocol.outcome.model} outcome model keeps no "
                                 "trajectories, visits or adverse events")
        return self.detail

    @property
    def trajectory(self) -> Any:
        return self._mechanistic().trajectory

    @property
    def visits(self) -> Any:
        return self._mechanistic().visits

    @property
    def parameters(self) -> Any:
        return self._mechanistic().parameters

    @property
    def adverse(self) -> pd.DataFrame:
        return self._mechanistic().adverse

    def head(self, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(responder, arm, strata)`` of the first ``m`` randomised patients."""
        return self.responder[:m], self.arm[:m], self.strata[:m]

    def patient_table(self) -> pd.DataFrame:
        """One row per patient: demographics, baseline, endpoint, dropout, adverse events."""
        p = self.protocol
        pts = self.cohort.patients
        horizon = p.horizon_days
        table = pd.DataFrame({
            "id": pts["id"],
            "arm": [p.arms[i].name for i in self.arm],
            "sex": pts["sex"],
            "age": pts["age"],
            "ancestry": pts["ancestry"],
            "renal": pts["renal"],
            "enrol_day": self.enrol_day.round(1),
            "sledai_baseline": pts["sledai0"],
            "pga_baseline": pts["pga0"],
            "anti_dsdna_baseline": pts["anti_dsdna0"].round(1),
            "c3_baseline": pts["c3_0"].round(2),
        })
        if self.detail is not None:
            v = self.detail.visits
            k = v.week_index(p.endpoint.week)
            table[f"sledai_week{p.endpoint.week:g}"] = np.where(v.observed[:, k],
                                                                 v.sledai[:, k], np.nan)
        table["dropout"] = self.dropout_day < horizon
        table["dropout_day"] = np.where(self.dropout_day < horizon,
                                        self.dropout_day.round(1), np.nan)
        table[f"{p.endpoint.primary}_responder"] = self.responder
        for name, data in self.endpoints.items():
            if data.kind == "time-to-event":
                table[f"{name}_days"] = data.value
                table[f"{name}_event"] = data.event
            else:
                table[name] = data.value
        if self.detail is None:
            return table
        return pd.concat([table, self.detail.adverse.reset_index(drop=True)], axis=1)

    def visit_table(self, latent: bool = False) -> pd.DataFrame | None:
        """Long format, one row per patient and *observed* visit: SLEDAI-2K and its items,
        PGA, BILAG grades, serology, rescue, immunology (``None`` for outcome models without
        visits). ``latent``: every visit, values after dropout included, with the
        ``observed`` flag and the model's latent activity — not what a trial could record."""
        if self.detail is None:
            return None
        from trialsim.endpoints.visits import visit_table

        traj = self.detail.trajectory
        extra = {col: traj[name].round(4) for name, col in
                 (("F", "tfh"), ("H", "th17"), ("K", "nk_cd8"))}
        if latent:
            extra["latent_X"] = traj["X"].round(4)
        return visit_table(self.detail.visits, self.cohort.patients["id"].to_numpy(),
                           np.array([self.protocol.arms[i].name for i in self.arm]), extra,
                           latent=latent)


def enrol_and_randomise(protocol: Protocol, replicate: int,
                        source: str = "protocol") -> Enrolled:
    """Screen and enrol the cohort, randomise it, draw enrolment and dropout times."""
    streams = ReplicateStreams(protocol.trial.seed, replicate)
    cohort = enrol(protocol.population, lambda b: streams.generator(Stage.CANDIDATES, b),
                   source)
    n = len(cohort.patients)
    ids = cohort.patients["screen_order"].to_numpy() - 1   # keys of the patients' draws
    strata = strata_labels(cohort.patients, protocol.randomization.stratify_by)
    arm = randomize(cohort.patients, protocol,
                    lambda label: streams.generator(Stage.RANDOMIZATION, label))
    rate = protocol.population.enrolment_per_month
    if rate is None:
        enrol_day = np.zeros(n)
    else:  # Poisson arrivals: patient k's time depends only on the gaps of patients ≤ k
        gaps = streams.patients(Stage.ENROLMENT, ids).exponential(DAYS_PER_MONTH / rate, n)
        enrol_day = np.cumsum(gaps)
    e = streams.patients(Stage.DROPOUT, ids).exponential(1.0, n)
    dropout = conduct.dropout_days(e, conduct.arm_hazard(protocol, arm))
    return Enrolled(replicate, streams, cohort, arm, strata, enrol_day, dropout, e)


def analyse(protocol: Protocol, responder: np.ndarray, arm: np.ndarray,
            strata: np.ndarray) -> BinaryAnalysis:
    """The protocol's primary analysis of one trial's (or its first patients') outcomes."""
    a = protocol.analysis
    return analyse_binary(responder, arm, [x.name for x in protocol.arms],
                          protocol.arms.index(protocol.control_arm), test=a.test,
                          alpha=a.alpha, sided=a.sided, strata=strata)


def simulate_trials(protocol: Protocol, replicates: Sequence[int],
                    params: ModelParameters = DEFAULT_PARAMETERS,
                    source: str = "protocol", *, conditional: bool = False,
                    fixed_effect: float | None = None) -> list[TrialResult]:
    """Simulate the given replicates; the outcome model handles them as one batch.

    ``conditional`` fixes the between-trial effect at its typical value (the same patients,
    the trial's placebo response at its typical value); ``fixed_effect`` at a given ``s``.
    """
    batch = [enrol_and_randomise(protocol, r, source) for r in replicates]
    model = outcome_model(protocol, params, conditional=conditional,
                          fixed_effect=fixed_effect)
    outcomes: list[Outcomes] = model.simulate(protocol, batch)
    out = []
    for e, o in zip(batch, outcomes, strict=True):
        primary = o.endpoints.get(protocol.endpoint.primary)
        keep = np.isfinite(primary.value) if primary is not None else slice(None)
        out.append(TrialResult(
            protocol, e.replicate, e.cohort, e.arm, e.strata, e.enrol_day,
            e.dropout_day if o.dropout_day is None else o.dropout_day, o.responder,
            analyse(protocol, o.responder[keep], e.arm[keep], e.strata[keep]), o.detail,
            o.endpoints))
    return out


def simulate_trial(protocol: Protocol, replicate: int = 0,
                   params: ModelParameters = DEFAULT_PARAMETERS,
                   source: str = "protocol") -> TrialResult:
    """Simulate one trial (replicate ``replicate`` of the protocol's seed)."""
    return simulate_trials(protocol, [replicate], params, source)[0]

