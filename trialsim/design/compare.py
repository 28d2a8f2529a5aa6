"""Compare designs on common virtual patients: power, paired differences, dose selection.

Every design is simulated with the same seed, so replicate ``r`` of every design draws the
same candidate pool and gives each candidate the same model parameters, flares, visit noise,
dropout and adverse-event draws (:mod:`trialsim.streams`). Two designs that differ only in
dose therefore differ only through the dose — the comparison is *paired*: the difference in
power is the mean over replicates of ``d_r = reject_design(r) − reject_reference(r)``, with
Monte-Carlo SE ``sd(d)/√R``, far smaller than the ``√(se_a² + se_b²)`` of independent runs
(both are reported). ``P(beats reference)`` is the share of replicates in which the design's
trial succeeds and the reference's fails (and conversely), so the paired power difference
is their difference.

Selection across designs (e.g. a dose grid): in each replicate the design with the largest
estimated effect (primary arm − control) is "selected"; the truth is the design with the
largest mean effect over all replicates (a large-sample estimate, reported with its SE), and
P(correct selection) the share of replicates that select it. Within a multi-arm design the
same is done over its active arms (the arm with the largest estimated effect versus
control), together with the minimum effective dose: the lowest-exposure arm whose true
(mean) effect versus control is at least ``delta`` — and the share of replicates in which
the lowest significant arm with an observed effect ≥ ``delta`` is that arm. "Significant"
is the decision after the protocol's multiplicity rule, so a multi-arm design's power and
dose selection carry its family-wise error control. Effects are each comparison's estimate
oriented so that larger is better: the difference in response rates for a binary endpoint,
the difference in means (sign-flipped when lower is better), the negative log hazard ratio
when longer times are better.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from trialsim.design.replicates import DEFAULT_CHUNK
from trialsim.design.sizes import PowerError, Tally, simulate_chunk
from trialsim.execution import Backend, InProcess, chunks
from trialsim.model import DEFAULT_PARAMETERS, ModelParameters
from trialsim.protocol import Protocol
from trialsim.regimen import dose_schedule
from trialsim.stats.binary import wilson_interval
from trialsim.stats.power import mc_standard_error
from trialsim.trial import TrialResult
from trialsim.variants import Design


@dataclass(frozen=True)
class DesignRow:
    """One design's operating characteristics and its paired contrast with the reference."""

    name: str
    source: str
    rank: int
    n: int
    arms: list[str]
    comparison: str
    power: float
    power_se: float
    ci95: list[float]
    paired_difference: float       # power − reference power, on the same replicates
    paired_se: float               # sd of per-replicate differences / √R
    unpaired_se: float             # √(se² + se_ref²): what independent runs would give
    p_beats_reference: float       # design succeeds, reference fails
    p_reference_beats: float       # reference succeeds, design fails
    p_selected: float              # largest estimated effect among the designs
    mean_effect: float             # mean effect, primary arm − control (oriented: + = better)
    mean_effect_se: float
    mean_rates: dict[str, float]
    expected_enrolled: float
    expected_screened: float
    screened_per_enrolled: float
    screen_failures: dict[str, float]   # mean per trial, by first failing criterion
    fever: float | None            # primary active arm, share of patients (mechanistic)
    injection_site_reaction: float | None
    peak_treg: float | None        # median peak Treg (× baseline) in the primary active arm
    dose_selection: dict[str, Any] | None = None   # multi-arm designs


@dataclass(frozen=True)
class DesignComparison:
    """The ranked comparison of designs (what ``trialsim compare`` shows and writes)."""

    replicates: int
    seed: int
    reference: str
    rows: list[DesignRow]
    correct_selection: dict[str, Any]

    def __rich__(self) -> Any:
        from trialsim.report import compare_renderable

        return compare_renderable(self)

    def to_dict(self) -> dict[str, Any]:
        return {"replicates": self.replicates, "seed": self.seed,
                "reference": self.reference, "designs": [asdict(r) for r in self.rows],
                "correct_selection": self.correct_selection}


