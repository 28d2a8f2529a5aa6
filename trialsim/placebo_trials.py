"""Placebo arms of published SLE trials: their designs, and the between-trial fit.

``trialsim/data/targets.toml`` lists placebo (+ standard-of-care) arms (``[[placebo_trial]]``:
responder rate, n analysed, week, endpoint, inclusion threshold, region → ancestry mix, with
sources). Each becomes a simulated design (:func:`design_protocol`): a placebo-only trial of
that many patients, scored at that week with that endpoint.

Given the latent trial effect ``s`` (:mod:`trialsim.model.trial_effects`), a placebo arm's
patients are independent and identically distributed (one site), so its responder count is
exactly Binomial(n, p_d(s)), with ``p_d(s)`` the design's response probability at ``s``. Over
trials ``s = μ + σ_T·u``, ``u ~ t(df)``, and the predictive distribution of the count is

    P(x) = E over the posterior of (df, μ, σ_T) of ∫ Binom(x; n, p_d(μ + σ_T u)) f_df(u) du

(200 equal-probability nodes of u). :func:`tabulate` estimates ``p_d`` on a grid of ``s``
(one large simulated cohort per grid point, interpolated in logit), :func:`posterior` weighs
a grid of (df, μ, σ_T) by the likelihood Π P(x_i) of the ``fit = true`` arms (uniform
priors), :func:`ensemble` draws 400 members from it, and :func:`leave_one_out` refits
without each arm and reports whether its published count falls in the central 95% of its
predictive distribution. The
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
from trialsim.model.trial_effects import Ensemble
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


def _as_ensemble(ens: Ensemble | float | np.ndarray, df: float = math.inf) -> Ensemble:
    """An :class:`Ensemble`; a number or an array of σ is read as normal (or t(df)) u with
    μ = 0 (the form of the first fit)."""
    if isinstance(ens, Ensemble):
        return ens
    sds = np.atleast_1d(np.asarray(ens, dtype=float))
    return Ensemble(np.full(sds.size, float(df)), np.zeros(sds.size), sds)


def effect_nodes(ens: Ensemble) -> np.ndarray:
    """Latent effects ``s`` (members × :data:`_BINS` equal-probability nodes of u)."""
    out = np.empty((ens.size, _BINS))
    for df in np.unique(ens.df):
        m = ens.df == df
        out[m] = ens.mu[m, None] + ens.sd[m, None] * u_nodes(float(df))[None, :]
    return out


def predictive_pmf(table: np.ndarray, n: int, ens: Ensemble | float | np.ndarray,
                   df: float = math.inf) -> np.ndarray:
    """P(x), x = 0 … n responders of a placebo arm of ``n`` patients, for a trial effect
    ``s = μ + σ·u`` averaged over the members of ``ens`` (equally weighted draws)."""
    p = _p_at(table, effect_nodes(_as_ensemble(ens, df)).ravel())
    # Bin the response probabilities (0.001 wide) before mixing binomials: the same mixture
    # to well under a Monte-Carlo error, at a fraction of the cost.
    edges = np.linspace(0.0, 1.0, 1001)
    counts, _ = np.histogram(p, bins=edges)
    mid = 0.5 * (edges[1:] + edges[:-1])
    keep = counts > 0
    x = np.arange(n + 1)
    pmf = (stats.binom.pmf(x[:, None], n, mid[None, keep]) * counts[None, keep]).sum(axis=1)
    return pmf / pmf.sum()


def interval_and_percentile(table: np.ndarray, trial: PlaceboTrial,
                            ens: Ensemble | float | np.ndarray, df: float = math.inf,
                            n: int | None = None,
                            responders: int | None = None) -> tuple[float, float, float]:
    """Central 95% interval of the simulated rate and the published rate's mid-percentile."""
    n = n or trial.n
    x = trial.responders if responders is None else responders
    pmf = predictive_pmf(table, n, ens, df)
    cdf = np.cumsum(pmf)
    lo = int(np.searchsorted(cdf, 0.025)) / n
    hi = int(np.searchsorted(cdf, 0.975)) / n
    return lo, hi, float(cdf[x] - 0.5 * pmf[x])


