"""One simulated trial: enrol → randomise → dropout → outcome model → endpoints → analysis.

Randomness is keyed (:mod:`trialsim.streams`): replicate ``r`` of a protocol with seed ``s``
draws every stage from ``SeedSequence(s, spawn_key=(r, stage, …))`` and every patient-level
draw from patient-keyed blocks. So a replicate's result does not depend on which other
replicates share its array chunk or on the number of workers, and patient ``k`` of
replicate ``r`` is the same person at every sample size: the first ``m`` patients of a trial
of ``n >= m`` are exactly the patients of the trial of ``m`` (see :meth:`TrialResult.head`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
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
from trialsim.stats.analysis import analyse_trial
from trialsim.stats.analysis_batch import analyse_trials
from trialsim.stats.endpoint_data import EndpointData
from trialsim.stats.results import TrialAnalysis
from trialsim.streams import ReplicateStreams, Stage

__all__ = ["PATIENT_CHUNK", "TrialResult", "analyse", "analyse_many", "endpoint_data",
           "enrol_and_randomise", "ordered", "schedules", "simulate_enrolled", "simulate_trial",
           "simulate_trials"]

DAYS_PER_MONTH = 30.4375
# Patients of one replicate simulated as one array system: larger replicates run in chunks
# of this many (bounded memory: ~100 MB of model and visit arrays per chunk with 10 visits).
PATIENT_CHUNK = 20_000


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
    analysis: TrialAnalysis | None   # None only for a patient chunk given to a table sink
    detail: MechanisticDetail | None = None
    # every endpoint measured, by name: the primary first, then the secondaries
    endpoints: dict[str, EndpointData] = field(default_factory=dict)
    # A replicate of more than PATIENT_CHUNK patients is simulated chunk by chunk and keeps
    # no detail; its between-trial effect is kept here, and ``tables`` names the tables its
    # chunks were written to (by the sink given to simulate_enrolled), if any.
    trial_effect: Any = None
    parameter_set: Any = None
    tables: dict[str, str] | None = None

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
        return visit_table(self.detail.visits, self.cohort.columns["id"],
                           np.array([self.protocol.arms[i].name for i in self.arm]), extra,
                           latent=latent)


def enrol_and_randomise(protocol: Protocol, replicate: int,
                        source: str = "protocol") -> Enrolled:
    """Screen and enrol the cohort, randomise it, draw enrolment and dropout times."""
    streams = ReplicateStreams(protocol.trial.seed, replicate)
    cohort = enrol(protocol.population, lambda b: streams.generator(Stage.CANDIDATES, b),
                   source)
    n = cohort.n
    ids = cohort.columns["screen_order"] - 1   # keys of the patients' draws
    strata = strata_labels(cohort.columns, protocol.randomization.stratify_by)
    arm = randomize(cohort.columns, protocol,
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


def endpoint_data(protocol: Protocol, enrolled: Enrolled,
                  outcomes: Outcomes) -> dict[str, EndpointData]:
    """The endpoints an outcome model measured, by name (primary first); a model that
    reports only the binary primary responder gets it wrapped, with baseline SLEDAI-2K as
    the covariate of adjusted analyses."""
    if outcomes.endpoints:
        return dict(outcomes.endpoints)
    base = enrolled.cohort.patients["sledai0"].to_numpy(dtype=float)
    name = protocol.endpoint.primary
    return {name: EndpointData(name, "binary", np.asarray(outcomes.responder, dtype=float),
                               baseline=base)}


def ordered(protocol: Protocol,
            endpoints: Mapping[str, EndpointData]) -> list[EndpointData]:
    """The protocol's primary endpoint first, then its secondary endpoints in their order,
    then anything else reported (descriptive); the first reported stands in for a primary
    the model did not name."""
    names = [protocol.endpoint.primary, *getattr(protocol.endpoint, "secondary", ())]
    out = [endpoints[n] for n in names if n in endpoints]
    rest = [v for k, v in endpoints.items() if k not in names]
    if protocol.endpoint.primary not in endpoints:
        return rest + out
    return out + rest


def analyse(protocol: Protocol,
            endpoints: Mapping[str, EndpointData] | Sequence[EndpointData] | np.ndarray,
            arm: np.ndarray, strata: np.ndarray) -> TrialAnalysis:
    """The protocol's analysis of one trial's (or its first patients') endpoints: the
    primary and the secondaries (a mapping by name is put in protocol order by
    :func:`ordered`; a sequence is taken as primary first; an array as the binary primary's
    responders), with the protocol's methods, multiplicity rule and fixed sequence."""
    if isinstance(endpoints, np.ndarray):
        endpoints = [EndpointData(protocol.endpoint.primary, "binary",
                                  endpoints.astype(float))]
    elif isinstance(endpoints, Mapping):
        endpoints = ordered(protocol, endpoints)
    return analyse_trial(list(endpoints), arm, strata, *_design(protocol),
                         **_analysis_plan(protocol))


def analyse_many(protocol: Protocol,
                 endpoints: Sequence[Mapping[str, EndpointData]],
                 arms: Sequence[np.ndarray], strata: Sequence[np.ndarray]
                 ) -> list[TrialAnalysis]:
    """``[analyse(protocol, e, a, s) for e, a, s in zip(endpoints, arms, strata)]``,
    every endpoint analysed for all the trials at once
    (:func:`trialsim.stats.analysis_batch.analyse_trials`: the same results, vectorised)."""
    return analyse_trials([ordered(protocol, e) for e in endpoints], arms, strata,
                          *_design(protocol), **_analysis_plan(protocol))


def _design(protocol: Protocol) -> tuple[list[str], int]:
    """The arm names and the control arm's index, as the analyses take them."""
    return [x.name for x in protocol.arms], protocol.arms.index(protocol.control_arm)


def _analysis_plan(protocol: Protocol) -> dict[str, Any]:
    """The protocol's ``[analysis]`` as keyword arguments of the analyses."""
    a = protocol.analysis
    return {"alpha": a.alpha, "sided": a.sided, "multiplicity": a.multiplicity,
            "methods": a.methods, "sequence": a.sequence}


def simulate_trials(protocol: Protocol, replicates: Sequence[int],
                    params: ModelParameters = DEFAULT_PARAMETERS,
                    source: str = "protocol", *, conditional: bool = False,
                    fixed_effect: float | None = None) -> list[TrialResult]:
    """Simulate the given replicates; the outcome model handles them as one batch.

    ``conditional`` fixes the between-trial effect at its typical value (the same patients,
    the trial's placebo response at its typical value); ``fixed_effect`` at a given ``s``.
    """
    batch = [enrol_and_randomise(protocol, r, source) for r in replicates]
    return simulate_enrolled(protocol, batch, params, conditional=conditional,
                             fixed_effect=fixed_effect)


def remembering(e: Enrolled) -> Enrolled:
    """``e`` with streams that keep its patient draws, for simulating it twice (predictive
    and conditional passes) without drawing twice; replicates simulated in patient chunks
    are left as they are (their draws would not fit in memory)."""
    if e.n > PATIENT_CHUNK:
        return e
    return replace(e, streams=e.streams.remembering())


def _patients(e: Enrolled, rows: slice) -> Enrolled:
    """Patients ``rows`` of a replicate: their keyed draws are theirs whoever else is there."""
    return Enrolled(e.replicate, e.streams, e.cohort.take(rows), e.arm[rows], e.strata[rows],
                    e.enrol_day[rows], e.dropout_day[rows],
                    None if e.dropout_draw is None else e.dropout_draw[rows])


def _in_patient_chunks(protocol: Protocol, model: Any, e: Enrolled,
                       sink: Callable[[TrialResult], None] | None) -> TrialResult:
    """Simulate a large replicate :data:`PATIENT_CHUNK` patients at a time. The outcome
    model is elementwise over patients and every draw is keyed by patient (trial-level draws
    by the replicate), so the outcomes are those of one call over all patients; only the
    responders are kept, each chunk's detail goes to ``sink`` (tables) and is dropped."""
    parts: list[Outcomes] = []
    effect = None
    for start in range(0, e.n, PATIENT_CHUNK):
        rows = slice(start, min(start + PATIENT_CHUNK, e.n))
        part = _patients(e, rows)
        o = model.simulate(protocol, [part])[0]
        effect = getattr(o.detail, "trial_effect", None)
        pset = getattr(o.detail, "parameter_set", None)
        if sink is not None:
            sink(TrialResult(protocol, e.replicate, part.cohort, part.arm, part.strata,
                             part.enrol_day, part.dropout_day if o.dropout_day is None
                             else o.dropout_day, o.responder, None, o.detail,
                             o.endpoints))
        parts.append(Outcomes(o.responder, None, o.endpoints, o.dropout_day))
    whole = Outcomes(np.concatenate([o.responder for o in parts]), None,
                     {k: _concat_endpoint([o.endpoints[k] for o in parts])
                      for k in parts[0].endpoints},
                     None if parts[0].dropout_day is None
                     else np.concatenate([o.dropout_day for o in parts]))
    tables = getattr(sink, "tables", None) if sink is not None else None
    return _result(protocol, e, whole, trial_effect=effect, parameter_set=pset,
                   tables=tables)


def _concat_endpoint(parts: list[EndpointData]) -> EndpointData:
    """One endpoint's data over consecutive patient chunks (patients are the first axis;
    the imputations' second)."""
    def cat(name: str, axis: int = 0) -> np.ndarray | None:
        arrays = [getattr(p, name) for p in parts]
        return None if arrays[0] is None else np.concatenate(arrays, axis=axis)

    first = parts[0]
    return EndpointData(first.name, first.kind, cat("value"), cat("event"), cat("baseline"),
                        cat("repeated"), first.weeks, cat("imputations", axis=1),
                        higher_is_better=first.higher_is_better)


def simulate_enrolled(protocol: Protocol, batch: Sequence[Enrolled],
                      params: ModelParameters = DEFAULT_PARAMETERS, *,
                      conditional: bool = False,
                      fixed_effect: float | None = None,
                      sink: Callable[[TrialResult], None] | None = None) -> list[TrialResult]:
    """Outcomes and analysis of already enrolled and randomised replicates.

    Enrolment draws nothing that the outcome model draws, so one enrolled batch can be
    simulated twice — with the drawn trial effect and with the typical one (``conditional``)
    — and each pass is exactly what :func:`simulate_trials` gives.

    Replicates of at most :data:`PATIENT_CHUNK` patients are simulated together as one
    array system and keep their detail (trajectories, visits, adverse events). Larger ones
    run in patient chunks so memory stays bounded whatever the cohort size (a million
    patients in well under 4 GB): each chunk of patients, in full, goes to ``sink`` (e.g. a
    Parquet writer of the patient and visit tables) and only the responders are kept.
    """
    model = outcome_model(protocol, params, conditional=conditional,
                          fixed_effect=fixed_effect)
    if all(e.n <= PATIENT_CHUNK for e in batch):
        outcomes: list[Outcomes] = model.simulate(protocol, batch)
        data = [endpoint_data(protocol, e, o) for e, o in zip(batch, outcomes, strict=True)]
        analyses = analyse_many(protocol, data, [e.arm for e in batch],
                                [e.strata for e in batch])
        return [_result(protocol, e, o, data=d, analysis=an)
                for e, o, d, an in zip(batch, outcomes, data, analyses, strict=True)]
    return [simulate_enrolled(protocol, [e], params, conditional=conditional,
                              fixed_effect=fixed_effect)[0] if e.n <= PATIENT_CHUNK
            else _in_patient_chunks(protocol, model, e, sink) for e in batch]


def _result(protocol: Protocol, e: Enrolled, o: Outcomes, *,
            data: dict[str, EndpointData] | None = None,
            analysis: TrialAnalysis | None = None, **extra: Any) -> TrialResult:
    """A replicate's result: its outcomes and the analysis of every endpoint (missing
    values, NaN, are handled by the analyses); ``data`` and ``analysis`` when the caller
    computed them (all replicates of a batch analysed at once). Analysed by the batched
    path like every simulated replicate, so a replicate simulated in patient chunks gives
    bit for bit the analysis it gets when simulated at once."""
    if data is None:
        data = endpoint_data(protocol, e, o)
    if analysis is None:
        analysis = analyse_many(protocol, [data], [e.arm], [e.strata])[0]
    return TrialResult(
        protocol, e.replicate, e.cohort, e.arm, e.strata, e.enrol_day,
        e.dropout_day if o.dropout_day is None else o.dropout_day, o.responder,
        analysis, o.detail, data, **extra)


def simulate_trial(protocol: Protocol, replicate: int = 0,
                   params: ModelParameters = DEFAULT_PARAMETERS,
                   source: str = "protocol") -> TrialResult:
    """Simulate one trial (replicate ``replicate`` of the protocol's seed)."""
    return simulate_trials(protocol, [replicate], params, source)[0]

