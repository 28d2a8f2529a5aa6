"""Parameter uncertainty: an ensemble of the fitted IL-2 response parameters.

``treg_gain`` and the Treg suppression constants of Tfh and Th17 (``tfh_suppression``,
``th17_suppression``, moved together by one factor ``helper_scale``) are fitted to a few
aggregate targets of one 59-patient trial; their point values are one of many sets that
reproduce those targets. Importance sampling from stated priors (log-normal, median the point
value, log-SD 0.5; 256 quasi-random Sobol draws) weighted by an approximate likelihood of the
targets gives an ensemble of sets consistent with them (:func:`fit`, run by ``trialsim
calibrate --fit``, written to ``trialsim/data/parameter_ensemble.json``):

* He 2020 IL-2 arm SRI-4, 16/29 at week 12 and 19/29 at week 24 (binomial, each raised to the
  power 1/2: the two are largely the same responders, so a plain product would count the
  trial twice), simulated with the trial effect typical (He 2020 defines s = 0);
* Treg fold change within the tolerance of three sources (``[[treg_target]]`` He 2020 regimen,
  DILT1D, DILfrequency): an ABC acceptance (weight 0 outside).

Each simulated trial (predictive mode, as the between-trial effect) draws one member from its
keyed stream ``Stage.PARAMETER_SET``; conditional runs use the point values. The ensemble acts
through the per-patient arrays the dynamics already read (``PatientParameters.treg_gain``,
``tfh_suppression``, ``th17_suppression``), scaled by member / point value, so the model
kernel is unchanged. The placebo-response parameters (``soc_effect``, ``entry_flare``) are not
in this ensemble: their uncertainty along the direction the data constrain is the centre and
spread of the between-trial ensemble (:mod:`trialsim.model.trial_effects`). ``loop_gain`` and
``long_lived_fraction`` stay at their point values (the dynamics take them as scalars; they
are not separately identifiable from the suppression constants with these targets).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from importlib import resources

import numpy as np

from trialsim.model.parameters import DEFAULT_PARAMETERS, ModelParameters
from trialsim.model.variability import PatientParameters

FIELDS = ("treg_gain", "helper_scale")


@dataclass(frozen=True)
class ParameterSet:
    """Multipliers of one ensemble member relative to the point values."""

    treg_gain: float = 1.0
    helper_scale: float = 1.0

    def to_dict(self) -> dict[str, float]:
        return {"treg_gain_factor": self.treg_gain, "helper_scale": self.helper_scale}


POINT = ParameterSet()


@functools.cache
def load_parameter_ensemble() -> np.ndarray:
    """Members × (treg_gain, helper_scale) as *absolute* values (treg_gain) and factors
    (helper_scale); empty when the file is absent."""
    path = resources.files("trialsim").joinpath("data/parameter_ensemble.json")
    if not path.is_file():
        return np.empty((0, 2))
    doc = json.loads(path.read_text("utf-8"))
    return np.array([[m["treg_gain"], m["helper_scale"]] for m in doc["members"]], dtype=float)


def draw_parameter_set(rng: np.random.Generator, params: ModelParameters) -> ParameterSet:
    """One member of the shipped ensemble (as multipliers of ``params``). A caller who has
    changed ``treg_gain`` or the suppression constants from their defaults keeps them fixed
    (sensitivity analyses), as with ``between_trial_sd``."""
    members = load_parameter_ensemble()
    k = int(rng.integers(0, max(len(members), 1)))
    if not len(members):
        return POINT
    d = DEFAULT_PARAMETERS
    gain = (members[k, 0] / params.treg_gain if params.treg_gain == d.treg_gain else 1.0)
    helper = (members[k, 1] if (params.tfh_suppression, params.th17_suppression)
              == (d.tfh_suppression, d.th17_suppression) else 1.0)
    return ParameterSet(float(gain), float(helper))


def apply_parameter_set(pp: PatientParameters, ps: ParameterSet) -> PatientParameters:
    """Patient parameters of a trial whose population values are the member ``ps``."""
    return apply_parameter_sets(pp, [ps], np.zeros(len(pp), dtype=np.int64))


def apply_parameter_sets(pp: PatientParameters, sets: Sequence[ParameterSet],
                         trial: np.ndarray) -> PatientParameters:
    """:func:`apply_parameter_set` for the patients of several trials at once (patient
    ``i`` in trial ``trial[i]``, whose member is ``sets[trial[i]]``); a multiplier of 1
    (the point values) leaves a value exactly as it is."""
    if all(ps == POINT for ps in sets):
        return pp
    gain = np.array([ps.treg_gain for ps in sets])[trial]
    helper = np.array([ps.helper_scale for ps in sets])[trial]
    return replace(pp, treg_gain=pp.treg_gain * gain,
                   tfh_suppression=pp.tfh_suppression * helper,
                   th17_suppression=pp.th17_suppression * helper)
