"""Placebo arms of published SLE trials: their designs, and the between-trial fit.

``trialsim/data/targets.toml`` lists placebo (+ standard-of-care) arms (``[[placebo_trial]]``:
responder rate, n analysed, week, endpoint, inclusion threshold, region → ancestry mix, with
sources). Each becomes a simulated design (:func:`design_protocol`): a placebo-only trial of
that many patients, scored at that week with that endpoint.

Given the latent trial effect ``s`` (:mod:`trialsim.model.trial_effects`), a placebo arm's
patients are independent and identically distributed (one site), so its responder count is
exactly Binomial(n, p_d(s)), with ``p_d(s)`` the design's response probability at ``s``. Over
trials ``s = σ_T·u``, ``u ~ N(0, 1)``, and the predictive distribution of the count is

    P(x) = ∫ Binom(x; n, p_d(σ_T u)) φ(u) du           (Gauss–Hermite, 40 nodes)

:func:`tabulate` estimates ``p_d`` on a grid of ``s`` (one large simulated cohort per grid
point, interpolated in logit), :func:`fit_between_trial_sd` maximises Σ log P(x_i) over the
``fit = true`` arms, and :func:`leave_one_out` refits without each arm and reports whether
its published count falls in the central 95% of its predictive distribution. The
calibration (``trialsim calibrate``) checks the same arms by brute-force simulation of whole
trials instead.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import numpy as np
from scipy import optimize, special, stats

from trialsim.endpoints import VisitRecords, bicla, sri
from trialsim.model import DEFAULT_PARAMETERS, ModelParameters
from trialsim.protocol import Protocol, parse_protocol

S_GRID = np.round(np.linspace(-1.2, 1.2, 13), 3)   # latent trial effects tabulated
_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(40)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()


@dataclass(frozen=True)
class PlaceboTrial:
    """One published placebo arm and the design that reproduces it."""

    id: str
    name: str
    source: str
    rate: float
    n: int
    week: float
    endpoint: str                 # sri4 | sri5 | sri6 | bicla
    min_sledai: int
    fit: bool
    responders: int
    ancestry: dict[str, float] | None = None
    dropout_per_year: float = 0.15
    extra: dict[str, Any] = field(default_factory=dict)


def load_placebo_trials() -> list[PlaceboTrial]:
    """The ``[[placebo_trial]]`` entries of the shipped targets."""
    text = resources.files("trialsim").joinpath("data/targets.toml").read_text("utf-8")
    out = []
    for t in tomllib.loads(text).get("placebo_trial", []):
        known = {"id", "name", "source", "rate", "n", "week", "endpoint", "min_sledai", "fit",
                 "responders", "ancestry", "dropout_per_year"}
        out.append(PlaceboTrial(
            id=t["id"], name=t["name"], source=t["source"], rate=float(t["rate"]),
            n=int(t["n"]), week=float(t["week"]), endpoint=t["endpoint"],
            min_sledai=int(t["min_sledai"]), fit=bool(t["fit"]),
            responders=int(t.get("responders", round(t["rate"] * t["n"]))),
            ancestry=t.get("ancestry"), dropout_per_year=float(t.get("dropout_per_year", 0.15)),
            extra={k: v for k, v in t.items() if k not in known}))
    return out


def design_protocol(trial: PlaceboTrial, *, n: int | None = None, seed: int = 12,
                    replicates: int = 1) -> Protocol:
    """A placebo-only protocol of the trial's design (two identical placebo arms whose
    patients together are the arm: randomisation does not matter when every arm is placebo).
    """
    week = trial.week
    weeks = sorted({0.0, *[float(w) for w in range(4, int(week) + 1, 4)], week})
    data: dict[str, Any] = {
        "trial": {"name": f"placebo-{trial.id}", "seed": seed, "replicates": replicates},
        "population": {"n": int(n or trial.n), "female_fraction": 0.93,
                       "age": {"min": 18, "max": 70}, "min_sledai": trial.min_sledai},
        "arm": [{"name": "placebo", "ratio": 1}, {"name": "placebo-b", "ratio": 1}],
        "visits": {"weeks": weeks},
        "endpoint": {"primary": "bicla" if trial.endpoint == "bicla" else "sri4", "week": week},
        "analysis": {"dropout_per_year": trial.dropout_per_year},
        "randomization": {"stratify_by": []},
    }
    if trial.ancestry:
        data["population"]["ancestry"] = dict(trial.ancestry)
    return parse_protocol(data, source=f"placebo trial {trial.id}")


def endpoint_responders(visits: VisitRecords, endpoint: str, week: float) -> np.ndarray:
    """Responders of ``endpoint`` (sri4/sri5/sri6/bicla) at ``week``."""
    if endpoint == "bicla":
        return bicla(visits, week)
    return sri(visits, week, int(endpoint[3:]))


def simulated_rates(trial: PlaceboTrial, replicates: int,
                    params: ModelParameters = DEFAULT_PARAMETERS, *, n: int | None = None,
                    seed: int = 12, conditional: bool = False, chunk: int = 25,
                    progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Placebo response rate of each of ``replicates`` simulated trials of the design."""
    from trialsim.trial import simulate_trials

    proto = design_protocol(trial, n=n, seed=seed)
    rates = []
    for start in range(0, replicates, chunk):
        reps = range(start, min(start + chunk, replicates))
        for res in simulate_trials(proto, reps, params, conditional=conditional):
            rates.append(float(endpoint_responders(res.visits, trial.endpoint,
                                                   trial.week).mean()))
        if progress is not None:
            progress(len(reps))
    return np.asarray(rates)


