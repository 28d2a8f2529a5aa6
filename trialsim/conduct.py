"""Intercurrent events (ICH E9(R1)): dropout, rescue therapy, and the missing-data rules.

**Dropout.** Patient i leaves the trial when the cumulative hazard Λ_i(t) reaches E_i ~
Exponential(1) (one patient-keyed draw, :data:`~trialsim.streams.Stage.DROPOUT`), with

    h_i(t) = h₀ · r_arm · (ae_hr if t ≥ first adverse event) · exp(β · (a_i(t) − 1))

``h₀ = −ln(1 − dropout_per_year)/365.25`` per day, ``r_arm`` the arm's hazard ratio
(``[conduct] dropout_ratio``), ``ae_hr`` the hazard ratio once an adverse event has
occurred (``dropout_after_adverse_event``) and ``β`` (``dropout_activity``) the log hazard
ratio per unit of relative disease activity ``a`` (1 = as at baseline):

* ``dropout = "mcar"``: β = 0 and no adverse-event term — dropout at random given the arm;
* ``"mar"``: ``a`` between visits k and k + 1 is the SLEDAI-2K recorded at visit k over
  baseline: dropout depends on what has been observed;
* ``"mnar"``: ``a`` is the latent clinical activity at visit k + 1 (mean organ-domain
  activity, the quantity PGA follows), which the dropout prevents anyone from recording.

The hazard is piecewise constant between visits (and changes at the adverse-event day), and
the same E_i is used whatever the model, so MCAR with one arm reproduces the constant-hazard
draws exactly. Adverse events occur at a fixed dose of a patient's course whether or not
dropout is AE-driven (:func:`trialsim.safety.adverse_event_days`), and count only before
dropout, so the two are consistent without iteration.

**Rescue therapy.** At the first observed post-baseline visit whose SLEDAI-2K is at least
``rescue_sledai_increase`` above baseline, the patient receives rescue therapy and is a
treatment failure from then on (composite strategy): a non-responder for every binary
efficacy endpoint, and values after the rescue visit are not used for continuous endpoints
(hypothetical strategy: they are missing and handled by the missing-data rule). Patients stay
in the trial and are seen. The model does not simulate the effect of rescue on the disease.

**Missing-data rules** (:func:`impute_binary`, :func:`impute_continuous`):

* binary — ``"non-responder"`` (NRI): no assessment at the endpoint week is a failure;
  ``"locf"``: the response status at the last observed visit; ``"observed"``: missing;
* continuous — ``"observed"``: missing (observed cases); ``"locf"``: last observed
  post-baseline value (baseline change 0 when none); ``"multiple-imputation"``:
  :data:`IMPUTATIONS` imputations by Bayesian linear regression within each arm on the
  baseline value and the last observed value (Rubin 1987; van Buuren 2018 §3.2 "norm"),
  left for the analysis to pool by Rubin's rules.
"""

from __future__ import annotations

import numpy as np

from trialsim.protocol import Protocol

IMPUTATIONS = 20
DAYS_PER_YEAR = 365.25


def base_hazard(dropout_per_year: float) -> float:
    """Per-day hazard giving a probability ``dropout_per_year`` of leaving within a year."""
    return -np.log1p(-dropout_per_year) / DAYS_PER_YEAR


def arm_hazard(protocol: Protocol, arm: np.ndarray) -> np.ndarray:
    """h₀ · r_arm per patient (``arm`` holds arm indices in protocol order)."""
    ratio = dict(protocol.conduct.dropout_ratio)
    return base_hazard(protocol.analysis.dropout_per_year) * np.array(
        [ratio.get(a.name, 1.0) for a in protocol.arms])[arm]


def dropout_days(draw: np.ndarray, hazard: np.ndarray, days: np.ndarray | None = None,
                 multiplier: np.ndarray | None = None, ae_day: np.ndarray | None = None,
                 ae_ratio: float = 1.0) -> np.ndarray:
    """Days to dropout: where Λ(t) first reaches ``draw`` (n,), inf when never.

    ``hazard`` (n,) is h₀·r_arm. Without ``multiplier`` and AE term the hazard is constant
    and the answer is ``draw / hazard`` (beyond the last visit too). Otherwise ``multiplier``
    (n, v − 1) scales the hazard between consecutive visit ``days``, ``ae_day`` (n,) is when
    the hazard is multiplied by ``ae_ratio``; nobody drops out after the last visit.
    """
    draw, hazard = np.asarray(draw, float), np.asarray(hazard, float)
    if multiplier is None and (ae_day is None or ae_ratio == 1.0):
        with np.errstate(divide="ignore"):
            return np.where(hazard > 0, draw / np.where(hazard > 0, hazard, 1.0), np.inf)
    n = draw.size
    days = np.asarray(days, float)
    lo, hi = days[:-1][None, :], days[1:][None, :]                       # (1, m)
    rate = hazard[:, None] * (np.ones((n, lo.shape[1])) if multiplier is None else multiplier)
    ae = np.full(n, np.inf) if ae_day is None else np.asarray(ae_day, float)
    split = np.clip(ae[:, None], lo, hi)                                 # AE inside interval
    before = rate * (split - lo)
    after = rate * ae_ratio * (hi - split)
    cum = np.concatenate([np.zeros((n, 1)), np.cumsum(before + after, axis=1)], axis=1)
    k = (cum[:, 1:] < draw[:, None]).sum(axis=1)                         # interval index
    out = np.full(n, np.inf)
    hit = k < lo.shape[1]
    r = np.flatnonzero(hit)
    kk = k[hit]
    need = draw[hit] - cum[r, kk]
    b = before[r, kk]
    r0, s = rate[r, kk], split[r, kk]
    t_first = lo[0, kk] + np.divide(need, r0, out=np.zeros_like(need), where=r0 > 0)
    t_second = s + np.divide(need - b, r0 * ae_ratio, out=np.zeros_like(need),
                             where=r0 * ae_ratio > 0)
    out[r] = np.where(need <= b, t_first, t_second)
    return out


