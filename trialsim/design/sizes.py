"""Power over sample sizes on common random numbers, and the size that reaches a target.

A replicate simulates its largest cohort once; each smaller total ``n`` analyses the first
``n`` randomised patients. Because every draw is keyed by replicate, stage and patient
(:mod:`trialsim.streams`) and the randomisation list of each stratum is fixed in advance,
the first ``n`` patients of the largest trial *are* the trial of ``n`` — the same
candidates screened, the same arms, the same outcomes — so every point of the curve is a
valid estimate of power at its ``n`` (a test checks the identity). Sharing patients across
sizes makes the curve smooth (differences between sizes carry far less Monte-Carlo noise
than independent runs) and cheap (one simulation per replicate instead of one per size).

Sizes are rounded up to a multiple of the allocation ratios' sum, so the nominal per-arm
sizes ``n · ratio / sum(ratios)`` are integers; the realised sizes of a stratified
permuted-block randomisation can differ from them by part of a block per stratum, as in a
real trial, and their means are reported.

The sample size for a target power comes from a probit regression of the rejection counts
on √n (normal-approximation power is Φ(a + b√n) for a two-group comparison), fitted to all
replicates at all sizes; it is then confirmed by a separate simulation at that size. Its
95% interval comes from a bootstrap over replicates (the unit that is independent).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
from scipy import stats

from trialsim.design.decisions import primary_data, size_outcomes
from trialsim.design.replicates import DEFAULT_CHUNK
from trialsim.design.sequential import bounds_for, decide, look_sizes, signed_z
from trialsim.errors import TrialsimError
from trialsim.execution import Backend, InProcess, chunks
from trialsim.model import DEFAULT_PARAMETERS, ModelParameters
from trialsim.protocol import Protocol
from trialsim.stats.binary import wilson_interval
from trialsim.stats.endpoint_data import EndpointData
from trialsim.stats.group_sequential import crossing_probabilities
from trialsim.stats.power import mc_standard_error
from trialsim.trial import (
    TrialResult,
    enrol_and_randomise,
    remembering,
    simulate_enrolled,
    simulate_trials,
)

MAX_REPLICATES = 1_000_000
_BOOTSTRAP = 200


class PowerError(TrialsimError):
    """A power request that cannot be answered (bad size range, unreachable precision)."""


def parse_sizes(text: str, protocol: Protocol) -> list[int]:
    """``"40:240:20"`` (start:stop:step, inclusive) or ``"40,60,100"`` → sorted total sizes,
    each rounded up to a multiple of the allocation ratios' sum."""
    try:
        if ":" in text:
            parts = [int(x) for x in text.split(":")]
            if len(parts) not in (2, 3):
                raise ValueError
            start, stop, step = parts[0], parts[1], parts[2] if len(parts) == 3 else 20
            if step <= 0 or stop < start:
                raise ValueError
            raw = list(range(start, stop + 1, step))
        else:
            raw = [int(x) for x in text.split(",")]
    except ValueError:
        raise PowerError(f"--n {text!r}: give start:stop:step (e.g. 40:240:20) or a list "
                         "of sizes (e.g. 40,80,120) with stop >= start and step > 0.") from None
    unit = sum(a.ratio for a in protocol.arms)
    sizes = sorted({unit * math.ceil(n / unit) for n in raw})
    if sizes[0] < max(2 * unit, len(protocol.arms)) or sizes[-1] > 200_000 or len(sizes) > 100:
        raise PowerError(f"--n {text!r}: sizes must lie in {2 * unit}..200000 "
                         f"(at most 100 of them) (got {sizes[0]}..{sizes[-1]}).")
    return sizes