SD_GRID = np.linspace(0.0025, 0.7975, 160)          # σ_T: uniform prior on [0, 0.8]
# μ, the centre of the trial effects, is uncertain too: its maximum-likelihood value over the
# published arms is 0 (the He 2020 calibration), and the ensemble carries its posterior
# (uniform prior on [−0.3, 0.3]; 95% −0.10 to 0.15), as a random-effects meta-analysis's
# prediction interval carries the uncertainty of the mean. Fixing μ = 0 instead puts LOTUS
# outside (97.8th percentile): docs/model.md §9.2.
MU_GRID = np.round(np.linspace(-0.3, 0.3, 13), 3)


def log_likelihood_grid(tables: dict[str, np.ndarray], trials: list[PlaceboTrial]
                        ) -> np.ndarray:
    """Σ log P(x_i) over ``trials`` on the grid DF_CANDIDATES × MU_GRID × SD_GRID."""
    out = np.zeros((len(DF_CANDIDATES), MU_GRID.size, SD_GRID.size))
    for i, df in enumerate(DF_CANDIDATES):
        s = MU_GRID[:, None, None] + SD_GRID[None, :, None] * u_nodes(df)[None, None, :]
        for t in trials:
            p = _p_at(tables[t.id], s)
            out[i] += np.log(stats.binom.pmf(t.responders, t.n, p).mean(axis=2) + 1e-300)
    return out


def log_likelihood(tables: dict[str, np.ndarray], trials: list[PlaceboTrial],
                   sd: float, df: float = math.inf, mu: float = 0.0) -> float:
    s = mu + sd * u_nodes(df)
    return float(sum(np.log(stats.binom.pmf(t.responders, t.n, _p_at(tables[t.id], s)).mean()
                            + 1e-300) for t in trials))


def posterior(tables: dict[str, np.ndarray], trials: list[PlaceboTrial]) -> np.ndarray:
    """Posterior weights on the (df, μ, σ_T) grid under uniform priors (stated above): the
    importance weights are the likelihood."""
    ll = log_likelihood_grid(tables, trials)
    w = np.exp(ll - ll.max())
    return w / w.sum()


def ensemble(w: np.ndarray, size: int = 400) -> Ensemble:
    """``size`` equally weighted draws of (df, μ, σ_T) from the grid posterior ``w``
    (systematic resampling: deterministic, every draw a quantile of the flattened grid)."""
    cdf = np.cumsum(w.ravel())
    q = (np.arange(size) + 0.5) / size
    idx = np.minimum(np.searchsorted(cdf, q), cdf.size - 1)
    i, j, k = np.unravel_index(idx, w.shape)
    return Ensemble(np.array(DF_CANDIDATES, dtype=float)[i], MU_GRID[j].astype(float),
                    np.round(SD_GRID[k], 4))


def fit_between_trial_sd(tables: dict[str, np.ndarray], trials: list[PlaceboTrial],
                         df: float = math.inf) -> float:
    """Maximum-likelihood σ_T over ``trials`` with μ = 0 and u ~ t(df) (bounded to [0, 1])."""
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


def leave_one_out(tables: dict[str, np.ndarray], trials: list[PlaceboTrial]
                  ) -> list[dict[str, Any]]:
    """Refit the (df, μ, σ_T) posterior without each ``fit`` arm; its published rate against
    the refit central 95% interval."""
    fitted = [t for t in trials if t.fit]
    out = []
    for t in fitted:
        w = posterior(tables, [u for u in fitted if u.id != t.id])
        lo, hi, pct = interval_and_percentile(tables[t.id], t, ensemble(w, 200))
        out.append({"id": t.id, "published": t.rate, "interval95": [round(lo, 4), round(hi, 4)],
                    "percentile": round(pct, 4), "covered": bool(lo <= t.rate <= hi)})
    return out


