"""Group-sequential looks of one simulated trial (``[interim]`` in the protocol).

Look ``j`` at information fraction ``t_j`` happens when the first ``m_j = ceil(t_j · n)``
randomised patients have reached the primary-endpoint week: at calendar day
``enrol_day[m_j − 1] + 7 · week``, with every patient randomised by then counted as enrolled.
The look analyses those ``m_j`` patients with the protocol's test and turns the p-value into
a signed z statistic (positive favours the active arm): ``z = sign(d) Φ⁻¹(1 − p/2)`` for a
two-sided test and ``Φ⁻¹(1 − p)`` for a one-sided one (for the chi-square test this is
exactly the pooled two-proportion z). The trial stops for efficacy when ``z_j ≥ c_j``
(``|z_j| ≥ c_j`` two-sided), with Lan–DeMets spending bounds ``c_j``
(:func:`trialsim.stats.group_sequential.efficacy_bounds`), or for futility when
``z_j < f_j`` (non-binding bounds, looks before the last).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import stats

from trialsim.protocol import Protocol
from trialsim.stats.binary import BinaryAnalysis
from trialsim.stats.group_sequential import GroupSequentialBounds, efficacy_bounds
from trialsim.trial import TrialResult, analyse


@lru_cache(maxsize=32)
def bounds_for(protocol: Protocol) -> GroupSequentialBounds:
    """The protocol's efficacy bounds (its alpha and sidedness, its spending function)."""
    i = protocol.interim
    assert i is not None
    a = protocol.analysis
    return efficacy_bounds(i.looks, alpha=a.alpha, spending=i.spending, gamma=i.gamma,
                           sided=a.sided)


def signed_z(analysis: BinaryAnalysis, sided: int) -> float:
    """The first comparison's p-value as a z statistic, positive when the arm is better."""
    c = analysis.comparisons[0]
    if sided == 2:
        return math.copysign(float(stats.norm.isf(c.p_value / 2.0)), c.difference)
    return float(stats.norm.isf(c.p_value))


@dataclass(frozen=True)
class SequentialOutcome:
    """How one simulated group-sequential trial ended."""

    look: int            # 0-based look at which it stopped
    efficacy: bool       # stopped for efficacy (H0 rejected)
    futility: bool       # stopped for futility
    z: tuple[float, ...]  # z at each look performed
    n_analysed: int      # patients in the stopping analysis
    n_enrolled: int      # patients randomised by the stopping look
    day: float           # calendar day of the stopping look


def run_looks(protocol: Protocol, result: TrialResult, n: int) -> SequentialOutcome:
    """Play the interim plan on the first ``n`` patients of ``result``."""
    i = protocol.interim
    assert i is not None
    b = bounds_for(protocol)
    sided = protocol.analysis.sided
    endpoint_day = 7.0 * protocol.endpoint.week
    enrol_day = result.enrol_day[:n]
    zs: list[float] = []
    for j, t in enumerate(i.looks):
        m = n if j == len(i.looks) - 1 else max(2, math.ceil(t * n))
        resp, arm, strata = result.head(m)
        z = signed_z(analyse(protocol, resp, arm, strata), sided)
        zs.append(z)
        day = float(enrol_day[m - 1] + endpoint_day)
        enrolled = int(np.searchsorted(enrol_day, day, side="right"))
        crossed = (abs(z) if sided == 2 else z) >= b.efficacy[j]
        last = j == len(i.looks) - 1
        futile = (not crossed and not last and i.futility_z is not None
                  and z < i.futility_z[j])
        if crossed or futile or last:
            return SequentialOutcome(j, bool(crossed), bool(futile), tuple(zs), m, enrolled,
                                     day)
    raise AssertionError("unreachable: the last look always stops")
