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

``s > 0`` is a trial with a larger placebo response. ``σ_T`` (``between_trial_sd``) is
fitted by maximum likelihood to the placebo arms of published trials
(:mod:`trialsim.placebo_trials`); the loadings ``w`` are assumed (the data cannot separate
them: each placebo arm is one number). ``s = 0`` is the typical trial, the model calibrated
to He 2020: conditional power fixes ``s = 0``, predictive power (assurance) draws it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from trialsim.model.parameters import ModelParameters
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


def draw_trial_effect(rng: np.random.Generator, params: ModelParameters) -> TrialEffect:
    """``s = between_trial_sd · u`` with ``u`` the first standard normal of ``rng``."""
    return trial_effect(params.between_trial_sd * float(rng.standard_normal()), params)


def apply_trial_effect(pp: PatientParameters, effect: TrialEffect) -> PatientParameters:
    """Patient parameters of a trial with ``effect`` (entry flare and SoC effect scaled)."""
    if effect.s == 0.0:
        return pp
    return replace(pp, entry_flare=pp.entry_flare * effect.entry,
                   soc_effect=np.minimum(pp.soc_effect * effect.soc, SOC_CAP))
