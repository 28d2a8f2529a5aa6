"""The resources a run will need, estimated from the protocol before anything is simulated.

A legal protocol can still ask for more than a machine has: two million patients, thousands
of visits, a dose every hour for ten years, a million replicates, or a screening ceiling that
lets impossible inclusion criteria screen forever. :func:`check_resources` refuses such runs
in milliseconds, naming the field and the estimate, instead of letting them swap for an hour.

Memory model (peak resident bytes, fitted on the 2-core development machine with
``/usr/bin/time`` over n = 60-50,000 patients, 3-40 visits and chunks of 1-10 replicates;
every fitted run was within the estimate, which over-states by ~20-25%)::

    base                                         350 MB (interpreter, numpy, pandas, scipy,
                                                  numba and LLVM; measured 332 MB with the
                                                  model kernel cached, 345 MB compiling it)
    + chunk patients  × (380 B × visits + 250 B)  model states and visit records of a chunk
                                                  (× 2 when a second chunk follows: the
                                                  previous one is alive until replaced)
    + patients        × (640 B × visits + 1.6 kB) replicate 0 in full: tables and CSV files
    + arm patients    × arm doses × 40 B          adverse events: a patients × doses matrix
    + arms × 6-hour steps × 12 × 24 B             plasma IL-2 curves on the 30-minute grid
    all × 1.2

A replicate of more than ``trialsim.trial.PATIENT_CHUNK`` (20,000) patients is simulated
in patient chunks and its tables are streamed to Parquet; the two patient terms become::

    + chunk patients × 1.9 kB                     cohort columns, endpoint and outcome arrays
    + 2 × 20,000 × (380 B × visits + 250 B)       model and visit arrays of patient chunks
    + patients × 500 B + 20,000 × 200 B × visits  the report reading the tables back (the
                                                  visits of the first patient chunk only)

Time model (seconds; within ~30% of runs of 2,000-20,000 patients, 10-2,401 visits, dosing
every other day to every 72 minutes)::

    replicates × patients × days / 1.2 × 10⁶ × (1 + 1.5 f)   the model, 6-hour steps; f is
                                                  the share of the trial with IL-2 in plasma
                                                  (5 days after each dose), the busiest arm
    + replicates × patients × visits × 2 µs       scoring visits
    + patients × visits × 12 µs                   replicate 0's tables and CSV files
    + chunks × (doses + dosing cycles) × 10 µs    expanding the dose schedules

Budgets: :data:`DEFAULT_MEMORY_GB` and :data:`DEFAULT_MAX_HOURS`, overridden by the
environment variables ``TRIALSIM_MEMORY_GB`` and ``TRIALSIM_MAX_HOURS``. The chunk of
replicates integrated together is lowered automatically to fit the memory budget (results do
not depend on it); only when a single replicate does not fit is the run refused.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from trialsim.errors import ResourceError
from trialsim.messages import escape, show_path
from trialsim.protocol import Protocol, Regimen

DEFAULT_MEMORY_GB = 4.0
DEFAULT_MAX_HOURS = 24.0
MAX_CHUNK = 10_000                  # --chunk above this is a usage error
MAX_SCREENED = 100_000_000          # candidates one trial may screen (~4 min at 4×10⁵/s)
DEFAULT_SCREENED_PER_ENROLLED = 200.0   # Population.max_screened_per_enrolled's default
MAX_CYCLES = 100_000                # dosing cycles of one arm (expanded one by one)

_GB = 1e9
_BASE = 350e6
_CHUNK_PER_VISIT, _CHUNK_PER_PATIENT = 380.0, 250.0
_FIRST_PER_VISIT, _FIRST_PER_PATIENT = 640.0, 1600.0
_PER_DOSE_ENTRY = 40.0
_PATIENT_CHUNK = 20_000             # trialsim.trial.PATIENT_CHUNK
# a large replicate's cohort, endpoint and outcome arrays: 1,000,000 patients of the default
# protocol peaked at 2.70 GB (VmHWM, model kernel loaded); the estimate is 3.48 GB
_COHORT_PER_PATIENT = 1900.0
_READBACK_PER_VISIT, _READBACK_PER_PATIENT = 200.0, 500.0   # its tables read by the report
_GRID_BYTES = 12 * 24.0
_SAFETY = 1.2
_PATIENT_DAYS_PER_S = 1.2e6
_DOSING_SLOWDOWN = 1.5
_PK_MEMORY_DAYS = 5.0               # trialsim.model.pk._MEMORY_DAYS
_S_PER_VISIT_SCORED = 2e-6
_S_PER_VISIT_WRITTEN = 1.2e-5
_S_PER_DOSE = 1e-5
_STEP_DAYS = 0.25                   # trialsim.model.dynamics.STEP_DAYS
_EPS_DAYS = 1e-9                    # trialsim.regimen._EPS_DAYS
_HUGE = 10**15                      # counts beyond this are refused whatever the budget


def _every_count(start: float, stop: float, interval: float) -> int:
    """Doses at start, start + interval, … strictly before stop (as regimen._every)."""
    return max(math.ceil((stop - start) / interval - _EPS_DAYS), 0)


def dose_counts(regimen: Regimen | None, horizon_days: float) -> tuple[int, int]:
    """(doses, dosing cycles) that :func:`trialsim.regimen.dose_schedule` will expand,
    computed arithmetically: a regimen of 10³⁰⁰ cycles is counted, not looped over."""
    if regimen is None:
        return 0, 0
    doses, start = 0, regimen.start_day
    if regimen.induction is not None:
        ind = regimen.induction
        doses += _every_count(start, min(start + ind.days, horizon_days), ind.every_days)
        start += ind.days
    if regimen.on_days is None:
        return doses + _every_count(start, horizon_days, regimen.every_days), 1
    period = regimen.on_days + regimen.off_days
    limit = regimen.cycles or (None if regimen.off_days > 0 else 1)
    span = (horizon_days - start) / period if horizon_days > start else 0.0
    started = math.ceil(span) if span < _HUGE else _HUGE
    cycles = started if limit is None else min(started, limit)
    if cycles > 0:
        full = _every_count(0.0, regimen.on_days, regimen.every_days)
        last0 = start + (cycles - 1) * period
        last = _every_count(last0, min(last0 + regimen.on_days, horizon_days),
                            regimen.every_days)
        doses += (cycles - 1) * full + last
    return min(doses, _HUGE), cycles


@dataclass(frozen=True)
class Estimate:
    """What a run of a protocol needs: peak memory (bytes) and time (seconds), with the
    chunk of replicates that fits the memory budget."""

    memory_bytes: float
    seconds: float
    chunk: int
    doses: tuple[int, ...]          # per arm
    cycles: tuple[int, ...]         # dosing cycles per arm
    screening_ceiling: float        # candidates one trial may screen before giving up


def _arm_patients(protocol: Protocol) -> list[float]:
    total = sum(a.ratio for a in protocol.arms)
    return [protocol.population.n * a.ratio / total + protocol.block_size
            for a in protocol.arms]


def _memory_parts(protocol: Protocol, chunk: int, doses: list[int]) -> tuple[float, float]:
    """(bytes that scale with patients and visits, bytes of the dose matrices and curves),
    both with the safety factor, without the base."""
    n, v = protocol.population.n, len(protocol.visits.weeks)
    alive = chunk * (2 if protocol.trial.replicates > chunk else 1)
    steps = math.ceil(protocol.horizon_days / _STEP_DAYS)
    dummy = max(doses, default=0)            # placebo patients get dummy injections
    share = min(1.0, _PATIENT_CHUNK / n)     # of a replicate's patients simulated at once
    per_arm = [m * share * (d if d else dummy)
               for m, d in zip(_arm_patients(protocol), doses, strict=True)]
    if n <= _PATIENT_CHUNK:
        patients = (alive * n * (_CHUNK_PER_VISIT * v + _CHUNK_PER_PATIENT)
                    + n * (_FIRST_PER_VISIT * v + _FIRST_PER_PATIENT))
    else:   # patient chunks; the first trial's tables streamed to Parquet and read back
        patients = (alive * n * _COHORT_PER_PATIENT
                    + 2 * _PATIENT_CHUNK * (_CHUNK_PER_VISIT * v + _CHUNK_PER_PATIENT)
                    + n * _READBACK_PER_PATIENT + _PATIENT_CHUNK * _READBACK_PER_VISIT * v)
    dosing = (max(per_arm, default=0.0) * _PER_DOSE_ENTRY
              + len(protocol.arms) * steps * _GRID_BYTES)
    return _SAFETY * patients, _SAFETY * dosing


def _memory(protocol: Protocol, chunk: int, doses: list[int]) -> float:
    return _BASE + sum(_memory_parts(protocol, chunk, doses))


def estimate(protocol: Protocol, chunk: int = 50, memory_budget: float | None = None
             ) -> Estimate:
    """Estimate a run; the chunk is ``chunk`` lowered (to 1 at least) until the memory
    estimate fits ``memory_budget`` bytes (default: the configured budget)."""
    budget = memory_budget if memory_budget is not None else memory_budget_bytes()
    counts = [dose_counts(a.regimen, protocol.horizon_days) for a in protocol.arms]
    doses = [d for d, _ in counts]
    chunk = max(1, min(chunk, protocol.trial.replicates))
    while chunk > 1 and _memory(protocol, chunk, doses) > budget:
        chunk = max(1, min(chunk - 1, int(chunk * budget / _memory(protocol, chunk, doses))))
    p = protocol
    chunks = math.ceil(p.trial.replicates / chunk)
    expansion = chunks * sum(d + c for d, c in counts) * _S_PER_DOSE
    dosing = min(1.0, max(doses, default=0) * _PK_MEMORY_DAYS / p.horizon_days)
    n, v, reps = p.population.n, len(p.visits.weeks), p.trial.replicates
    seconds = (reps * n * p.horizon_days / _PATIENT_DAYS_PER_S * (1 + _DOSING_SLOWDOWN * dosing)
               + reps * n * v * _S_PER_VISIT_SCORED + n * v * _S_PER_VISIT_WRITTEN
               + expansion)
    return Estimate(_memory(protocol, chunk, doses), seconds, chunk, tuple(doses),
                    tuple(c for _, c in counts),
                    p.population.max_screened_per_enrolled * p.population.n)


def _budget(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (value > 0 and math.isfinite(value)):
        raise ResourceError(f"{name} must be a positive number (got {escape(raw, 40)!r}).")
    return value


def memory_budget_bytes() -> float:
    """The memory budget in bytes: ``TRIALSIM_MEMORY_GB`` (default 4) × 10⁹."""
    return _budget("TRIALSIM_MEMORY_GB", DEFAULT_MEMORY_GB) * _GB


def time_budget_seconds() -> float:
    """The time budget in seconds: ``TRIALSIM_MAX_HOURS`` (default 24) × 3600."""
    return _budget("TRIALSIM_MAX_HOURS", DEFAULT_MAX_HOURS) * 3600.0


def _gb(x: float) -> str:
    return f"{x / _GB:.1f} GB" if x < 1e15 else f"{x:.1e} bytes"


def _count(x: float) -> str:
    return f"{x:,.0f}" if x < 1e12 else f"{x:.1e}"


def check_resources(protocol: Protocol, chunk: int = 50, source: str = "protocol") -> int:
    """Refuse a run that would exceed the memory or time budget; return the chunk to use.

    Raises :class:`ResourceError` naming ``source``, the protocol fields responsible, the
    estimate and the limit, listing every exceeded budget on one line.
    """
    budget, max_s = memory_budget_bytes(), time_budget_seconds()
    est = estimate(protocol, chunk, budget)
    p, n, v = protocol, protocol.population.n, len(protocol.visits.weeks)
    problems: list[str] = []
    for k, cycles in enumerate(est.cycles):
        reg = p.arms[k].regimen
        if cycles > MAX_CYCLES and reg is not None and reg.on_days is not None:
            problems.append(
                f"arm[{k}].regimen repeats {_count(cycles)} dosing cycles of on_days + "
                f"off_days = {reg.on_days + reg.off_days:g} days over the trial (limit "
                f"{MAX_CYCLES:,}); lengthen the cycle or give cycles")
    if est.memory_bytes > budget:
        patients, dosing = _memory_parts(p, est.chunk, list(est.doses))
        limit = f"limit {_gb(budget)}, TRIALSIM_MEMORY_GB"
        if dosing > patients:
            k = max(range(len(est.doses)), key=lambda i: est.doses[i])
            problems.append(
                f"arm[{k}].regimen gives {_count(est.doses[k])} doses over the "
                f"{p.horizon_days:g} days of the trial; for about "
                f"{_count(_arm_patients(p)[k])} patients that needs about "
                f"{_gb(est.memory_bytes)} of memory ({limit}); dose less often or in fewer "
                "cycles, or enrol fewer patients")
        else:
            fits = max(0, int(n * (budget - _BASE) / (patients + dosing)))  # ~linear in n
            problems.append(
                f"population.n = {n} with {v:,} visits (visits.weeks) needs about "
                f"{_gb(est.memory_bytes)} of memory ({limit}); about {fits:,} patients "
                "fit: lower population.n or use fewer visits")
    if est.seconds > max_s:
        problems.append(
            f"trial.replicates = {p.trial.replicates} × population.n = {n} over "
            f"{p.horizon_days:g} days would take about {_duration(est.seconds)} (estimate; "
            f"limit {_duration(max_s)}, TRIALSIM_MAX_HOURS); use fewer replicates or "
            "patients, or dose less often")
    ratio = p.population.max_screened_per_enrolled
    if est.screening_ceiling > MAX_SCREENED and ratio > DEFAULT_SCREENED_PER_ENROLLED:
        problems.append(
            f"population.max_screened_per_enrolled = {ratio:g} lets one trial screen up to "
            f"{_count(est.screening_ceiling)} candidates before giving up (limit "
            f"{_count(MAX_SCREENED)}); with population.n = {n} it can be at most "
            f"{max(DEFAULT_SCREENED_PER_ENROLLED, MAX_SCREENED // n):.0f}")
    if problems:
        raise ResourceError(f"{show_path(source)}: {'; '.join(problems)}.")
    return est.chunk


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 1e9:
        return f"{seconds / 3600:,.0f} h"
    return f"{seconds / 3.15e7:.1e} years"
