"""Many simulated trials of one design: power, type I error, mean effects.

Replicates run in chunks; each chunk's patients are integrated as one array system
(:func:`trialsim.trial.simulate_enrolled`), and chunks are independent tasks for an
execution backend (:mod:`trialsim.execution`). Replicate ``r`` always draws from streams
keyed by the protocol seed and ``r``, so operating characteristics do not depend on the
chunk size, the backend or the number of workers.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from trialsim import trial
from trialsim.execution import Backend, InProcess, chunks
from trialsim.model import DEFAULT_PARAMETERS, ModelParameters
from trialsim.protocol import Protocol
from trialsim.stats.power import mc_standard_error
from trialsim.stats.results import Comparison, TrialAnalysis
from trialsim.trial import TrialResult, enrol_and_randomise, remembering, simulate_enrolled

DEFAULT_CHUNK = 50


@dataclass(frozen=True)
class ComparisonOC:
    """Operating characteristics of one active arm versus control over all replicates.

    ``power`` counts decisions after the multiplicity rule (and, for secondary endpoints,
    the fixed sequence); ``power_unadjusted`` counts ``p < alpha`` alone. Under the null
    (identical arms) both are type I error rates. ``mean_difference`` is the mean estimate
    (on the comparison's scale: a difference, or a ratio).
    """

    arm: str
    control: str
    power: float           # share of replicates with a significant comparison
    power_se: float        # Monte-Carlo standard error, sqrt(p(1-p)/R)
    mean_difference: float
    mean_p_value: float
    power_unadjusted: float = float("nan")
    scale: str = "difference"
    undefined: int = 0     # replicates without an answer (NaN p-value)

    def to_dict(self) -> dict:
        return {k: _json(v) for k, v in vars(self).items()}


@dataclass(frozen=True)
class ArmOC:
    """Mean of one arm's estimate (rate, mean or event rate) over all replicates, with its
    Monte-Carlo SE. ``mean_rate`` names it for binary endpoints."""

    name: str
    mean_rate: float
    mean_rate_se: float
    statistic: str = "rate"

    def to_dict(self) -> dict:
        out = {"name": self.name, "statistic": self.statistic,
               "mean_estimate": _json(self.mean_rate), "mean_estimate_se": _json(self.mean_rate_se)}
        if self.statistic == "rate":
            out.update(mean_rate=_json(self.mean_rate), mean_rate_se=_json(self.mean_rate_se))
        return out


@dataclass(frozen=True)
class OperatingCharacteristics:
    """What ``replicates`` simulated trials of a design showed (the primary endpoint's arms
    and comparisons; ``secondary``: the same per secondary endpoint).

    With several active arms, ``any_significant`` is the share of trials in which some
    comparison was significant under the multiplicity rule and ``any_significant_unadjusted``
    the same with every comparison at alpha: under the global null these are the
    family-wise error rates with and without adjustment.
    """

    replicates: int
    arms: tuple[ArmOC, ...]
    comparisons: tuple[ComparisonOC, ...]
    multiplicity: str = "none"
    any_significant: float | None = None
    any_significant_unadjusted: float | None = None
    secondary: tuple[tuple[str, tuple[ComparisonOC, ...]], ...] = ()

    def to_dict(self) -> dict:
        out = {
            "replicates": self.replicates,
            "arms": [a.to_dict() for a in self.arms],
            "comparisons": [c.to_dict() for c in self.comparisons],
            "multiplicity": self.multiplicity,
        }
        if self.any_significant is not None:
            se = mc_standard_error(self.any_significant, self.replicates)
            out["family"] = {
                "any_significant": self.any_significant, "any_significant_se": se,
                "any_significant_unadjusted": self.any_significant_unadjusted,
                "any_significant_unadjusted_se": mc_standard_error(
                    self.any_significant_unadjusted, self.replicates)}
        if self.secondary:
            out["secondary"] = [{"endpoint": name, "comparisons": [c.to_dict() for c in cs]}
                                for name, cs in self.secondary]
        return out


def _json(v: object) -> object:
    return None if isinstance(v, float) and not np.isfinite(v) else v


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


def _significant(c: Comparison, alpha: float, sided: int, adjusted: bool) -> bool:
    if adjusted:
        return bool(c.significant)
    return bool(c.p_value < alpha) and (sided == 2 or c.benefit > 0)


def _comparison_oc(comps: list[list[Comparison]], reps: int, alpha: float,
                   sided: int) -> tuple[ComparisonOC, ...]:
    out = []
    for k, c in enumerate(comps[0]):
        col = [an[k] for an in comps]
        sig = np.array([_significant(x, alpha, sided, True) for x in col])
        raw = np.array([_significant(x, alpha, sided, False) for x in col])
        est = np.array([x.estimate for x in col], dtype=float)
        pval = np.array([x.p_value for x in col], dtype=float)
        power = float(sig.mean())
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)   # every replicate NaN
            out.append(ComparisonOC(c.arm, c.control, power, mc_standard_error(power, reps),
                                    float(np.nanmean(est)), float(np.nanmean(pval)),
                                    float(raw.mean()), c.scale, int(np.isnan(pval).sum())))
    return tuple(out)


def summarise(analyses: list[TrialAnalysis]) -> OperatingCharacteristics:
    """Operating characteristics from per-replicate analyses (NaN estimates, e.g. an empty
    arm in some replicate, are left out of the means and counted in ``undefined``)."""
    reps = len(analyses)
    first = analyses[0]
    alpha, sided = first.alpha, first.sided
    arms = []
    for k, a in enumerate(first.arms):
        est = np.array([an.arms[k].estimate for an in analyses], dtype=float)
        ok = est[~np.isnan(est)]
        se = float(ok.std(ddof=1) / np.sqrt(ok.size)) if ok.size > 1 else float("nan")
        arms.append(ArmOC(a.name, float(ok.mean()) if ok.size else float("nan"), se,
                          a.statistic))
    comps = _comparison_oc([list(an.comparisons) for an in analyses], reps, alpha, sided)
    any_adj = any_raw = None
    if len(comps) > 1:
        any_adj = float(np.mean([any(_significant(c, alpha, sided, True)
                                     for c in an.comparisons) for an in analyses]))
        any_raw = float(np.mean([any(_significant(c, alpha, sided, False)
                                     for c in an.comparisons) for an in analyses]))
    secondary = tuple(
        (e.endpoint, _comparison_oc([list(an.endpoints[i].comparisons) for an in analyses],
                                    reps, alpha, sided))
        for i, e in enumerate(first.endpoints) if i > 0 and e.role == "secondary")
    return OperatingCharacteristics(reps, tuple(arms), comps, first.multiplicity, any_adj,
                                    any_raw, secondary)


@dataclass(frozen=True)
class ReplicateSummary:
    """What is kept of one replicate after its chunk: its number and its analysis."""

    replicate: int
    analysis: TrialAnalysis


@dataclass(frozen=True)
class ChunkResult:
    """A chunk's picklable summary: each replicate's analysis (predictive, and conditional
    when asked for) and, for the chunk holding replicate 0, that trial in full."""

    replicates: list[ReplicateSummary]
    conditional: list[TrialAnalysis]
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
    if both:
        batch = [remembering(e) for e in batch]
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
    analyses: list[TrialAnalysis] = []
    cond: list[TrialAnalysis] = []
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