def _summary(ens: Ensemble) -> dict[str, Any]:
    dfs, counts = np.unique(ens.df, return_counts=True)
    return {
        "sd_median": float(np.median(ens.sd)),
        "sd_ci95": [float(np.percentile(ens.sd, 2.5)), float(np.percentile(ens.sd, 97.5))],
        "mu_median": float(np.median(ens.mu)),
        "mu_ci95": [float(np.percentile(ens.mu, 2.5)), float(np.percentile(ens.mu, 97.5))],
        "df_posterior": {("inf" if math.isinf(d) else f"{d:g}"): round(int(c) / ens.size, 4)
                         for d, c in zip(dfs, counts, strict=True)},
    }


def fit(params: ModelParameters = DEFAULT_PARAMETERS, patients: int = 1500,
        progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Tabulate every arm, compute the joint posterior of (df, μ, σ_T) on its grid, draw
    the ensemble, and check each arm (in-sample and leave-one-out). Returns the document
    written to ``trialsim/data/between_trial.json``."""
    t0 = time.time()
    trials = load_placebo_trials()
    tables = {}
    for t in trials:
        tables[t.id] = tabulate(t, params, patients)
        if progress is not None:
            progress(t.id)
    doc = fit_tables(tables, trials)
    doc["patients_per_grid_point"] = patients
    doc["seconds"] = round(time.time() - t0, 1)
    return doc


def fit_tables(tables: dict[str, np.ndarray],
               trials: list[PlaceboTrial] | None = None) -> dict[str, Any]:
    """The fit of :func:`fit` from already tabulated response curves (seconds)."""
    trials = load_placebo_trials() if trials is None else trials
    fitted = [t for t in trials if t.fit]
    ll = log_likelihood_grid(tables, fitted)
    i, j, k = np.unravel_index(int(ll.argmax()), ll.shape)
    w = np.exp(ll - ll.max())
    w /= w.sum()
    draws = ensemble(w)
    checks = []
    for t in trials:
        lo, hi, pct = interval_and_percentile(tables[t.id], t, draws)
        checks.append({"id": t.id, "fit": t.fit, "published": t.rate,
                       "interval95": [round(lo, 4), round(hi, 4)], "percentile": round(pct, 4)})
    # log marginal likelihood of each tail shape (μ, σ_T integrated over their priors)
    by_df = {("inf" if math.isinf(d) else f"{d:g}"):
             round(float(np.log(np.exp(ll[n] - ll.max()).mean()) + ll.max()), 3)
             for n, d in enumerate(DF_CANDIDATES)}
    return {
        "model": "s = mu + sd * u, u ~ t(df) (normal when df = inf); uniform priors: df in "
                 "{2, 3, 5, 10, inf}, sd on [0, 0.8], mu on "
                 f"[{MU_GRID[0]:g}, {MU_GRID[-1]:g}] (grid step {MU_GRID[1] - MU_GRID[0]:g})",
        "ml": {"df": "inf" if math.isinf(DF_CANDIDATES[i]) else DF_CANDIDATES[i],
               "mu": float(MU_GRID[j]), "sd": round(float(SD_GRID[k]), 4),
               "loglik": round(float(ll.max()), 3)},
        "log_marginal_likelihood_by_df": by_df,
        **_summary(draws),
        "draws": {"df": ["inf" if math.isinf(d) else float(d) for d in draws.df],
                  "mu": [float(x) for x in draws.mu], "sd": [float(x) for x in draws.sd]},
        "arms": checks,
        "leave_one_out": leave_one_out(tables, trials),
        "residual_regression": residual_regression(tables, fitted, float(np.median(draws.sd))),
        "tables": {k: [round(float(x), 4) for x in v] for k, v in tables.items()},
    }