@dataclass
class Tally:
    """Per-replicate outcomes at each size, accumulated chunk by chunk."""

    reject: list[np.ndarray] = field(default_factory=list)     # (R, S, C) bool per comparison
    reject_raw: list[np.ndarray] = field(default_factory=list)  # (R, S, C) unadjusted
    rates: list[np.ndarray] = field(default_factory=list)      # (R, S, A) arm estimates
    effects: list[np.ndarray] = field(default_factory=list)    # (R, S, C) estimates
    benefit: list[np.ndarray] = field(default_factory=list)    # (R, S, C) favouring the arm
    arm_n: list[np.ndarray] = field(default_factory=list)      # (R, S, A)
    screened: list[np.ndarray] = field(default_factory=list)   # (R, S)
    # (R, S, 5): stopping look, efficacy, futility, patients analysed, patients enrolled
    seq: list[np.ndarray] = field(default_factory=list)
    kind: str = "binary"                                       # of the primary endpoint

    def stack(self, name: str) -> np.ndarray:
        return np.concatenate(getattr(self, name))

    def extend(self, other: Tally) -> None:
        """Append another tally's chunks (the caller keeps chunk order)."""
        for name in self.__dataclass_fields__:
            mine = getattr(self, name)
            if isinstance(mine, list):
                mine.extend(getattr(other, name))
        self.kind = other.kind


@dataclass(frozen=True)
class Outcome:
    """What the power tally needs of one replicate, in randomisation order: small and
    picklable, and — with keyed streams — its first ``m`` entries are the trial of ``m``.
    ``endpoints`` holds the primary endpoint only (what the size decisions analyse)."""

    replicate: int
    responder: np.ndarray
    arm: np.ndarray
    strata: np.ndarray
    enrol_day: np.ndarray
    screen_order: np.ndarray
    endpoints: dict[str, EndpointData]

    @classmethod
    def of(cls, protocol: Protocol, res: TrialResult) -> Outcome:
        primary = primary_data(protocol, res)
        return cls(res.replicate, np.asarray(res.responder, dtype=bool), res.arm, res.strata,
                   res.enrol_day, res.cohort.columns["screen_order"],
                   {primary.name: primary})

    def head(self, m: int) -> Outcome:
        return Outcome(self.replicate, self.responder[:m], self.arm[:m], self.strata[:m],
                       self.enrol_day[:m], self.screen_order[:m],
                       {k: v.head(m) for k, v in self.endpoints.items()})


def tally_outcomes(protocol: Protocol, sizes: Sequence[int], results: Sequence[Outcome],
                   tally: Tally) -> None:
    """Analyse the first ``n`` patients of each replicate at every ``n`` of ``sizes`` and
    append the chunk's rejections, estimates, arm sizes and screening counts to ``tally``."""
    out = size_outcomes(protocol, results, sizes)
    rej = out.reject
    control = protocol.arms.index(protocol.control_arm)
    seq = np.zeros((len(results), len(sizes), 5))
    if protocol.interim is not None:
        seq = _sequential(protocol, results, sizes, control)
        rej = rej.copy()
        rej[..., 0] = seq[..., 1] > 0
    tally.kind = primary_data(protocol, results[0]).kind
    tally.reject.append(rej)
    tally.reject_raw.append(out.reject_raw if protocol.interim is None else rej)
    tally.rates.append(out.arm_estimate)
    tally.effects.append(out.estimate)
    tally.benefit.append(out.benefit)
    tally.arm_n.append(out.arm_n.astype(float))
    tally.screened.append(np.array([[res.screen_order[n - 1] for n in sizes]
                                    for res in results], dtype=float))
    tally.seq.append(seq)


def simulate_chunk(protocol: Protocol, sizes: Sequence[int], reps: range,
                   params: ModelParameters, source: str, tally: Tally,
                   conditional: bool = False) -> list[TrialResult]:
    """Simulate replicates ``reps`` at the largest size, tally every size's outcomes into
    ``tally`` and return the full results (for callers that want more than the tally).
    ``conditional``: trial-level effects at their typical values."""
    big = protocol.with_overrides(n=max(sizes), source=source)
    results = simulate_trials(big, reps, params, source, conditional=conditional)
    tally_outcomes(protocol, sizes, [Outcome.of(protocol, r) for r in results], tally)
    return results


@dataclass(frozen=True)
class SizesChunk:
    """One backend task's share of a power curve: the tallies of both passes and each
    replicate's outcomes at the largest size (kept to confirm a size without simulating)."""

    tally: Tally
    tally_conditional: Tally | None
    outcomes: list[Outcome] | None

    @property
    def count(self) -> int:
        return int(self.tally.reject[0].shape[0])