@dataclass
class _Extras:
    """Per-replicate figures the power tally does not keep."""

    effect: list[np.ndarray]       # (arms,) each arm's estimate (rate, mean, event rate)
    benefit: list[np.ndarray]      # (comparisons,) estimates oriented: positive favours arm
    fever: list[float]
    isr: list[float]
    treg: list[float]
    screened: list[float]
    failures: dict[str, float]

    def extend(self, other: _Extras) -> None:
        """Append a later chunk's figures."""
        self.effect.extend(other.effect)
        self.benefit.extend(other.benefit)
        self.fever.extend(other.fever)
        self.isr.extend(other.isr)
        self.treg.extend(other.treg)
        self.screened.extend(other.screened)
        for k, v in other.failures.items():
            self.failures[k] = self.failures.get(k, 0.0) + v


def design_chunk(protocol: Protocol, reps: range, params: ModelParameters,
                 source: str) -> tuple[Tally, _Extras]:
    """Simulate replicates ``reps`` of one design (one backend task): its power tally and
    the per-replicate figures the comparison adds."""
    tally = Tally()
    ex = _Extras([], [], [], [], [], [], {})
    results = simulate_chunk(protocol, [protocol.population.n], reps, params, source, tally)
    _collect(protocol, results, ex)
    return tally, ex


def _primary(protocol: Protocol) -> tuple[int, int]:
    control = protocol.arms.index(protocol.control_arm)
    return next(j for j in range(len(protocol.arms)) if j != control), control


def _exposure(protocol: Protocol, arm: int) -> float:
    """Total IL-2 over the trial (MIU): orders arms for the minimum effective dose."""
    return float(dose_schedule(protocol.arms[arm].regimen, protocol.horizon_days).amounts.sum())


def _collect(protocol: Protocol, results: Sequence[TrialResult], extras: _Extras) -> None:
    active, control = _primary(protocol)
    for res in results:
        extras.effect.append(np.array([a.estimate for a in res.analysis.arms], dtype=float))
        extras.benefit.append(np.array([c.benefit for c in res.analysis.comparisons],
                                       dtype=float))
        extras.screened.append(float(res.cohort.screened))
        for k, v in res.cohort.screen_failures.items():
            extras.failures[k] = extras.failures.get(k, 0.0) + v
        if res.detail is not None:
            m = res.arm == active
            extras.fever.append(float(res.adverse["fever"][m].mean()))
            extras.isr.append(float(res.adverse["injection_site_reaction"][m].mean()))
            extras.treg.append(float(np.median(res.trajectory.extremes["R_max"][m])))


def _dose_selection(protocol: Protocol, benefit: np.ndarray, reject: np.ndarray,
                    delta: float) -> dict[str, Any] | None:
    """Best-arm selection and minimum effective dose over a multi-arm design's replicates.

    ``benefit`` (replicates, comparisons): each active arm's estimated effect versus
    control, oriented so that larger is better (for response rates: the difference).
    """
    _, control = _primary(protocol)
    active = [j for j in range(len(protocol.arms)) if j != control]
    if len(active) < 2:
        return None
    names = [protocol.arms[j].name for j in active]
    filled = np.where(np.isnan(benefit), -np.inf, benefit)
    picked = np.argmax(filled, axis=1)
    true_diff = np.nanmean(benefit, axis=0)
    truth = int(np.argmax(true_diff))
    order = sorted(range(len(active)), key=lambda i: _exposure(protocol, active[i]))
    med = next((i for i in order if true_diff[i] >= delta), None)
    effective = reject & (filled >= delta)                    # (R, active)
    est = np.full(benefit.shape[0], -1)
    for i in reversed(order):
        est = np.where(effective[:, i], i, est)
    return {
        "p_selected": {n: float((picked == i).mean()) for i, n in enumerate(names)},
        "best": names[truth],
        "p_correct_selection": float((picked == truth).mean()),
        "delta": delta,
        "minimum_effective_dose": None if med is None else names[med],
        "p_med_identified": float((est == (-1 if med is None else med)).mean()),
        "p_no_effective_dose": float((est == -1).mean()),
    }


