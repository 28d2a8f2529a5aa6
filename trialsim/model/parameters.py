"""Population parameters of the immune-balance model, each with its unit and source.

Every field carries ``metadata`` with ``unit``, ``kind`` and ``source``. ``kind`` is one of
``sourced`` (value stated in the source), ``derived`` (arithmetic on sourced values, shown),
``fitted`` (chosen so the model reproduces the named target) or ``assumed`` (no source found;
a plausible value, flagged for future work). ``docs/model.md`` renders this table with
:func:`parameter_table`, and a test checks that no field lacks a source.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from typing import Any

import pandas as pd


def _p(value: float, unit: str, kind: str, source: str) -> Any:
    return field(default=value, metadata={"unit": unit, "kind": kind, "source": source})


@dataclass(frozen=True)
class ModelParameters:
    """Typical-patient (population) values; inter-individual variability lives in
    :mod:`trialsim.model.variability`."""

    # --- pharmacokinetics of s.c./i.v. aldesleukin --------------------------------------
    pmol_per_miu: float = _p(
        3990.0, "pmol/MIU", "derived",
        "Proleukin label: 16.4 MIU/mg → 61 µg/MIU; ÷ 15.3 kDa = 3.99 nmol/MIU")
    ke: float = _p(
        math.log(2) / (85 / 1440), "1/day", "derived",
        "ln2 / 85 min elimination t1/2 (Konrad MW et al., Cancer Res 1990;50:2009) = 11.7/day")
    ka: float = _p(
        5.0, "1/day", "derived",
        "flip-flop absorption from s.c. apparent t1/2 3.3 h (Piscitelli SC et al., "
        "Pharmacotherapy 1996;16:754): ln2/3.3 h = 5.0/day; Tmax ≈ 3 h, within the label's 2-6 h")
    volume_l: float = _p(
        14.7, "L", "derived", "CL 120 mL/min (Konrad 1990) ÷ ke 0.49/h = 14.7 L")
    bioavailability_sc: float = _p(
        0.30, "-", "assumed",
        "s.c. unknown; i.m. ≈ 30% (Konrad 1990) taken for s.c.")

    # --- IL-2 receptors and the IL-2 economy --------------------------------------------
    ec50_treg_pm: float = _p(
        5.0, "pM", "sourced",
        "IL-2Rαβγ half-max 3-10 pM (Trotta E et al., Nat Med 2018: Kd ≈ 10 pM; QSP-IO Treg "
        "module 3.2 pM); midpoint")
    ec50_effector_pm: float = _p(
        1000.0, "pM", "sourced",
        "IL-2Rβγ Kd ≈ 1 nM on NK and memory CD8 (Trotta 2018)")
    endogenous_il2_pm: float = _p(
        2.0, "pM", "assumed",
        "effective tissue IL-2 seen by Treg in health; gives baseline αβγ occupancy ≈ 0.29")
    il2_deficiency: float = _p(
        0.5, "-", "assumed",
        "typical fraction of normal IL-2 production left in SLE T cells (direction: "
        "Alcocer-Varela & Alarcón-Segovia, J Clin Invest 1982;69:1388; Linker-Israeli 1983)")
    treg_sink: float = _p(
        0.6, "-", "assumed",
        "IL-2 consumed per unit Treg expansion (CD25-rich sink): effective IL-2 = "
        "C / (1 + sink·(Treg − 1)). Direction: Feinerman 2010 Mol Syst Biol; Busse 2010 PNAS; "
        "also the cause of the tachyphylaxis of daily dosing (Blood Adv 2019;3:2550)")
    desensitisation_rate: float = _p(
        0.03, "1/day", "assumed",
        "build-up of IL-2 tolerance under sustained Treg expansion (CD25-rich pool, "
        "receptor down-regulation): tachyphylaxis develops over weeks of daily dosing "
        "(Koreth J et al., NEJM 2011; Blood Adv 2019;3:2550)")
    desensitisation_sink: float = _p(
        0.3, "-", "assumed",
        "extra IL-2 consumption per unit of accumulated desensitisation: under daily dosing "
        "Treg peak in week 1-2 then fall slowly despite dosing (direction of Koreth 2011 and "
        "Blood Adv 2019; their cGVHD patients peaked at week 4, the model in week 1)")
    treg_pool: float = _p(
        1.0, "-", "derived",
        "the host's baseline Treg count relative to the SLE patients the model is "
        "calibrated on (1 by definition in SLE; other hosts: trialsim/model/hosts.py). "
        "IL-2 consumption and the IL-2-supported Treg niche are absolute numbers of cells, "
        "so in units of the host's own baseline the sinks scale by it and the Treg gain by "
        "its inverse (docs/model.md §3.2)")
    signal_rate: float = _p(
        1.0, "1/day", "assumed",
        "persistence of the Treg IL-2 signal (pSTAT5 → CD25, proliferation commitment): ~1 day")

    # --- Treg and effector (NK/CD8/Th1) expansion ----------------------------------------
    treg_return: float = _p(
        math.log(2) / 4.5, "1/day", "derived",
        "Treg response half-life ≈ 4.5 days (allometric scaling of a published K-PD fit; "
        "calibration/model.md) → ln2/4.5")
    treg_gain: float = _p(
        9.0, "-", "fitted",
        "Treg expansion per unit excess αβγ signal: He 2020 regimen → median Treg ≈ 2× at the "
        "end of each on-phase (prototype in calibration/model.md; acceptance 1.5-2.5×)")
    effector_return: float = _p(
        math.log(2) / 10.0, "1/day", "assumed",
        "return of NK/CD8 expansion after IL-2; NK turnover of the order of 2 weeks")
    effector_gain: float = _p(
        10.0, "-", "assumed",
        "maximal NK/CD8 expansion under saturating βγ signal (high-dose IL-2 expands NK "
        "several-fold)")

    # --- helper subsets, antibodies, complement ------------------------------------------
    tfh_rate: float = _p(0.1, "1/day", "assumed", "Tfh turnover: no human data (model.md)")
    th17_rate: float = _p(0.1, "1/day", "assumed", "Th17 turnover: no human data (model.md)")
    tfh_suppression: float = _p(
        2.2, "-", "fitted",
        "Treg suppression of Tfh, target·(1+s)/(1+s·Treg); fitted with the loop gain and "
        "weights to the He 2020 SRI-4 and SLEDAI-2K targets. Gives Tfh ≈ 0.55 of baseline "
        "at the end of on-phases (Treg ≈ 1.9×), lower than the 0.65-0.76 of the prototype in "
        "calibration/model.md; Tfh more suppressed than Th17 (Liang 2021 Clin Transl Immunol)")
    th17_suppression: float = _p(
        1.8, "-", "fitted", "as tfh_suppression, for Th17 (He 2016: Th17 down)")
    plasmablast_rate: float = _p(
        0.2, "1/day", "assumed", "short-lived plasmablasts: lifespan of days")
    antibody_rate: float = _p(
        math.log(2) / 21.0, "1/day", "assumed", "IgG half-life ≈ 21 days (textbook)")
    long_lived_fraction: float = _p(
        0.6, "-", "fitted",
        "share of anti-dsDNA from long-lived plasma cells (Tfh-independent), set so anti-dsDNA "
        "falls modestly as in He 2020 (median 34.8 → 33.0 → 29.0 IU/mL, weeks 0/12/24); the "
        "model gives about −13% at week 12 and −10% at week 24")

    # --- disease activity ----------------------------------------------------------------
    tissue_rate: float = _p(
        0.04, "1/day", "sourced",
        "tissue inflammation/damage decay 0.04/day (Budu-Grajdeanu P et al., Theor Biol Med "
        "Model 2010;7:14, lupus nephritis model)")
    loop_gain: float = _p(
        0.95, "-", "fitted",
        "autoantigen feedback (inflamed tissue → debris → Tfh/Th17 priming): share of helper "
        "drive that follows disease activity. Makes the disease self-sustaining and slow to "
        "relax, so IL-2's benefit persists off drug (He 2020 week 12 → 24)")
    weight_tfh: float = _p(0.45, "-", "assumed", "share of inflammation driven by Tfh/B help")
    weight_th17: float = _p(0.45, "-", "assumed", "share driven by Th17 (IL-17, neutrophils)")
    weight_antibody: float = _p(0.05, "-", "assumed", "share driven by immune complexes")
    weight_effector: float = _p(
        0.05, "-", "assumed", "share driven by NK/CD8/Th1 effectors (IFN-γ)")
    soc_effect: float = _p(
        0.03, "-", "fitted",
        "typical reduction of inflammatory drive by optimised standard of care during a "
        "trial: placebo SRI-4 ≈ 30-37% at weeks 12-24 (He 2020) and 33-44% at week 52 "
        "(BLISS, TULIP)")
    soc_onset_days: float = _p(
        90.0, "day", "assumed",
        "time constant of the standard-of-care effect: background immunosuppressants "
        "(mycophenolate, azathioprine) take about 3 months to act")
    entry_flare: float = _p(
        0.45, "-", "fitted",
        "typical transient excess activity at enrolment (patients enter trials during a "
        "flare; regression to the mean): He 2020 placebo median 11 → 6 by week 12")
    entry_flare_rate: float = _p(
        0.05, "1/day", "fitted",
        "resolution of the entry flare under standard of care (half-life ≈ 14 days): fitted "
        "to the placebo BICLA time course of TULIP-1/2 (weeks 4, 8, 12: 18-21%, 22-23%, "
        "28-32%); 0.08/day made week 8 too high, 0.04/day week 4 too low")
    renal_rate: float = _p(
        0.015, "1/day", "assumed",
        "lag of renal manifestations (proteinuria, sediment) behind inflammation: months")
    organ_rate: float = _p(
        0.02, "1/day", "assumed",
        "lag of other organ manifestations (joints, skin, serosa, blood counts): weeks")

    # --- flares ---------------------------------------------------------------------------
    flare_rate_per_year: float = _p(
        0.9, "1/year", "assumed",
        "hazard of a SELENA flare at baseline activity; severe-flare risk ≈ 30%/52 weeks in "
        "serologically active placebo patients (van Vollenhoven RF et al., Ann Rheum Dis "
        "2012;71:1343)")
    flare_size: float = _p(
        0.6, "-", "assumed", "mean excess activity at a flare's peak (exponential)")
    flare_decay: float = _p(
        1 / 14, "1/day", "assumed", "flare resolution under rescue therapy: ~2 weeks")

    # --- between-trial variability of the placebo/standard-of-care response ----------------
    between_trial_sd: float = _p(
        0.1275, "-", "fitted",
        "SD of the latent trial effect s = mu + sd·u per simulated trial: posterior median "
        "(95% interval 0.032-0.318) of the joint posterior of (df, mu, sd) under uniform "
        "priors (df in {2, 3, 5, 10, inf}, mu on [-0.3, 0.3], sd on [0, 0.8]); likelihood = "
        "binomial mixture of 10 published placebo arms (trialsim/data/targets.toml "
        "[[placebo_trial]]). Replicates draw (df, mu, sd) from the 400-member ensemble in "
        "trialsim/data/between_trial.json (`trialsim calibrate --fit`); this value is used "
        "only when a caller changes it (a fixed sd, normal u, mu = 0)")
    trial_weight_entry: float = _p(
        1.0, "-", "assumed",
        "loading of the trial effect on the entry flare (regression to the mean: how far "
        "above their usual level a trial's screening catches patients): entry flare × e^(w·s)")
    trial_weight_soc: float = _p(
        1.0, "-", "assumed",
        "loading on the standard-of-care effect (background therapy optimised, steroid "
        "taper rules): soc × e^(w·s)")
    trial_weight_assessor: float = _p(
        0.2, "-", "assumed",
        "loading on assessor behaviour: post-baseline clinical activity is scored × "
        "e^(−w·s) (lenient or strict scoring of the same disease)")

    def with_(self, **changes: float) -> ModelParameters:
        """A copy with some values replaced (sensitivity analyses, calibration)."""
        return replace(self, **changes)


DEFAULT_PARAMETERS = ModelParameters()


_NOT_IN_ENSEMBLE = {
    "loop_gain": "point fit, not in the ensemble: the dynamics take it as one number and the "
                 "He 2020 targets do not separate it from the suppression constants",
    "long_lived_fraction": "point fit, not in the ensemble (set by the size of He 2020's "
                           "anti-dsDNA fall, which calibrate does not check)",
    "entry_flare_rate": "point fit to the TULIP BICLA time course (0.04 and 0.08/day "
                        "bracket it: week 4 too low, week 8 too high); not in the ensemble",
}


def fitted_uncertainty() -> dict[str, str]:
    """For each *fitted* parameter, its uncertainty from the shipped ensembles
    (``trialsim/data/parameter_ensemble.json``, ``between_trial.json``), or why it has none."""
    import numpy as np

    from trialsim.model.parameter_ensemble import load_parameter_ensemble
    from trialsim.model.trial_effects import load_ensemble

    d = DEFAULT_PARAMETERS
    out = dict(_NOT_IN_ENSEMBLE)

    def q(x: np.ndarray) -> str:
        lo, med, hi = np.percentile(x, [2.5, 50, 97.5])
        return f"ensemble median {med:.3g}, 95% {lo:.3g}-{hi:.3g}"

    members = load_parameter_ensemble()
    if len(members):
        out["treg_gain"] = q(members[:, 0]) + f" ({len(members)} members)"
        out["tfh_suppression"] = q(d.tfh_suppression * members[:, 1])
        out["th17_suppression"] = q(d.th17_suppression * members[:, 1])
    ens = load_ensemble()
    out["between_trial_sd"] = (q(ens.sd) + f"; centre mu 95% {np.percentile(ens.mu, 2.5):.2f}"
                               f" to {np.percentile(ens.mu, 97.5):.2f}; tails df "
                               + "/".join("inf" if not np.isfinite(x) else f"{x:g}"
                                          for x in sorted(set(ens.df.tolist()))))
    lo, hi = np.exp(np.percentile(ens.mu, [2.5, 97.5]))
    for name in ("soc_effect", "entry_flare"):
        out[name] = (f"per trial × e^s (s = mu + sigma·u, between-trial ensemble); the typical "
                     f"trial's factor e^mu: 95% {lo:.2f}-{hi:.2f}")
    return out


def parameter_table(params: ModelParameters = DEFAULT_PARAMETERS) -> pd.DataFrame:
    """One row per parameter: name, value, unit, kind, uncertainty (fitted parameters: from
    the shipped ensembles), source."""
    unc = fitted_uncertainty()
    rows = [
        {"name": f.name, "value": getattr(params, f.name), "unit": f.metadata["unit"],
         "kind": f.metadata["kind"],
         "uncertainty": unc.get(f.name, "") if f.metadata["kind"] == "fitted" else "",
         "source": f.metadata["source"]}
        for f in fields(params)
    ]
    return pd.DataFrame(rows)
