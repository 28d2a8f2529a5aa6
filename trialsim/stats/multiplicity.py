"""Multiplicity: several arms against one control, and secondary endpoints in a fixed sequence.

A trial with ``m`` active arms tests ``m`` hypotheses on its primary endpoint (each arm
versus control); tested each at ``alpha`` the chance of at least one false claim under the
global null (the family-wise error, FWER) is up to ``1 - (1 - alpha)^m`` (0.14 for three
doses, 0.23 for five). The procedures here return *adjusted p-values*: reject hypothesis
``j`` when ``p_adjusted[j] < alpha``; each controls the FWER at ``alpha`` (strongly).

* ``"bonferroni"`` — ``min(1, m p_j)``.
* ``"holm"`` — step-down Bonferroni (Holm 1979, Scand J Stat 6:65): with ordered
  ``p_(1) <= … <= p_(m)``, ``p̃_(i) = max_{k<=i} min(1, (m - k + 1) p_(k))``.
* ``"hochberg"`` — step-up (Hochberg 1988, Biometrika 75:800):
  ``p̃_(i) = min_{k>=i} min(1, (m - k + 1) p_(k))``; valid when the test statistics are
  positively dependent, as comparisons with a shared control are.
* ``"dunnett"`` — single-step many-to-one (Dunnett 1955, J Am Stat Assoc 50:1096):
  ``p̃_j = P(max_i |T_i| >= |t_j|)`` (one-sided: ``P(max_i T_i >= t_j)``) under the joint
  null distribution of the comparisons' statistics, multivariate normal (or t with ``df``
  degrees of freedom) with correlation ``rho_ij = sqrt(lambda_i lambda_j)``,
  ``lambda_i = n_i / (n_i + n_0)``: the correlation the shared control induces between
  comparisons with equal variances. For a t-test on a pooled variance (and ANCOVA without
  covariates) this is Dunnett's exact test (it equals :func:`scipy.stats.dunnett`). For
  other analyses each comparison's two-sided p-value is turned into its normal score
  ``|t_j| = Phi^-1(1 - p_j/2)`` (t quantile for t-based analyses) and the same correlation
  is used: for binary endpoints this is the asymptotic Dunnett-type procedure for
  proportions of Piegorsch (1991, Biometrics 47:45), with the equal-variance correlation
  that holds under the global null. The multivariate integrals are computed by
  :func:`scipy.stats.multivariate_normal`/``multivariate_t`` (Genz's quasi-Monte-Carlo
  algorithm, seeded: reproducible, accurate to about 1e-5).
* ``"none"`` — unadjusted.

Bonferroni, Holm and Hochberg equal :func:`statsmodels.stats.multitest.multipletests`
(``"bonferroni"``, ``"holm"``, ``"simes-hochberg"``); they are written here vectorised over
leading axes because power curves adjust hundreds of thousands of trials at once.

**Fixed sequence** (serial gatekeeping; Maurer, Hothorn & Lehmacher 1995; Westfall &
Krishen 2001): endpoints are tested in a prespecified order, each endpoint's family of
comparisons with the procedure above at the full ``alpha``, and a family is tested only
when every hypothesis of every earlier family was rejected. Its adjusted p-values are
``max(own adjusted p, every adjusted p of earlier families)``
(:func:`fixed_sequence`), so "reject when ``p̃ < alpha``" is again the whole rule.

A NaN p-value (an analysis without an answer) never rejects and counts as ``p = 1`` when the
other hypotheses of its family are adjusted.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import numpy.typing as npt
from scipy import optimize, stats

METHODS = ("none", "bonferroni", "holm", "hochberg", "dunnett")
_SEED = 20240229   # fixed seed of the quasi-Monte-Carlo integration: reproducible results


def adjust(p: npt.ArrayLike, method: str) -> np.ndarray:
    """Adjusted p-values along the last axis for ``none``, ``bonferroni``, ``holm`` or
    ``hochberg`` (Dunnett needs statistics and sizes: :func:`dunnett_adjust`)."""
    pa = np.asarray(p, dtype=float)
    if method == "none":
        return pa.copy()
    if method not in ("bonferroni", "holm", "hochberg"):
        raise ValueError(f"method must be one of none, bonferroni, holm, hochberg "
                         f"(got {method!r})")
    m = pa.shape[-1]
    nan = np.isnan(pa)
    q = np.where(nan, 1.0, pa)
    if method == "bonferroni":
        out = np.minimum(1.0, m * q)
    else:
        order = np.argsort(q, axis=-1, kind="stable")
        s = np.take_along_axis(q, order, axis=-1)
        raw = np.minimum(1.0, s * np.arange(m, 0, -1))
        if method == "holm":
            adj = np.maximum.accumulate(raw, axis=-1)
        else:
            adj = np.flip(np.minimum.accumulate(np.flip(raw, -1), axis=-1), -1)
        out = np.empty_like(adj)
        np.put_along_axis(out, order, adj, axis=-1)
    return np.where(nan, np.nan, out)


def dunnett_correlation(n_arms: Sequence[float], n_control: float) -> np.ndarray:
    """``rho_ij = sqrt(lambda_i lambda_j)``, ``lambda_i = n_i / (n_i + n_0)``; 1 on the
    diagonal (see module docstring)."""
    n = np.asarray(n_arms, dtype=float)
    lam = n / (n + float(n_control))
    r = np.sqrt(np.outer(lam, lam))
    np.fill_diagonal(r, 1.0)
    return r


def _max_cdf(c: float, corr: np.ndarray, df: float, sided: int) -> float:
    """P(max_i |T_i| < c) (two-sided) or P(max_i T_i < c) (one-sided)."""
    m = corr.shape[0]
    upper = np.full(m, c)
    lower = -upper if sided == 2 else np.full(m, -np.inf)
    if m == 1:
        dist = stats.norm if not np.isfinite(df) else stats.t(df)
        return float(dist.cdf(c) - (dist.cdf(-c) if sided == 2 else 0.0))
    rng = np.random.default_rng(_SEED)
    if np.isfinite(df):
        return float(stats.multivariate_t(shape=corr, df=df).cdf(
            upper, lower_limit=lower, random_state=rng))
    return float(stats.multivariate_normal.cdf(upper, cov=corr, lower_limit=lower, rng=rng,
                                               abseps=1e-6, releps=1e-6, maxpts=100_000 * m))


def dunnett_adjust(statistic: npt.ArrayLike, n_arms: Sequence[float], n_control: float,
                   *, sided: int = 2, df: float = np.inf) -> np.ndarray:
    """Single-step Dunnett adjusted p-values of one family.

    ``statistic[j]``: comparison j's normal (or t, with ``df``) score; two-sided its
    absolute value is used, one-sided it must be oriented so that large values favour the
    arm. ``n_arms`` are the active arms' and ``n_control`` the control's analysed sizes.
    """
    t = np.asarray(statistic, dtype=float)
    corr = dunnett_correlation(n_arms, n_control)
    out = np.full(t.shape, np.nan)
    for j, tj in enumerate(t):
        if np.isnan(tj):
            continue
        c = abs(tj) if sided == 2 else tj
        out[j] = min(1.0, max(0.0, 1.0 - _max_cdf(c, corr, df, sided)))
    return out


@lru_cache(maxsize=256)
def _critical(lam: tuple[float, ...], alpha: float, sided: int, df: float) -> float:
    lam_a = np.asarray(lam)
    corr = np.sqrt(np.outer(lam_a, lam_a))
    np.fill_diagonal(corr, 1.0)
    return float(optimize.brentq(lambda c: 1.0 - _max_cdf(c, corr, df, sided) - alpha,
                                 0.0, 10.0, xtol=1e-7))


def dunnett_critical(n_arms: Sequence[float], n_control: float, alpha: float, *,
                     sided: int = 2, df: float = np.inf) -> float:
    """The critical value ``c`` with ``P(max |T| >= c) = alpha`` (one-sided: ``max T``):
    reject comparison j when its score reaches ``c`` — the decisions of
    :func:`dunnett_adjust` without integrating once per comparison (power curves).
    Cached by allocation (rounded to 1e-3)."""
    n = np.asarray(n_arms, dtype=float)
    lam = tuple(np.round(n / (n + float(n_control)), 3))
    return _critical(lam, float(alpha), int(sided), float(df))


def fixed_sequence(families: Sequence[npt.ArrayLike]) -> list[np.ndarray]:
    """Serial gatekeeping across families tested in order (see module docstring).

    ``families[k]`` are family k's adjusted p-values (already adjusted within the family),
    along the last axis; leading axes (e.g. replicates) are independent trials. Returns
    them raised to at least the largest adjusted p-value of every earlier family (NaN
    counts as 1: an earlier family without an answer closes the gate).
    """
    out: list[np.ndarray] = []
    gate: np.ndarray | float = 0.0
    for fam in families:
        a = np.asarray(fam, dtype=float)
        g = np.where(np.isnan(a), np.nan, np.maximum(a, np.asarray(gate)[..., None]))
        out.append(g)
        if a.shape[-1]:
            gate = np.maximum(gate, np.max(np.where(np.isnan(a), 1.0, g), axis=-1))
    return out
