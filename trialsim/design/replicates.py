"""Many simulated trials of one design: power, type I error, mean effects.

Replicates run in chunks; each chunk's patients are integrated as one array system
(:func:`trialsim.trial.simulate_enrolled`), and chunks are independent tasks for an
execution backend (:mod:`trialsim.execution`). Replicate ``r`` always draws from streams
keyed by the protocol seed and ``r``, so operating characteristics do not depend on the
chunk size, the backend or the number of workers.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from trialsim import trial
from trialsim.execution import Backend, InProcess, chunks
from trialsim.model import DEFAULT_PARAMETERS, ModelParameters
from trialsim.protocol import Protocol
from trialsim.stats.binary import BinaryAnalysis
from trialsim.stats.power import mc_standard_error
from trialsim.trial import TrialResult, enrol_and_randomise, simulate_enrolled

DEFAULT_CHUNK = 50


@dataclass(frozen=True)
class ComparisonOC:
    """Operating characteristics of one active arm versus control over all replicates."""

    arm: str
    control: str
    power: float           # share of replicates with a significant comparison
    power_se: float        # Monte-Carlo standard error, sqrt(p(1-p)/R)
    mean_difference: float
    mean_p_value: float


@dataclass(frozen=True)
class ArmOC:
    """Mean response rate of one arm over all replicates, with its Monte-Carlo SE."""

    name: str
    mean_rate: float
    mean_rate_se: float


@dataclass(frozen=True)
class OperatingCharacteristics:
    """What ``replicates`` simulated trials of a design showed."""

    replicates: int
    arms: tuple[ArmOC, ...]
    comparisons: tuple[ComparisonOC, ...]

    def to_dict(self) -> dict:
        return {
            "replicates": self.replicates,
            "arms": [vars(a) for a in self.arms],
            "comparisons": [vars(c) for c in self.comparisons],
        }


@dataclass(frozen=True)
class DesignResult:
    """The first replicate in full (the trial shown to the user) and the replicates' summary.

    ``oc`` is predictive when the protocol's between-trial effects are on (each replicate
    draws its trial's placebo response), conditional otherwise; ``oc_conditional`` (when
    asked for) holds the same replicates with the trial effect at its typical value.
    """

    first: TrialResult
    oc: OperatingCharacteristics | None
    oc_conditional: OperatingCharacteristics | None = None

    @property
    def uncertainty(self) -> str:
        p = self.first.protocol
        return ("predictive" if p.model.between_trial and p.outcome.model == "mechanistic"
                else "conditional")


def summarise(analyses: list[BinaryAnalysis]) -> OperatingCharacteristics:
    """Operating characteristics from per-replicate analyses."""
    reps = len(analyses)
    arms = []
    for k, a in enumerate(analyses[0].arms):
        rates = np.array([an.arms[k].rate for an in analyses])
        se = float(rates.std(ddof=1) / np.sqrt(reps)) if reps > 1 else float("nan")
        arms.append(ArmOC(a.name, float(rates.mean()), se))
    comps = []
    for k, c in enumerate(analyses[0].comparisons):
        sig = np.array([an.comparisons[k].significant for an in analyses])
        diff = np.array([an.comparisons[k].difference for an in analyses])
        pval = np.array([an.comparisons[k].p_value for an in analyses])
        power = float(sig.mean())
        comps.append(ComparisonOC(c.arm, c.control, power, mc_standard_error(power, reps),
                                  float(diff.mean()), float(pval.mean())))
    return OperatingCharacteristics(reps, tuple(arms), tuple(comps))


@dataclass(frozen=True)
class ReplicateSummary:
    """What is kept of one replicate after its chunk: its number and its analysis."""

    replicate: int
    analysis: BinaryAnalysis


@dataclass(frozen=True)
class ChunkResult:
    """A chunk's picklable summary: each replicate's analysis (predictive, and conditional
    when asked for) and, for the chunk holding replicate 0, that trial in full."""

    replicates: list[ReplicateSummary]
    conditional: list[BinaryAnalysis]
    first: TrialResult | None


def run_chunk(protocol: Protocol, reps: range, params: ModelParameters, source: str,
              both: bool, keep_first: bool,
              keep: Callable[[TrialResult], None] | None = None,
              sink: Callable[[TrialResult], None] | None = None) -> ChunkResult:
    """Simulate replicates ``reps`` (one backend task). With ``both`` the same enrolled
    patients are simulated a second time with the typical trial effect; enrolment is done
    once for both passes. ``sink`` receives the patient chunks of replicates too large to
    simulate at once (see :func:`trialsim.trial.simulate_enrolled`)."""
    batch = [enrol_and_randomise(protocol, r, source) for r in reps]
    results = simulate_enrolled(protocol, batch, params, sink=sink)
    if keep is not None:
        for res in results:
            keep(res)
    cond = ([r.analysis for r in simulate_enrolled(protocol, batch, params, conditional=True)]
            if both else [])
    return ChunkResult([ReplicateSummary(r.replicate, r.analysis) for r in results], cond,
                       results[0] if keep_first else None)


def run_design(
    protocol: Protocol,
    *,
    params: ModelParameters = DEFAULT_PARAMETERS,
    chunk: int = DEFAULT_CHUNK,
    progress: Callable[[int], None] | None = None,
    source: str = "protocol",
    keep: Callable[[TrialResult], None] | None = None,
    record: Callable[[ReplicateSummary], None] | None = None,
    conditional: bool = False,
    backend: Backend | None = None,
    sink: Callable[[TrialResult], None] | None = None,
) -> DesignResult:
    """Simulate ``protocol.trial.replicates`` trials in chunks of ``chunk`` replicates.

    Chunks are independent tasks run by ``backend`` (:mod:`trialsim.execution`; default in
    this process); the result does not depend on the backend, its workers or the chunk size.
    ``progress`` is called with the number of replicates finished as each chunk completes.
    ``record`` sees every replicate's :class:`ReplicateSummary`, in replicate order.
    ``keep`` (optional, in-process only) sees every full replicate before its arrays are
    dropped, so long runs need not hold every patient of every replicate in memory. With
    ``conditional`` and between-trial effects on, every chunk is simulated a second time
    with the trial effect at its typical value (same patients) for the conditional
    operating characteristics.

    ``sink`` receives replicate 0's patients chunk by chunk when it has more than
    :data:`~trialsim.trial.PATIENT_CHUNK` of them (its tables are then written as it is
    simulated, and it keeps no detail); that replicate then runs in this process, alone.
    """
    backend = backend or InProcess()
    if keep is not None and not isinstance(backend, InProcess):
        raise ValueError("run_design(keep=...) sees full replicates: it runs in process only")
    total = protocol.trial.replicates
    first: TrialResult | None = None
    analyses: list[BinaryAnalysis] = []
    cond: list[BinaryAnalysis] = []
    both = (conditional and protocol.model.between_trial
            and protocol.outcome.model == "mechanistic" and total > 1)
    tick = None if progress is None else (lambda c: progress(len(c.replicates)))
    parts: list[ChunkResult] = []
    start = 0
    if sink is not None and protocol.population.n > trial.PATIENT_CHUNK:
        parts.append(run_chunk(protocol, range(1), params, source, both, True, keep, sink))
        if tick is not None:
            tick(parts[0])
        start = 1
    tasks = [(protocol, reps, params, source, both, reps.start == 0, keep)
             for reps in chunks(start, total, chunk)]
    for part in itertools.chain(parts, backend.map(run_chunk, tasks, tick)):
        first = first or part.first
        for rep in part.replicates:
            if record is not None:
                record(rep)
            analyses.append(rep.analysis)
        cond.extend(part.conditional)
    assert first is not None
    return DesignResult(first, summarise(analyses) if total > 1 else None,
                        summarise(cond) if cond else None)