def rescue_visits(sledai: np.ndarray, observed: np.ndarray, increase: int | None
                  ) -> np.ndarray:
    """(n, v) True from the first observed post-baseline visit with SLEDAI-2K ≥ baseline +
    ``increase`` (rescue therapy given there); all False when ``increase`` is None."""
    if increase is None:
        return np.zeros(sledai.shape, dtype=bool)
    hit = observed & (sledai - sledai[:, :1] >= increase)
    hit[:, 0] = False
    return np.logical_or.accumulate(hit, axis=1)


def last_observed(observed: np.ndarray, k: int) -> np.ndarray:
    """Index of each patient's last observed visit at or before visit ``k`` (0: baseline)."""
    seen = observed[:, : k + 1]
    return k - np.argmax(seen[:, ::-1], axis=1)


def impute_binary(status: np.ndarray, usable: np.ndarray, failure: np.ndarray, k: int,
                  rule: str) -> np.ndarray:
    """Binary outcome at visit ``k`` (float: 1, 0, NaN).

    ``status`` (n, v) is the response status computed at every visit, ``usable`` (n, v) where
    it was assessed, ``failure`` (n,) treatment failures (rescue by visit k: always 0).
    """
    if rule == "locf":
        j = last_observed(usable, k)
        value = np.where(j > 0, status[np.arange(status.shape[0]), j], 0.0)
    else:
        value = np.where(usable[:, k], status[:, k], 0.0 if rule == "non-responder"
                         else np.nan)
    return np.where(failure, 0.0, value).astype(float)


def impute_continuous(values: np.ndarray, usable: np.ndarray, k: int, rule: str,
                      baseline: np.ndarray, arm: np.ndarray | None,
                      rng: np.random.Generator | None) -> tuple[np.ndarray, np.ndarray | None]:
    """(value at visit k, imputations (IMPUTATIONS, n) or None) under ``rule``.

    ``values`` (n, v) are the analysed quantity at each visit (e.g. change from baseline;
    visit 0 holds its baseline value), ``usable`` (n, v) where it may be used.
    """
    observed = np.where(usable[:, k], values[:, k], np.nan)
    if rule == "observed":
        return observed, None
    post = usable.copy()
    post[:, 0] = True                                    # baseline anchors LOCF
    j = last_observed(post, k)
    locf = values[np.arange(values.shape[0]), j]
    if rule == "locf":
        return np.where(usable[:, k], values[:, k], locf), None
    if rng is None:
        raise ValueError("multiple imputation needs a random generator")
    arm = np.zeros(values.shape[0], dtype=int) if arm is None else arm
    draws = np.repeat(observed[None, :], IMPUTATIONS, axis=0)
    x = np.column_stack([np.ones_like(locf), baseline, locf])
    for a in np.unique(arm):
        fit = (arm == a) & np.isfinite(observed)
        miss = (arm == a) & ~np.isfinite(observed)
        if not miss.any():
            continue
        if fit.sum() <= x.shape[1]:                      # too few to fit: carry forward
            draws[:, miss] = locf[miss]
            continue
        xf, yf = x[fit], observed[fit]
        xtx_inv = np.linalg.pinv(xf.T @ xf)
        beta = xtx_inv @ xf.T @ yf
        df = fit.sum() - x.shape[1]
        ssr = float(((yf - xf @ beta) ** 2).sum())
        chol = np.linalg.cholesky(xtx_inv + 1e-12 * np.eye(x.shape[1]))
        for m in range(IMPUTATIONS):
            sigma2 = ssr / rng.chisquare(df)
            b = beta + np.sqrt(sigma2) * chol @ rng.standard_normal(x.shape[1])
            draws[m, miss] = x[miss] @ b + np.sqrt(sigma2) * rng.standard_normal(miss.sum())
    return draws.mean(axis=0), draws


def activity_multiplier(mode: str, beta: float, sledai: np.ndarray,
                        latent_activity: np.ndarray) -> np.ndarray | None:
    """exp(β (a − 1)) between consecutive visits (n, v − 1), or None for MCAR / β = 0.

    ``mar``: a = recorded SLEDAI-2K at the visit opening the interval ÷ baseline (at least
    1); ``mnar``: a = latent clinical activity at the visit closing it."""
    if mode == "mcar" or beta == 0.0:
        return None
    recorded = mode == "mar"
    a = sledai[:, :-1] / np.maximum(sledai[:, :1], 1) if recorded else latent_activity[:, 1:]
    return np.exp(beta * (a - 1.0))