def compare_designs(
    designs: Sequence[Design],
    *,
    replicates: int | None = None,
    reference: str | None = None,
    delta: float = 0.1,
    params: ModelParameters = DEFAULT_PARAMETERS,
    chunk: int = DEFAULT_CHUNK,
    progress: Callable[[int, int], None] | None = None,
    backend: Backend | None = None,
) -> DesignComparison:
    """Simulate every design on the same replicates and rank them (see module docstring).
    Chunks of replicates are tasks for ``backend`` (default in process)."""
    names = [d.name for d in designs]
    ref = names[0] if reference is None else reference
    if ref not in names:
        raise PowerError(f"--reference {ref!r} is not one of the designs: {', '.join(names)}.")
    reps = replicates or designs[0].protocol.trial.replicates
    if reps < 2:
        raise PowerError("compare needs at least 2 replicates (--replicates R).")
    backend = backend or InProcess()
    tallies, extras = [], []
    done = 0

    def tick(part: tuple[Tally, _Extras]) -> None:
        nonlocal done
        done += len(part[1].effect)
        if progress is not None:
            progress(done, reps * len(designs))

    for d in designs:
        tally = Tally()
        ex = _Extras([], [], [], [], [], [], {})
        tasks = [(d.protocol, r, params, d.source) for r in chunks(0, reps, chunk)]
        for part_tally, part in backend.map(design_chunk, tasks, tick):
            tally.extend(part_tally)
            ex.extend(part)
        tallies.append(tally)
        extras.append(ex)

    reject = np.stack([t.stack("reject")[:, 0, 0] for t in tallies], axis=1)   # (R, D)
    effect = np.stack([_effects(d.protocol, e) for d, e in zip(designs, extras, strict=True)],
                      axis=1)                                                  # (R, D)
    picked = np.argmax(np.where(np.isnan(effect), -np.inf, effect), axis=1)
    true_best = int(np.argmax(np.nanmean(effect, axis=0)))
    r_ref = names.index(ref)
    rows = []
    for k, (d, t, ex) in enumerate(zip(designs, tallies, extras, strict=True)):
        p = d.protocol
        active, control = _primary(p)
        power = float(reject[:, k].mean())
        se = mc_standard_error(power, reps)
        diff = reject[:, k].astype(float) - reject[:, r_ref]
        lo, hi = wilson_interval(int(reject[:, k].sum()), reps)
        rates = np.stack(ex.effect)
        seq = t.stack("seq")[:, 0]
        enrolled = float(seq[:, 4].mean()) if p.interim is not None else float(p.population.n)
        screened = float(np.mean(ex.screened))
        rows.append(DesignRow(
            name=d.name, source=d.source, rank=0, n=p.population.n,
            arms=[a.name for a in p.arms],
            comparison=f"{p.arms[active].name} vs {p.arms[control].name}",
            power=power, power_se=se, ci95=[float(lo), float(hi)],
            paired_difference=float(diff.mean()),
            paired_se=float(diff.std(ddof=1) / math.sqrt(reps)),
            unpaired_se=math.hypot(se, mc_standard_error(float(reject[:, r_ref].mean()), reps)),
            p_beats_reference=float(((reject[:, k]) & ~reject[:, r_ref]).mean()),
            p_reference_beats=float((~reject[:, k] & reject[:, r_ref]).mean()),
            p_selected=float((picked == k).mean()),
            mean_effect=float(np.nanmean(effect[:, k])),
            mean_effect_se=float(np.nanstd(effect[:, k], ddof=1) / math.sqrt(reps)),
            mean_rates={a.name: float(x) for a, x in zip(p.arms, np.nanmean(rates, axis=0),
                                                         strict=True)},
            expected_enrolled=enrolled, expected_screened=screened,
            screened_per_enrolled=screened / p.population.n,
            screen_failures={k2: v / reps for k2, v in sorted(ex.failures.items())},
            fever=float(np.mean(ex.fever)) if ex.fever else None,
            injection_site_reaction=float(np.mean(ex.isr)) if ex.isr else None,
            peak_treg=float(np.mean(ex.treg)) if ex.treg else None,
            dose_selection=_dose_selection(p, np.stack(ex.benefit), t.stack("reject")[:, 0, :],
                                           delta)))
    order = sorted(range(len(rows)), key=lambda i: (-rows[i].power, i))
    ranked = [DesignRow(**{**asdict(rows[i]), "rank": r + 1}) for r, i in enumerate(order)]
    correct = {"best": names[true_best],
               "p_correct_selection": float((picked == true_best).mean()),
               "by": "largest mean effect (primary arm − control) over all replicates"}
    return DesignComparison(reps, designs[0].protocol.trial.seed, ref, ranked, correct)


def _effects(protocol: Protocol, ex: _Extras) -> np.ndarray:
    """The primary comparison's estimated effect per replicate, larger = better (oriented
    difference or log ratio; NaN when a replicate has no estimate)."""
    return np.stack(ex.benefit)[:, 0]
