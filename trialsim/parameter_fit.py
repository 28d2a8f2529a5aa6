"""Fit the parameter ensemble of :mod:`trialsim.model.parameter_ensemble` (importance sampling).

Prior: ``treg_gain`` ~ LogNormal(median 9, log-SD 0.5) and ``helper_scale`` (multiplies both
``tfh_suppression`` 2.2 and ``th17_suppression`` 1.8) ~ LogNormal(median 1, log-SD 0.5),
independent; 256 scrambled-Sobol quasi-random draws (seed 12). Each draw simulates the He 2020
design (``protocols/he2020.toml`` with 400 patients, replicate 0, trial effect typical: the
same patients for every draw, so weights differ only through the parameters) and the
``[[treg_target]]`` regimens (60 patients each). Weight = approximate likelihood:

    w = [Binom(16; 29, p12) · Binom(19; 29, p24)]^(1/2) × 1{Treg within the He 2020-regimen,
        DILT1D and DILfrequency tolerances}

and the shipped ensemble is 200 members drawn from the weighted draws by systematic
resampling. The effective sample size (Kish) is reported.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import stats
from scipy.stats import qmc

from trialsim.model import DEFAULT_PARAMETERS, ModelParameters

PRIOR_LOG_SD = 0.5
DRAWS = 256
MEMBERS = 200
HE2020_IL2 = ((12.0, 16, 29), (24.0, 19, 29))   # week, responders, n (He 2020 IL-2 arm)
TREG_CONSTRAINTS = ("treg.he2020_regimen.day14", "treg.dilt1d.single_dose",
                    "treg.dilfrequency.q3d")


def prior_draws(n: int = DRAWS, seed: int = 12) -> np.ndarray:
    """n × (treg_gain, helper_scale) from the stated log-normal priors (quasi-random)."""
    u = qmc.Sobol(d=2, scramble=True, seed=seed).random(n)
    z = stats.norm.ppf(np.clip(u, 1e-6, 1 - 1e-6))
    return np.column_stack([DEFAULT_PARAMETERS.treg_gain * np.exp(PRIOR_LOG_SD * z[:, 0]),
                            np.exp(PRIOR_LOG_SD * z[:, 1])])


def member_parameters(gain: float, helper: float,
                      base: ModelParameters = DEFAULT_PARAMETERS) -> ModelParameters:
    return base.with_(treg_gain=float(gain), tfh_suppression=base.tfh_suppression * helper,
                      th17_suppression=base.th17_suppression * helper)


def evaluate(gain: float, helper: float, patients: int = 400) -> dict[str, Any]:
    """The targets' simulated values and the log weight of one parameter set."""
    from trialsim.calibration import load_treg_targets, protocol_dir, simulate_treg_regimens
    from trialsim.endpoints import sri
    from trialsim.protocol import load_protocol
    from trialsim.trial import simulate_trials

    params = member_parameters(gain, helper)
    proto = load_protocol(protocol_dir() / "he2020.toml").with_overrides(n=patients)
    res = simulate_trials(proto, [0], params, conditional=True)[0]
    il2 = res.arm == next(i for i, a in enumerate(proto.arms) if a.name != "placebo")
    logw, rates = 0.0, {}
    for week, x, n in HE2020_IL2:
        p = float(np.clip(sri(res.visits, week, 4)[il2].mean(), 1e-3, 1 - 1e-3))
        rates[f"sri4_week{week:g}"] = round(p, 4)
        logw += 0.5 * float(stats.binom.logpmf(x, n, p))
    treg = simulate_treg_regimens(params, patients=60)
    ranges = {t["id"]: t["range"] for t in load_treg_targets()}
    ok = all(ranges[k][0] <= treg[k] <= ranges[k][1] for k in TREG_CONSTRAINTS)
    return {"treg_gain": float(gain), "helper_scale": float(helper), **rates,
            **{k: round(treg[k], 3) for k in TREG_CONSTRAINTS}, "treg_ok": bool(ok),
            "log_weight": round(logw, 4) if ok else None}


def fit(progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Weigh the prior draws and resample the ensemble; the document written to
    ``trialsim/data/parameter_ensemble.json``."""
    t0 = time.time()
    rows = []
    for i, (g, h) in enumerate(prior_draws()):
        rows.append(evaluate(g, h))
        if progress is not None:
            progress(i + 1)
    lw = np.array([-np.inf if r["log_weight"] is None else r["log_weight"] for r in rows])
    if not np.isfinite(lw).any():
        raise RuntimeError("no prior draw meets the Treg constraints")
    w = np.exp(lw - lw[np.isfinite(lw)].max())
    w[~np.isfinite(lw)] = 0.0
    w /= w.sum()
    ess = float(1.0 / (w ** 2).sum())
    cdf = np.cumsum(w)
    idx = np.minimum(np.searchsorted(cdf, (np.arange(MEMBERS) + 0.5) / MEMBERS), len(w) - 1)
    members = [{"treg_gain": round(rows[i]["treg_gain"], 4),
                "helper_scale": round(rows[i]["helper_scale"], 4)} for i in idx]
    gains = np.array([m["treg_gain"] for m in members])
    helpers = np.array([m["helper_scale"] for m in members])

    def summary(x: np.ndarray) -> dict[str, Any]:
        return {"median": round(float(np.median(x)), 4),
                "ci95": [round(float(np.percentile(x, 2.5)), 4),
                         round(float(np.percentile(x, 97.5)), 4)]}

    return {
        "method": "importance sampling from the stated priors; weight = [Binom(16;29,p12) "
                  "Binom(19;29,p24)]^(1/2) x 1{Treg within the He 2020-regimen, DILT1D and "
                  "DILfrequency tolerances}; systematic resampling",
        "prior": {"treg_gain": f"LogNormal(median {DEFAULT_PARAMETERS.treg_gain:g}, log-SD "
                               f"{PRIOR_LOG_SD})",
                  "helper_scale": f"LogNormal(median 1, log-SD {PRIOR_LOG_SD}) multiplying "
                                  "tfh_suppression and th17_suppression"},
        "draws": DRAWS,
        "accepted": int(np.isfinite(lw).sum()),
        "effective_sample_size": round(ess, 1),
        "posterior": {"treg_gain": summary(gains), "helper_scale": summary(helpers),
                      "tfh_suppression": summary(DEFAULT_PARAMETERS.tfh_suppression * helpers),
                      "th17_suppression": summary(DEFAULT_PARAMETERS.th17_suppression
                                                  * helpers)},
        "members": members,
        "evaluations": rows,
        "seconds": round(time.time() - t0, 1),
    }