def tabulate(trial: PlaceboTrial, params: ModelParameters = DEFAULT_PARAMETERS,
             patients: int = 2000, grid: np.ndarray = S_GRID) -> np.ndarray:
    """Response probability of the design at each latent effect in ``grid`` (one cohort of
    ``patients`` per point; the same patients at every point)."""
    from trialsim.trial import simulate_trials

    proto = design_protocol(trial, n=patients, seed=7)
    return np.array([
        endpoint_responders(simulate_trials(proto, [0], params, fixed_effect=float(s))[0].visits,
                            trial.endpoint, trial.week).mean()
        for s in grid])


def _p_at(table: np.ndarray, s: np.ndarray, grid: np.ndarray = S_GRID) -> np.ndarray:
    lt = special.logit(np.clip(table, 1e-4, 1 - 1e-4))
    return special.expit(np.interp(s, grid, lt, left=None, right=None))


def predictive_pmf(table: np.ndarray, n: int, sd: float) -> np.ndarray:
    """P(x) for x = 0 … n responders of a placebo arm of ``n`` patients."""
    p = _p_at(table, sd * _NODES)                                       # (nodes,)
    x = np.arange(n + 1)
    return (_WEIGHTS[:, None] * stats.binom.pmf(x[None, :], n, p[:, None])).sum(axis=0)


def interval_and_percentile(table: np.ndarray, trial: PlaceboTrial,
                            sd: float) -> tuple[float, float, float]:
    """Central 95% interval of the simulated rate and the published rate's mid-percentile."""
    pmf = predictive_pmf(table, trial.n, sd)
    cdf = np.cumsum(pmf)
    lo = int(np.searchsorted(cdf, 0.025)) / trial.n
    hi = int(np.searchsorted(cdf, 0.975)) / trial.n
    x = trial.responders
    pct = float(cdf[x] - 0.5 * pmf[x])
    return lo, hi, pct


def log_likelihood(tables: dict[str, np.ndarray], trials: list[PlaceboTrial],
                   sd: float) -> float:
    return float(sum(np.log(predictive_pmf(tables[t.id], t.n, sd)[t.responders] + 1e-300)
                     for t in trials))


def fit_between_trial_sd(tables: dict[str, np.ndarray], trials: list[PlaceboTrial]) -> float:
    """Maximum-likelihood σ_T over ``trials`` (bounded to [0, 1])."""
    res = optimize.minimize_scalar(lambda sd: -log_likelihood(tables, trials, sd),
                                   bounds=(0.0, 1.0), method="bounded",
                                   options={"xatol": 1e-4})
    return float(res.x)


def profile_interval(tables: dict[str, np.ndarray], trials: list[PlaceboTrial],
                     sd_hat: float) -> tuple[float, float]:
    """95% profile-likelihood interval of σ_T (log-likelihood within 1.92 of the maximum)."""
    top = log_likelihood(tables, trials, sd_hat)
    grid = np.linspace(0.0, 1.0, 401)
    ok = grid[[log_likelihood(tables, trials, g) >= top - 1.92 for g in grid]]
    return float(ok.min()), float(ok.max())


def residual_regression(tables: dict[str, np.ndarray], trials: list[PlaceboTrial],
                        sd: float) -> dict[str, Any]:
    """Population dependence the model does *not* already explain: weighted least squares
    of logit(published) − logit(model at s = 0) on design covariates, with the between-trial
    variance in the weights (σ_T on the logit scale measured from the table)."""
    rows = []
    for t in trials:
        p0 = float(_p_at(tables[t.id], np.array([0.0]))[0])
        obs = min(max(t.responders, 0.5), t.n - 0.5) / t.n
        slope = float(np.gradient(special.logit(np.clip(tables[t.id], 1e-4, 1 - 1e-4)),
                                  S_GRID)[len(S_GRID) // 2])
        var = 1.0 / (t.n * obs * (1 - obs)) + (slope * sd) ** 2
        asian = bool(t.ancestry and t.ancestry.get("asian", 0) >= 0.9)
        rows.append((special.logit(obs) - special.logit(p0), var,
                     [1.0, float(asian), float(t.min_sledai >= 8), float(t.week <= 24)]))
    y = np.array([r[0] for r in rows])
    w = 1.0 / np.array([r[1] for r in rows])
    x = np.array([r[2] for r in rows])
    xtw = x.T * w
    cov = np.linalg.pinv(xtw @ x)
    beta = cov @ xtw @ y
    names = ["intercept", "asian_region", "min_sledai_ge8", "week_le24"]
    return {k: {"estimate": float(b), "se": float(np.sqrt(c))}
            for k, b, c in zip(names, beta, np.diag(cov), strict=True)}


def leave_one_out(tables: dict[str, np.ndarray],
                  trials: list[PlaceboTrial]) -> list[dict[str, Any]]:
    """Refit σ_T without each ``fit`` arm; its published rate against the refit interval."""
    fitted = [t for t in trials if t.fit]
    out = []
    for t in fitted:
        sd = fit_between_trial_sd(tables, [u for u in fitted if u.id != t.id])
        lo, hi, pct = interval_and_percentile(tables[t.id], t, sd)
        out.append({"id": t.id, "sd_without": round(sd, 4), "published": t.rate,
                    "interval95": [round(lo, 4), round(hi, 4)], "percentile": round(pct, 4),
                    "covered": bool(lo <= t.rate <= hi)})
    return out
