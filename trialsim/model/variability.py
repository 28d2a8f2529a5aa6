"""Inter-individual variability: per-patient model parameters.

Each patient's parameter is the population value (:class:`ModelParameters`) times a
log-normal factor, some correlated with baseline severity ``z`` where biology says so.
All SDs are on the log scale and, lacking population-PK/PD data in SLE, assumed unless
noted; the tests check they keep every parameter positive and finite.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from trialsim.model.parameters import ModelParameters
from trialsim.protocol import Model as ModelSpec

# Log-scale SDs, all assumed: exposure from the CV of s.c. absorption/volume in Piscitelli
# 1996 (apparent t1/2 3.3 ± 0.9 h suggests ~30%); Treg responsiveness varied ~2-fold between
# patients in DILfrequency (Seelig 2018): SD 0.35; standard-of-care response is the most
# heterogeneous (placebo responders and non-responders): SD 0.9; IL-2 deficiency (0.35) and
# helper suppressibility (0.25) have no published spread and are plausible guesses.
_ENTRY_SHAPE = 3.0  # gamma shape of the entry flare (assumed; CV 58%)
_SD = {"exposure": 0.3, "deficiency": 0.35, "treg_gain": 0.35, "soc": 0.9, "helper": 0.25}


@dataclass(frozen=True)
class PatientParameters:
    """Per-patient arrays (length n) that the dynamics read instead of population values."""

    exposure: np.ndarray         # multiplies the typical plasma IL-2 curve
    il2_deficiency: np.ndarray   # fraction of normal endogenous IL-2 production
    treg_gain: np.ndarray
    tfh_suppression: np.ndarray
    th17_suppression: np.ndarray
    soc_effect: np.ndarray       # reduction of inflammatory drive by standard of care
    entry_flare: np.ndarray      # transient excess activity at enrolment
    site: np.ndarray             # centre index (0 … sites − 1)

    def __len__(self) -> int:
        return int(self.exposure.size)

    def take(self, rows: slice) -> PatientParameters:
        """The parameters of patients ``rows``."""
        return PatientParameters(**{k: getattr(self, k)[rows] for k in self.__dataclass_fields__})

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({k: getattr(self, k) for k in self.__dataclass_fields__})


def site_effects(spec: ModelSpec, rng: Any) -> np.ndarray:
    """One trial's between-site multipliers of the standard-of-care effect, (sites,)."""
    return np.exp(spec.site_sd * rng.standard_normal(spec.sites))


def sample_patient_parameters(
    severity: np.ndarray, params: ModelParameters, spec: ModelSpec, rng: np.random.Generator,
    site_rng: np.random.Generator | None = None, *,
    site_table: np.ndarray | None = None, trial: np.ndarray | None = None,
) -> PatientParameters:
    """Draw per-patient parameters for patients of latent severity ``severity`` (SD units).

    Correlations with severity (assumed slopes, in the sourced direction): more active
    disease has less IL-2 production (log-slope −0.15 per SD; von Spee-Mayer A et al., Ann
    Rheum Dis 2016;75:1407: the Treg/Tconv imbalance grows with activity) and a larger entry
    flare (log-slope 0.2 per SD). The standard-of-care effect is capped at 0.9 (assumed: no
    patient loses all inflammatory drive to background therapy).

    ``rng`` draws per patient (a :class:`~trialsim.streams.PatientStream` in a trial);
    ``site_rng`` (default ``rng``) draws the between-site effects, which belong to the trial.
    Patients of several trials at once: ``site_table`` (trials, sites) holds each trial's
    :func:`site_effects` and ``trial`` each patient's trial.
    """
    n = severity.size
    z = np.clip(severity, -3, 3)

    def lognormal(key: str, shift: np.ndarray | float = 0.0) -> np.ndarray:
        return np.exp(shift + _SD[key] * rng.standard_normal(n) - 0.5 * _SD[key] ** 2)

    site = rng.integers(0, spec.sites, n)
    if site_table is not None and trial is not None:
        site_effect = site_table[trial, site]
    else:
        site_effect = site_effects(spec, site_rng or rng)[site]
    helper = lognormal("helper")
    # soc_effect is a fraction of drive removed; keep it below 0.9 for any draw.
    soc = np.minimum(params.soc_effect * lognormal("soc") * site_effect, 0.9)
    return PatientParameters(
        exposure=lognormal("exposure"),
        il2_deficiency=np.minimum(params.il2_deficiency * lognormal("deficiency", -0.15 * z), 1),
        treg_gain=params.treg_gain * lognormal("treg_gain"),
        tfh_suppression=params.tfh_suppression * helper,
        th17_suppression=params.th17_suppression * helper,
        soc_effect=soc,
        entry_flare=(params.entry_flare * np.exp(0.2 * z)
                     * rng.gamma(_ENTRY_SHAPE, 1.0 / _ENTRY_SHAPE, n)),
        site=site,
    )