def sizes_chunk(protocol: Protocol, sizes: Sequence[int], reps: range,
                params: ModelParameters, source: str, both: bool,
                keep_outcomes: bool) -> SizesChunk:
    """Simulate replicates ``reps`` at the largest size and tally every size (one task).
    With ``both``, the same enrolled patients are simulated again with the typical trial
    effect (conditional power); enrolment and randomisation are done once for both."""
    big = protocol.with_overrides(n=max(sizes), source=source)
    batch = [enrol_and_randomise(big, r, source) for r in reps]
    if both:
        batch = [remembering(e) for e in batch]
    outcomes = [Outcome.of(protocol, r) for r in simulate_enrolled(big, batch, params)]
    tally = Tally()
    tally_outcomes(protocol, sizes, outcomes, tally)
    tally_c = None
    if both:
        tally_c = Tally()
        tally_outcomes(protocol, sizes, [Outcome.of(protocol, r) for r in simulate_enrolled(
            big, batch, params, conditional=True)], tally_c)
    return SizesChunk(tally, tally_c, outcomes if keep_outcomes else None)


def _sequential(protocol: Protocol, results: Sequence[Outcome], sizes: Sequence[int],
                control: int) -> np.ndarray:
    """(R, S, 5): stopping look, efficacy, futility, patients analysed and enrolled then."""
    a = protocol.analysis
    looks = [look_sizes(protocol, n) for n in sizes]                 # (S, J)
    flat = [m for ms in looks for m in ms]
    out = size_outcomes(protocol, results, flat)
    z = signed_z(out.p[..., 0], out.benefit[..., 0], a.sided)
    z = z.reshape(len(results), len(sizes), -1)                       # (R, S, J)
    look, eff, fut = decide(protocol, z)
    analysed = np.asarray(looks)[np.arange(len(sizes)), look]         # (R, S)
    endpoint_day = 7.0 * protocol.endpoint.week
    enrolled = np.empty_like(analysed)
    for i, res in enumerate(results):
        for s, n in enumerate(sizes):
            day = res.enrol_day[analysed[i, s] - 1] + endpoint_day
            enrolled[i, s] = np.searchsorted(res.enrol_day[:n], day, side="right")
    return np.stack([look, eff, fut, analysed, enrolled], axis=-1).astype(float)


@dataclass(frozen=True)
class SizeRow:
    """Operating characteristics at one total sample size."""

    n: int
    n_per_arm: list[int]              # nominal: n · ratio / sum(ratios)
    mean_n_per_arm: list[float]       # realised by the randomisation, mean over replicates
    power: float                      # primary comparison (first active arm vs control)
    power_se: float
    ci95: list[float]                 # Wilson interval of the Monte-Carlo estimate
    analytic_power: float | None      # binary: normal approximation at the mean rates
    mean_rates: dict[str, float]      # mean arm estimate (rate, mean or event rate)
    mean_difference: float            # primary arm − control of those means
    expected_screened: float
    comparisons: list[dict[str, Any]]  # every comparison's power (multi-arm)
    any_power: float | None = None     # multi-arm: some comparison significant
    all_power: float | None = None     # multi-arm: every comparison significant
    any_power_unadjusted: float | None = None   # multi-arm: some p < alpha, no adjustment
    mean_estimate: float | None = None  # mean estimate of the primary comparison
    sequential: dict[str, Any] | None = None
    # the same replicates with the between-trial effect at its typical value
    power_conditional: float | None = None
    power_conditional_se: float | None = None
    mean_rates_conditional: dict[str, float] | None = None


