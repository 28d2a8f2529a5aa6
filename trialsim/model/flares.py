"""Flares and the entry flare: stochastic and transient activity on top of the ODE course.

* Entry flare: patients enter trials during a flare (the inclusion threshold selects high
  moments: regression to the mean). Activity carries a factor (1 + φ·e^(−k t))/(1 + φ) that
  starts at 1 and resolves to 1/(1 + φ) under standard of care.
* New flares: onsets form a Poisson process with hazard ``flare_rate_per_year × X(t)``
  (more active disease flares more), X taken as the mean of the two bracketing visits,
  drawn by time rescaling (see :func:`flare_factor`); each
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


_FLARES_PER_DRAW = 16  # arrival thresholds drawn per patient at a time (more if needed)


def flare_factor(days: np.ndarray, activity: np.ndarray, params: ModelParameters,
                 rng: np.random.Generator) -> np.ndarray:
    """Shape (n, len(days)): multiplicative activity from new flares at each sampled day.

    ``activity`` is the systemic activity X at ``days`` (n, len(days)). Onsets are drawn by
    time rescaling: with cumulative hazard Λ(t) (piecewise linear between visits), the j-th
    flare starts where Λ reaches S_j = E_1 + … + E_j, E ~ Exponential(1). Each patient's
    thresholds and sizes are fixed draws (patient-keyed in a trial), so the same patient has
    the same flare "luck" in every arm and design; only where the flares fall depends on the
    disease course.
    """
    n, v = activity.shape
    rate = params.flare_rate_per_year / 365.25
    intensity = rate * 0.5 * (activity[:, :-1] + activity[:, 1:])           # (n, v-1)
    cum = np.concatenate([np.zeros((n, 1)), np.cumsum(intensity * np.diff(days), axis=1)],
                         axis=1)                                             # Λ at visits
    total = cum[:, -1]
    out = np.ones((n, v))
    offset = np.zeros(n)
    while True:
        s = offset[:, None] + np.cumsum(rng.exponential(1.0, (n, _FLARES_PER_DRAW)), axis=1)
        size = rng.exponential(params.flare_size, (n, _FLARES_PER_DRAW))
        occurs = s <= total[:, None]
        if occurs.any():
            # Few patients flare within a trial: work on the (patient, flare) pairs that
            # occur only. Each patient's bumps are added in flare order, as a dense sum
            # over the flare axis would add them (zeros elsewhere), so values are the same.
            i, j = np.nonzero(occurs)
            sv = s[i, j]
            k = np.clip((sv[:, None] > cum[i]).sum(axis=1), 1, v - 1)          # interval
            lam0 = cum[i, k - 1]
            inten = intensity[i, k - 1]
            onset = days[k - 1] + np.divide(sv - lam0, inten, out=np.zeros_like(sv),
                                            where=inten > 0)
            later = days[None, :] - onset[:, None]                               # (m, v)
            bump = np.where(later >= 0, size[i, j][:, None]
                            * np.exp(-params.flare_decay * np.maximum(later, 0.0)), 0.0)
            acc = np.zeros((n, v))
            np.add.at(acc, i, bump)
            out += acc
        if not occurs[:, -1].any():
            return out
        offset = s[:, -1]
