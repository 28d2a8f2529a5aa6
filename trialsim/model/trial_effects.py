"""Between-trial random effects of the placebo (+ standard-of-care) response.

Placebo arms of SLE trials differ far more than their sizes explain: SRI-4 at week 52 was
33.5% in BLISS-76 and 56% in the ustekinumab phase 3 (LOTUS), with similar inclusion
criteria. Part of what differs is the trial itself — how far above their usual level
screening catches patients (regression to the mean), how background therapy is optimised
and steroids tapered, how assessors score. One latent trial effect ``s = σ_T·u``,
``u ~ N(0, 1)`` per simulated trial (keyed stream ``Stage.TRIAL_EFFECTS``, so the same for
every arm, design and sample size of a replicate), moves all three together:

* entry flare (regression to the mean):  φ_i × e^(w_E·s)
* standard-of-care effect:                soc_i × e^(w_S·s)   (still capped at 0.9)
* assessor behaviour:                     post-baseline clinical activity as scored × e^(−w_A·s)

``s > 0`` is a trial with a larger placebo response. ``s = μ + σ_T·u`` with ``u`` Student-t
(df) or normal, and ``(df, μ, σ_T)`` not fixed numbers but an ensemble of 400 draws from
their joint posterior (uniform priors: df ∈ {2, 3, 5, 10, ∞}, μ on [−0.3, 0.3], σ_T on
[0, 0.8]; likelihood of the placebo arms of published trials; :mod:`trialsim.placebo_trials`,
``trialsim/data/between_trial.json``). So each simulated trial also carries the uncertainty
of the spread (σ_T), of the centre (μ: where the typical trial's placebo response lies,
known only from a handful of trials) and of the tails (df) — the random-effects prediction
interval of a meta-analysis, not a plug-in. The loadings ``w`` are assumed (the data cannot
separate them: each placebo arm is one number). ``s = 0`` is the model calibrated to He
2020, the typical trial of conditional power; predictive power (assurance) draws ``s``.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from importlib import resources

import numpy as np

from trialsim.model.parameters import DEFAULT_PARAMETERS, ModelParameters
from trialsim.model.variability import PatientParameters

SOC_CAP = 0.9  # as in variability.sample_patient_parameters


@dataclass(frozen=True)
class TrialEffect:
    """One simulated trial's effect ``s`` (log scale) and what it multiplies."""

    s: float
    entry: float      # multiplies each patient's entry flare
    soc: float        # multiplies each patient's standard-of-care effect
    assessor: float   # multiplies post-baseline clinical activity as scored

    def to_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in vars(self).items()}


def trial_effect(s: float, params: ModelParameters) -> TrialEffect:
    """The multipliers of a trial with latent effect ``s``."""
    return TrialEffect(float(s), float(np.exp(params.trial_weight_entry * s)),
                       float(np.exp(params.trial_weight_soc * s)),
                       float(np.exp(-params.trial_weight_assessor * s)))


TYPICAL = 0.0


@dataclass(frozen=True)
class Ensemble:
    """Equally weighted posterior draws of the between-trial distribution: member ``k`` is
    ``s = mu[k] + sd[k]·u``, ``u`` ~ Student-t(``df[k]``) (normal when ``df[k]`` is inf)."""

    df: np.ndarray
    mu: np.ndarray
    sd: np.ndarray

    @property
    def size(self) -> int:
        return int(self.sd.size)

    @classmethod
    def fixed(cls, sd: float, df: float = math.inf, mu: float = 0.0) -> Ensemble:
        return cls(np.array([float(df)]), np.array([float(mu)]), np.array([float(sd)]))

    def subset(self, index: np.ndarray) -> Ensemble:
        return Ensemble(self.df[index], self.mu[index], self.sd[index])


@functools.cache
def load_ensemble() -> Ensemble:
    """The posterior ensemble of ``trialsim/data/between_trial.json`` (``trialsim calibrate
    --fit`` writes it); the fixed default σ_T (normal, μ = 0) when absent."""
    path = resources.files("trialsim").joinpath("data/between_trial.json")
    if not path.is_file():
        return Ensemble.fixed(DEFAULT_PARAMETERS.between_trial_sd)
    doc = json.loads(path.read_text("utf-8"))
    draws = doc["draws"]
    return Ensemble(np.array([math.inf if d == "inf" else float(d) for d in draws["df"]]),
                    np.asarray(draws["mu"], dtype=float), np.asarray(draws["sd"], dtype=float))


def draw_trial_effect(rng: np.random.Generator, params: ModelParameters) -> TrialEffect:
    """``s = μ + σ_T·u``: ``(df, μ, σ_T)`` one draw of the shipped posterior ensemble
    (parameter uncertainty) and ``u`` ~ Student-t(df) (between-trial variability), both
    from ``rng``. Parameters whose ``between_trial_sd`` differs from the default use that
    value as a fixed σ_T with normal u and μ = 0 (sensitivity analyses)."""
    ens = load_ensemble()
    if params.between_trial_sd != DEFAULT_PARAMETERS.between_trial_sd:
        ens = Ensemble.fixed(params.between_trial_sd)
    k = int(rng.integers(0, max(ens.size, 1)))
    df = float(ens.df[k])
    u = float(rng.standard_normal() if math.isinf(df) else rng.standard_t(df))
    return trial_effect(float(ens.mu[k]) + float(ens.sd[k]) * u, params)


def apply_trial_effect(pp: PatientParameters, effect: TrialEffect) -> PatientParameters:
    """Patient parameters of a trial with ``effect`` (entry flare and SoC effect scaled)."""
    return apply_trial_effects(pp, [effect], np.zeros(len(pp), dtype=np.int64))


def apply_trial_effects(pp: PatientParameters, effects: Sequence[TrialEffect],
                        trial: np.ndarray) -> PatientParameters:
    """:func:`apply_trial_effect` for the patients of several trials at once: patient ``i``
    belongs to trial ``trial[i]``, whose effect is ``effects[trial[i]]``. Patients of a
    trial with the typical effect (s = 0) keep their values unchanged."""
    on = np.array([e.s != 0.0 for e in effects])[trial]
    if not on.any():
        return pp
    entry = np.array([e.entry for e in effects])[trial]
    soc = np.array([e.soc for e in effects])[trial]
    return replace(pp, entry_flare=np.where(on, pp.entry_flare * entry, pp.entry_flare),
                   soc_effect=np.where(on, np.minimum(pp.soc_effect * soc, SOC_CAP),
                                       pp.soc_effect))
