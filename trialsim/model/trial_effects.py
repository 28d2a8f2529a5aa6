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

``s > 0`` is a trial with a larger placebo response. ``u`` is Student-t with ``df`` chosen
by likelihood, and ``σ_T`` is not one number but an ensemble of 200 posterior draws
(uniform prior on [0, 0.8], likelihood of the placebo arms of published trials;
:mod:`trialsim.placebo_trials`, ``trialsim/data/between_trial.json``), so each simulated
trial also carries the uncertainty of σ_T; the loadings ``w`` are assumed (the data cannot separate
them: each placebo arm is one number). ``s = 0`` is the typical trial, the model calibrated
to He 2020: conditional power fixes ``s = 0``, predictive power (assurance) draws it.
"""

from __future__ import annotations

import functools
import json
import math
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


@functools.cache
def load_ensemble() -> tuple[float, np.ndarray]:
    """(df, σ_T draws) of ``trialsim/data/between_trial.json`` (``trialsim calibrate
    --fit`` writes it); ``(inf, [])`` when absent."""
    path = resources.files("trialsim").joinpath("data/between_trial.json")
    if not path.is_file():
        return math.inf, np.array([])
    doc = json.loads(path.read_text("utf-8"))
    df = math.inf if doc["df"] == "inf" else float(doc["df"])
    return df, np.asarray(doc["sd_draws"], dtype=float)


def draw_trial_effect(rng: np.random.Generator, params: ModelParameters) -> TrialEffect:
    """``s = σ_T · u``: σ_T one draw of the shipped posterior ensemble (parameter
    uncertainty) and u ~ Student-t(df) (between-trial variability), both from ``rng``.
    Parameters whose ``between_trial_sd`` differs from the default use that value as a fixed
    σ_T (sensitivity analyses)."""
    df, draws = load_ensemble()
    k = int(rng.integers(0, max(draws.size, 1)))
    u = float(rng.standard_normal() if math.isinf(df) else rng.standard_t(df))
    sd = (draws[k] if draws.size and params.between_trial_sd == DEFAULT_PARAMETERS.between_trial_sd
          else params.between_trial_sd)
    return trial_effect(sd * u, params)


def apply_trial_effect(pp: PatientParameters, effect: TrialEffect) -> PatientParameters:
    """Patient parameters of a trial with ``effect`` (entry flare and SoC effect scaled)."""
    if effect.s == 0.0:
        return pp
    return replace(pp, entry_flare=pp.entry_flare * effect.entry,
                   soc_effect=np.minimum(pp.soc_effect * effect.soc, SOC_CAP))
