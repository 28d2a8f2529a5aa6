"""Group-sequential looks (``[interim]`` in the protocol), vectorised over simulated trials.

Look ``j`` at information fraction ``t_j`` happens when the first ``m_j = ceil(t_j · n)``
randomised patients have reached the primary-endpoint week: at calendar day
``enrol_day[m_j − 1] + 7 · week``, with every patient randomised by then counted as enrolled.
The look analyses those ``m_j`` patients with the protocol's test and turns the p-value into
a signed z statistic (positive favours the active arm): ``z = sign(d) Φ⁻¹(1 − p/2)`` for a
two-sided test and ``Φ⁻¹(1 − p)`` for a one-sided one (for the chi-square test this is
exactly the pooled two-proportion z). The trial stops for efficacy at the first look with
``z_j ≥ c_j`` (``|z_j| ≥ c_j`` two-sided), with Lan–DeMets spending bounds ``c_j``
(:func:`trialsim.stats.group_sequential.efficacy_bounds`), or for futility when
``z_j < f_j`` (non-binding bounds, looks before the last); otherwise at the last look.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy import stats

from trialsim.errors import ProtocolError
from trialsim.protocol import Protocol
from trialsim.stats.group_sequential import GroupSequentialBounds, efficacy_bounds


@lru_cache(maxsize=32)
def bounds_for(protocol: Protocol) -> GroupSequentialBounds:
    """The protocol's efficacy bounds (its alpha and sidedness, its spending function)."""
    i = protocol.interim
    assert i is not None
    a = protocol.analysis
    b = efficacy_bounds(i.looks, alpha=a.alpha, spending=i.spending, gamma=i.gamma,
                        sided=a.sided)
    for j, f in enumerate(i.futility_z or ()):
        if f > b.efficacy[j]:
            raise ProtocolError(
                f"{protocol.trial.name}: interim.futility_z[{j}] must be <= the efficacy bound "
                f"at look {j + 1}, {b.efficacy[j]:.4f} (got {f:g}).")
    return b


def look_sizes(protocol: Protocol, n: int) -> list[int]:
    """Patients analysed at each look of a trial of ``n`` (the last look has all ``n``)."""
    assert protocol.interim is not None
    looks = protocol.interim.looks
    return [max(2, math.ceil(t * n)) for t in looks[:-1]] + [n]


def signed_z(p_value: np.ndarray, difference: np.ndarray, sided: int) -> np.ndarray:
    """A test's p-value as a z statistic, positive when the active arm is better."""
    if sided == 2:
        return np.copysign(stats.norm.isf(np.asarray(p_value) / 2.0), difference)
    return stats.norm.isf(np.asarray(p_value))


def decide(protocol: Protocol, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(stopping look, efficacy, futility)`` for z statistics of shape (..., looks)."""
    i = protocol.interim
    assert i is not None
    c = np.asarray(bounds_for(protocol).efficacy)
    k = c.size
    crossed = (np.abs(z) if protocol.analysis.sided == 2 else z) >= c
    futile = np.zeros_like(crossed)
    if i.futility_z is not None:
        futile[..., :-1] = (z[..., :-1] < np.asarray(i.futility_z)) & ~crossed[..., :-1]
    stops = crossed | futile
    stops[..., -1] = True
    look = np.argmax(stops, axis=-1)
    pick = look[..., None]
    return (look, np.take_along_axis(crossed, pick, -1)[..., 0],
            np.take_along_axis(futile, pick, -1)[..., 0] & (look < k - 1))