@dataclass(frozen=True)
class PowerCurve:
    """Simulated power at each size, the fitted curve and the size that reaches the target."""

    protocol: Protocol
    replicates: int
    seed: int
    target: float
    rows: list[SizeRow]
    fit: dict[str, float] | None   # probit Φ(intercept + slope·√n), and its n_for_target
    required_n: int | None
    required_n_ci95: list[int] | None
    confirm: SizeRow | None
    note: str = ""
    bounds: dict[str, Any] | None = None
    uncertainty: str = "conditional"       # of ``power``: predictive or conditional
    required_n_conditional: int | None = None
    kind: str = "binary"                   # of the primary endpoint

    @property
    def method(self) -> str:
        """The primary analysis method (by the primary endpoint's kind)."""
        return self.protocol.analysis.methods[self.kind]

    def __rich__(self) -> Any:
        from trialsim.report import power_renderable

        return power_renderable(self)

    def fitted_power(self, n: np.ndarray | float) -> np.ndarray:
        if self.fit is None:
            return np.full(np.shape(n), np.nan)
        return stats.norm.cdf(self.fit["intercept"] + self.fit["slope"] * np.sqrt(n))

    def to_dict(self) -> dict[str, Any]:
        """The JSON document ``trialsim power --json`` prints and ``power.json`` holds."""
        p = self.protocol
        return {
            "protocol": p.trial.name,
            "protocol_digest": p.digest(),
            "seed": self.seed,
            "replicates": self.replicates,
            "outcome_model": p.outcome.model,
            "endpoint": {"primary": p.endpoint.primary, "week": p.endpoint.week},
            "analysis": {"test": p.analysis.test, "method": self.method, "kind": self.kind,
                         "alpha": p.analysis.alpha, "sided": p.analysis.sided,
                         "multiplicity": p.analysis.multiplicity},
            "arms": [{"name": a.name, "ratio": a.ratio} for a in p.arms],
            "comparison": f"{_primary(p)[0]} vs {_primary(p)[1]}",
            "interim": self.bounds,
            "target": self.target,
            "uncertainty": self.uncertainty,
            "rows": [asdict(r) for r in self.rows],
            "fit": self.fit,
            "required_n": self.required_n,
            "required_n_ci95": self.required_n_ci95,
            "required_n_conditional": self.required_n_conditional,
            "confirm": None if self.confirm is None else asdict(self.confirm),
            "note": self.note,
        }


def _primary(protocol: Protocol) -> tuple[str, str]:
    control = protocol.control_arm.name
    return next(a.name for a in protocol.arms if a.name != control), control


def _analytic(protocol: Protocol, rates: dict[str, float], n_arm: dict[str, float],
              n: int, kind: str = "binary") -> float | None:
    """Normal-approximation power at the simulated mean rates (statsmodels), group-sequential
    crossing probability when the protocol has interim looks; binary endpoints only, and
    unadjusted for multiplicity."""
    arm, control = _primary(protocol)
    p1, p0 = rates[arm], rates[control]
    if kind != "binary" or not (0 < p0 < 1 and 0 <= p1 <= 1):
        return None
    n1, n0 = n_arm[arm], n_arm[control]
    a = protocol.analysis
    if protocol.interim is None:
        # statsmodels is imported where it is used: it is slow to import and workers and
        # other commands never need it.
        from statsmodels.stats.proportion import power_proportions_2indep

        alt = "two-sided" if a.sided == 2 else "larger"
        return float(power_proportions_2indep(p1 - p0, p0, n1, ratio=n0 / n1, alpha=a.alpha,
                                              alternative=alt, return_results=False))
    pbar = (n1 * p1 + n0 * p0) / (n1 + n0)
    se = math.sqrt(max(pbar * (1 - pbar), 1e-12) * (1 / n1 + 1 / n0))
    drift = (p1 - p0) / se
    cp = crossing_probabilities(bounds_for(protocol), drift, protocol.interim.futility_z)
    return float(cp["total_efficacy"])


