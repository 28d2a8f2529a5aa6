"""Dosing regimens → dose events.

A regimen (from the protocol) becomes a :class:`DoseSchedule`: the days and amounts of every
administration within the trial horizon. All patients of an arm share the schedule; doses
after a patient's dropout are simply never observed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trialsim.protocol import Regimen

# Doses closer together than this are treated as distinct events; schedules never get finer.
_EPS_DAYS = 1e-9


@dataclass(frozen=True)
class DoseSchedule:
    """Administrations of one arm: ``times`` in days from randomisation, ``amounts`` in MIU."""

    times: np.ndarray
    amounts: np.ndarray
    route: str = "sc"

    @property
    def total_miu(self) -> float:
        return float(self.amounts.sum())

    def __len__(self) -> int:
        return int(self.times.size)


PLACEBO = DoseSchedule(np.zeros(0), np.zeros(0), "sc")


def _every(start: float, stop: float, interval: float) -> np.ndarray:
    """Dose days start, start+interval, … strictly before ``stop``."""
    count = int(np.ceil((stop - start) / interval - _EPS_DAYS))
    return start + interval * np.arange(max(count, 0))


def dose_schedule(regimen: Regimen | None, horizon_days: float) -> DoseSchedule:
    """Expand a regimen into dose events up to (not including) ``horizon_days``.

    Order: the optional induction block from ``start_day``; then maintenance in cycles of
    ``on_days`` dosing every ``every_days`` followed by ``off_days`` without dosing, for
    ``cycles`` cycles. Without ``cycles``, on/off cycles repeat until the horizon, and an
    ``on_days`` with no ``off_days`` is a single course. With no ``on_days``, maintenance
    dosing runs to the horizon.

    Example: He 2020 (1 MIU every other day for 2 weeks, 2 weeks off, 3 cycles) gives doses
    on days 0, 2, …, 12, 28, …, 40, 56, …, 68: 21 doses, 21 MIU.
    """
    if regimen is None:
        return PLACEBO
    times: list[np.ndarray] = []
    amounts: list[np.ndarray] = []
    start = regimen.start_day
    if regimen.induction is not None:
        ind = regimen.induction
        t = _every(start, min(start + ind.days, horizon_days), ind.every_days)
        times.append(t)
        amounts.append(np.full(t.size, ind.dose_miu))
        start += ind.days
    if regimen.on_days is None:
        t = _every(start, horizon_days, regimen.every_days)
        times.append(t)
        amounts.append(np.full(t.size, regimen.dose_miu))
    else:
        period = regimen.on_days + regimen.off_days
        # No cycle count: on/off phases repeat to the horizon; a lone on-phase is one course.
        cycles = regimen.cycles or (None if regimen.off_days > 0 else 1)
        cycle = 0
        while start + cycle * period < horizon_days and (cycles is None or cycle < cycles):
            c0 = start + cycle * period
            t = _every(c0, min(c0 + regimen.on_days, horizon_days), regimen.every_days)
            times.append(t)
            amounts.append(np.full(t.size, regimen.dose_miu))
            cycle += 1
    all_t = np.concatenate(times) if times else np.zeros(0)
    all_a = np.concatenate(amounts) if amounts else np.zeros(0)
    keep = all_t < horizon_days
    return DoseSchedule(all_t[keep], all_a[keep], regimen.route)
