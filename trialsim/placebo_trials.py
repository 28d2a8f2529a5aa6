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

import math
import time
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
_BINS = 200                                         # equal-probability nodes of u
DF_CANDIDATES = (2.0, 3.0, 5.0, 10.0, math.inf)     # tails of u compared by likelihood


def u_nodes(df: float) -> np.ndarray:
    """Equal-probability quadrature nodes of u ~ Student-t(df) (normal when df = inf)."""
    q = (np.arange(_BINS) + 0.5) / _BINS
    return stats.norm.ppf(q) if math.isinf(df) else stats.t.ppf(q, df)


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


def predictive_pmf(table: np.ndarray, n: int, sd: float | np.ndarray,
                   df: float = math.inf) -> np.ndarray:
    """P(x), x = 0 … n responders of a placebo arm of ``n`` patients, for a trial effect
    ``s = σ·u``, u ~ t(df); ``sd`` may be an ensemble of σ (equally weighted draws)."""
    sds = np.atleast_1d(np.asarray(sd, dtype=float))
    p = _p_at(table, (sds[:, None] * u_nodes(df)[None, :]).ravel())
    x = np.arange(n + 1)
    return stats.binom.pmf(x[None, :], n, p[:, None]).mean(axis=0)


def interval_and_percentile(table: np.ndarray, trial: PlaceboTrial, sd: float | np.ndarray,
                            df: float = math.inf, n: int | None = None,
                            responders: int | None = None) -> tuple[float, float, float]:
    """Central 95% interval of the simulated rate and the published rate's mid-percentile."""
    n = n or trial.n
    x = trial.responders if responders is None else responders
    pmf = predictive_pmf(table, n, sd, df)
    cdf = np.cumsum(pmf)
    lo = int(np.searchsorted(cdf, 0.025)) / n
    hi = int(np.searchsorted(cdf, 0.975)) / n
    return lo, hi, float(cdf[x] - 0.5 * pmf[x])


def log_likelihood(tables: dict[str, np.ndarray], trials: list[PlaceboTrial],
                   sd: float, df: float = math.inf) -> float:
    return float(sum(np.log(predictive_pmf(tables[t.id], t.n, sd, df)[t.responders] + 1e-300)
                     for t in trials))


SD_GRID = np.linspace(0.0025, 0.7975, 160)


def posterior(tables: dict[str, np.ndarray], trials: list[PlaceboTrial],
              df: float) -> tuple[np.ndarray, np.ndarray]:
    """(grid, weights): posterior of σ_T on :data:`SD_GRID` under a uniform prior on
    [0, 0.8] (stated prior), i.e. importance weights = likelihood."""
    ll = np.array([log_likelihood(tables, trials, g, df) for g in SD_GRID])
    w = np.exp(ll - ll.max())
    return SD_GRID, w / w.sum()


def ensemble(grid: np.ndarray, w: np.ndarray, size: int = 200) -> np.ndarray:
    """``size`` equal-probability draws (posterior quantiles) of σ_T."""
    cdf = np.cumsum(w)
    q = (np.arange(size) + 0.5) / size
    return np.round(np.interp(q, cdf, grid), 4)


def fit_between_trial_sd(tables: dict[str, np.ndarray], trials: list[PlaceboTrial],
                         df: float = math.inf) -> float:
    """Maximum-likelihood σ_T over ``trials`` (bounded to [0, 1])."""
    res = optimize.minimize_scalar(lambda sd: -log_likelihood(tables, trials, sd, df),
                                   bounds=(0.0, 1.0), method="bounded",
                                   options={"xatol": 1e-3})
    return float(res.x)


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


def leave_one_out(tables: dict[str, np.ndarray], trials: list[PlaceboTrial],
                  df: float) -> list[dict[str, Any]]:
    """Refit the σ_T posterior without each ``fit`` arm; its published rate against the
    refit central 95% interval."""
    fitted = [t for t in trials if t.fit]
    out = []
    for t in fitted:
        grid, w = posterior(tables, [u for u in fitted if u.id != t.id], df)
        lo, hi, pct = interval_and_percentile(tables[t.id], t, ensemble(grid, w, 50), df)
        out.append({"id": t.id, "published": t.rate, "interval95": [round(lo, 4), round(hi, 4)],
                    "percentile": round(pct, 4), "covered": bool(lo <= t.rate <= hi)})
    return out


def fit(params: ModelParameters = DEFAULT_PARAMETERS, patients: int = 1500,
        progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Tabulate every arm, choose the tails of u by likelihood, draw the σ_T ensemble,
    and check each arm (in-sample and leave-one-out). Returns the document written to
    ``trialsim/data/between_trial.toml``."""
    t0 = time.time()
    trials = load_placebo_trials()
    tables = {}
    for t in trials:
        tables[t.id] = tabulate(t, params, patients)
        if progress is not None:
            progress(t.id)
    fitted = [t for t in trials if t.fit]
    by_df = {}
    for df in DF_CANDIDATES:
        sd = fit_between_trial_sd(tables, fitted, df)
        by_df[df] = (sd, log_likelihood(tables, fitted, sd, df))
    df = max(by_df, key=lambda k: by_df[k][1])
    grid, w = posterior(tables, fitted, df)
    draws = ensemble(grid, w)
    checks = []
    for t in trials:
        lo, hi, pct = interval_and_percentile(tables[t.id], t, draws, df)
        checks.append({"id": t.id, "fit": t.fit, "published": t.rate,
                       "interval95": [round(lo, 4), round(hi, 4)], "percentile": round(pct, 4)})
    return {
        "df": df if not math.isinf(df) else "inf",
        "sd_ml": round(by_df[df][0], 4),
        "loglik_by_df": {("inf" if math.isinf(k) else f"{k:g}"): round(v[1], 3)
                         for k, v in by_df.items()},
        "sd_median": float(np.median(draws)),
        "sd_ci95": [float(np.percentile(draws, 2.5)), float(np.percentile(draws, 97.5))],
        "sd_draws": [float(x) for x in draws],
        "arms": checks,
        "leave_one_out": leave_one_out(tables, trials, df),
        "residual_regression": residual_regression(tables, fitted, float(np.median(draws))),
        "patients_per_grid_point": patients,
        "seconds": round(time.time() - t0, 1),
        "tables": {k: [round(float(x), 4) for x in v] for k, v in tables.items()},
    }