def size_row(protocol: Protocol, n: int, tally: Tally, s: int) -> SizeRow:
    rej = tally.stack("reject")[:, s]                 # (R, C)
    raw = tally.stack("reject_raw")[:, s]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)    # an estimate NaN in every replicate
        rates = np.nanmean(tally.stack("rates")[:, s], axis=0)
        effect = np.nanmean(tally.stack("effects")[:, s], axis=0)
    arm_n = tally.stack("arm_n")[:, s].mean(axis=0)
    reps = rej.shape[0]
    names = [a.name for a in protocol.arms]
    unit = sum(a.ratio for a in protocol.arms)
    control = protocol.control_arm.name
    comps = []
    for c, name in enumerate(x for x in names if x != control):
        pw = float(rej[:, c].mean())
        comps.append({"arm": name, "control": control, "power": pw,
                      "power_se": mc_standard_error(pw, reps),
                      "power_unadjusted": float(raw[:, c].mean()),
                      "mean_estimate": _finite(effect[c])})
    power = comps[0]["power"]
    lo, hi = wilson_interval(int(rej[:, 0].sum()), reps)
    rate_map = dict(zip(names, (float(x) for x in rates), strict=True))
    n_map = dict(zip(names, (float(x) for x in arm_n), strict=True))
    arm, _ = _primary(protocol)
    seq = None
    if protocol.interim is not None:
        q = tally.stack("seq")[:, s]
        k = len(protocol.interim.looks)
        look = q[:, 0].astype(int)
        seq = {
            "stop_efficacy": [float(((look == j) & (q[:, 1] > 0)).mean()) for j in range(k)],
            "stop_futility": [float(((look == j) & (q[:, 2] > 0)).mean()) for j in range(k)],
            "expected_n_analysed": float(q[:, 3].mean()),
            "expected_n_enrolled": float(q[:, 4].mean()),
        }
    multi = len(comps) > 1
    return SizeRow(
        n=n, n_per_arm=[n * a.ratio // unit for a in protocol.arms],
        mean_n_per_arm=[float(x) for x in arm_n], power=power,
        power_se=mc_standard_error(power, reps), ci95=[float(lo), float(hi)],
        analytic_power=_analytic(protocol, rate_map, n_map, n, tally.kind),
        mean_rates=rate_map,
        mean_difference=rate_map[arm] - rate_map[control],
        expected_screened=float(tally.stack("screened")[:, s].mean()), comparisons=comps,
        any_power=float(rej.any(axis=1).mean()) if multi else None,
        all_power=float(rej.all(axis=1).mean()) if multi else None,
        any_power_unadjusted=float(raw.any(axis=1).mean()) if multi else None,
        mean_estimate=_finite(effect[0]), sequential=seq)


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def _probit(sizes: np.ndarray, hits: np.ndarray, reps: int,
            start: tuple[float, float] | None = None) -> tuple[float, float] | None:
    """(intercept, slope) of Φ⁻¹(power) = a + b√n from rejection counts; None if not
    increasing (no effect to power). ``start``: initial values (bootstrap refits)."""
    if sizes.size < 2 or hits.sum() == 0 or hits.sum() == reps * sizes.size:
        return None
    import statsmodels.api as sm

    exog = sm.add_constant(np.sqrt(sizes.astype(float)), has_constant="add")
    model = sm.GLM(np.column_stack([hits, reps - hits]), exog,
                   family=sm.families.Binomial(link=sm.families.links.Probit()))
    with warnings.catch_warnings():
        # Near-perfect separation (power ≈ 0 or 1 at the ends of the range) is expected and
        # harmless for a two-parameter curve; the fit and its bootstrap still converge.
        warnings.simplefilter("ignore")
        a, b = model.fit(start_params=None if start is None else np.asarray(start)).params
    return (float(a), float(b)) if b > 0 else None


def _size_for(fit: tuple[float, float], target: float, unit: int) -> int:
    a, b = fit
    root = (stats.norm.ppf(target) - a) / b
    return unit * max(1, math.ceil(max(root, 0.0) ** 2 / unit))


_MAX_CONFIRM = 3


def _confirm(protocol: Protocol, n: int, fit: tuple[float, float], target: float,
             reps: int, params: ModelParameters, source: str, chunk: int,
             progress: Callable[[int, int], None] | None, backend: Backend,
             outcomes: list[Outcome] | None) -> tuple[int, SizeRow, str]:
    """Simulate the fitted size on its own. The probit curve is a smooth approximation: when
    the confirming run's 95% interval lies wholly below the target, step n up along the
    curve's local slope and confirm again (at most three runs), so the size reported is one
    the simulation supports. Returns (n, its confirming row, a note).

    With keyed streams, replicate ``r`` at size ``n`` is the first ``n`` patients of
    replicate ``r`` at any larger size; when ``outcomes`` (every replicate at the curve's
    largest size) covers ``n``, the confirming run is their first ``n`` patients — the same
    numbers a new simulation gives, without simulating again."""
    unit = sum(a.ratio for a in protocol.arms)
    fitted = n
    for attempt in range(_MAX_CONFIRM):
        one = Tally()
        if outcomes is not None and n <= outcomes[0].arm.size:
            tally_outcomes(protocol, [n], [o.head(n) for o in outcomes], one)
            if progress is not None:
                progress(reps * (attempt + 2), reps * (attempt + 2))
        else:
            done = reps * (attempt + 1)

            def tick(part: SizesChunk, attempt: int = attempt) -> None:
                nonlocal done
                done += part.count
                if progress is not None:
                    progress(done, reps * (attempt + 2))

            tasks = [(protocol, [n], r, params, source, False, False)
                     for r in chunks(0, reps, chunk)]
            for part in backend.map(sizes_chunk, tasks, tick):
                one.extend(part.tally)
        row = size_row(protocol, n, one, 0)
        if row.ci95[1] >= target:
            break
        gap = stats.norm.ppf(target) - stats.norm.ppf(max(row.power, 1e-6))
        step = gap / fit[1] * 2 * math.sqrt(n)             # d√n = gap / slope
        n = unit * math.ceil((n + max(step, unit)) / unit)
    note = ""
    if n != fitted:
        note = (f"the fitted curve gave {fitted}, whose confirming run fell short of the "
                f"target; {n} after {attempt + 1} confirming runs")
    if row.ci95[1] < target:
        note += f"; {n} still falls short of the target ({row.power:.3f})"
    return n, row, note


# Keep every replicate's outcomes at the largest size (to confirm a size without simulating
# it again) while they take at most this many patients in all (~25 bytes each).
_KEEP_OUTCOMES_PATIENTS = 20_000_000


def power_curve(
    protocol: Protocol,
    sizes: Sequence[int],
    *,
    replicates: int | None = None,
    precision: float | None = None,
    target: float = 0.8,
    confirm: bool = True,
    params: ModelParameters = DEFAULT_PARAMETERS,
    chunk: int = DEFAULT_CHUNK,
    progress: Callable[[int, int], None] | None = None,
    source: str = "protocol",
    conditional: bool = True,
    backend: Backend | None = None,
) -> PowerCurve:
    """Simulated power of ``protocol`` at each total size in ``sizes`` (see module docstring).

    With the protocol's between-trial effects on, ``power`` is predictive (assurance); with
    ``conditional`` every chunk is also simulated with the trial effect at its typical value
    (the same patients), giving ``power_conditional`` per size and its own fitted size.

    ``replicates`` (default the protocol's) fixes the number of simulated trials;
    ``precision`` instead keeps adding replicates until every size's Monte-Carlo SE is at
    most ``precision``. ``progress(done, total)`` is called after every chunk (``total`` may
    grow in precision mode). With ``confirm``, the fitted size for ``target`` is simulated
    on its own with the same number of replicates (see :func:`_confirm`). Chunks of
    replicates are tasks for ``backend`` (:mod:`trialsim.execution`; default in process):
    the curve does not depend on the backend, its workers or the chunk size.
    """
    sizes = sorted(set(int(n) for n in sizes))
    if precision is not None and not 0.0 < precision < 0.5:
        raise PowerError(f"--precision must be in (0, 0.5) (got {precision}).")
    if not 0.0 < target < 1.0:
        raise PowerError(f"--target must be in (0, 1) (got {target}).")
    total = replicates or protocol.trial.replicates
    if precision is not None:
        total = max(200, replicates or 0)
    if total < 2:
        raise PowerError("power needs at least 2 replicates (--replicates R).")
    backend = backend or InProcess()
    tally = Tally()
    tally_c = Tally()
    both = (conditional and protocol.model.between_trial
            and protocol.outcome.model == "mechanistic")
    outcomes: list[Outcome] | None = [] if confirm else None
    done = 0

    def tick(part: SizesChunk) -> None:
        nonlocal ticked
        ticked += part.count
        if progress is not None:
            progress(ticked, total)

    while True:
        ticked = done
        keep = outcomes is not None and total * max(sizes) <= _KEEP_OUTCOMES_PATIENTS
        if not keep:
            outcomes = None
        tasks = [(protocol, sizes, r, params, source, both, keep)
                 for r in chunks(done, total, chunk)]
        for part in backend.map(sizes_chunk, tasks, tick):
            tally.extend(part.tally)
            if part.tally_conditional is not None:
                tally_c.extend(part.tally_conditional)
            if outcomes is not None and part.outcomes is not None:
                outcomes.extend(part.outcomes)
        done = total
        if precision is None:
            break
        p = tally.stack("reject")[:, :, 0].mean(axis=0)
        need = int(math.ceil(float(np.max(p * (1 - p))) / precision ** 2))
        if need <= done:
            break
        if need > MAX_REPLICATES:
            raise PowerError(f"--precision {precision} needs about {need:,} replicates "
                             f"(more than {MAX_REPLICATES:,}); ask for less precision.")
        total = int(need * 1.05) + 1
    rows = [size_row(protocol, n, tally, s) for s, n in enumerate(sizes)]
    unit = sum(a.ratio for a in protocol.arms)
    required_c = None
    if both:
        rej_c = tally_c.stack("reject")[:, :, 0]
        names = [a.name for a in protocol.arms]
        rates_c = tally_c.stack("rates").mean(axis=0)
        for s_i, r in enumerate(rows):
            pc = float(rej_c[:, s_i].mean())
            rows[s_i] = replace(r, power_conditional=pc,
                                power_conditional_se=mc_standard_error(pc, done),
                                mean_rates_conditional=dict(zip(
                                    names, (float(x) for x in rates_c[s_i]), strict=True)))
        fit_c = _probit(np.array(sizes), rej_c.sum(axis=0), done)
        required_c = None if fit_c is None else _size_for(fit_c, target, unit)
    hits_by_rep = tally.stack("reject")[:, :, 0]
    fit = _probit(np.array(sizes), hits_by_rep.sum(axis=0), done)
    required = ci = conf = fitted_n = None
    note = ""
    if fit is None:
        note = ("one size: no curve to fit" if len(sizes) < 2 else
                "power does not increase with n over these sizes: no size reaches the target")
    else:
        required = fitted_n = _size_for(fit, target, unit)
        rng = np.random.default_rng(np.random.SeedSequence(protocol.trial.seed,
                                                           spawn_key=(2**31,)))
        boot = []
        for _ in range(_BOOTSTRAP):
            pick = hits_by_rep[rng.integers(0, done, done)]
            f = _probit(np.array(sizes), pick.sum(axis=0), done, fit)
            if f is not None:
                boot.append(_size_for(f, target, unit))
        if len(boot) >= 0.9 * _BOOTSTRAP:
            ci = [int(np.percentile(boot, 2.5)), int(np.percentile(boot, 97.5))]
        if required > 20 * sizes[-1]:
            note = (f"the fitted size {required} is far beyond the sizes simulated "
                    f"(max {sizes[-1]}): widen --n")
        elif confirm:
            required, conf, note = _confirm(protocol, required, fit, target, done, params,
                                            source, chunk, progress, backend, outcomes)
    bounds = None
    if protocol.interim is not None:
        bounds = {**bounds_for(protocol).to_dict(), "futility_z": protocol.interim.futility_z}
    uncertainty = ("predictive" if protocol.model.between_trial
                   and protocol.outcome.model == "mechanistic" else "conditional")
    return PowerCurve(protocol, done, protocol.trial.seed, target, rows,
                      None if fit is None else {"intercept": fit[0], "slope": fit[1],
                                                "n_for_target": fitted_n,
                                                "n_for_target_ci95": ci},
                      required, ci if required == fitted_n else None, conf, note, bounds,
                      uncertainty, required_c, tally.kind)
