"""Flares and the entry flare: stochastic and transient activity on top of the ODE course.

* Entry flare: patients enter trials during a flare (the inclusion threshold selects high
  moments: regression to the mean). Activity carries a factor (1 + φ·e^(−k t))/(1 + φ) that
  starts at 1 and resolves to 1/(1 + φ) under standard of care.
* New flares: onsets form a Poisson process with hazard ``flare_rate_per_year × X(t)``
  (more active disease flares more), X taken as the mean of the two bracketing visits; each
  flare adds a·e^(−(t − t_f)·decay), a ~ Exponential(flare_size), to a factor that starts at
  1, and activity is multiplied by that factor (1 + Σ bumps).
"""

from __future__ import annotations

import numpy as np

from trialsim.model.parameters import ModelParameters


def entry_flare_factor(days: np.ndarray, entry_flare: np.ndarray,
                       params: ModelParameters) -> np.ndarray:
    """Shape (n, len(days)): the resolving entry-flare factor, 1 at day 0."""
    phi = entry_flare[:, None]
    return (1.0 + phi * np.exp(-params.entry_flare_rate * days[None, :])) / (1.0 + phi)


def flare_factor(days: np.ndarray, activity: np.ndarray, params: ModelParameters,
                 rng: np.random.Generator) -> np.ndarray:
    """Shape (n, len(days)): multiplicative activity from new flares at each sampled day.

    ``activity`` is the systemic activity X at ``days`` (n, len(days)).
    """
    n, v = activity.shape
    out = np.ones((n, v))
    rate = params.flare_rate_per_year / 365.25
    for k in range(1, v):
        t0, t1 = days[k - 1], days[k]
        mean_x = 0.5 * (activity[:, k - 1] + activity[:, k])
        counts = rng.poisson(rate * mean_x * (t1 - t0))
        who = np.repeat(np.arange(n), counts)
        onset = rng.uniform(t0, t1, who.size)
        size = rng.exponential(params.flare_size, who.size)
        later = days[None, k:] - onset[:, None]           # (flares, remaining visits)
        bump = size[:, None] * np.exp(-params.flare_decay * later)
        np.add.at(out[:, k:], who, bump)
    return out
