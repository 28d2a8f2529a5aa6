"""Binary-endpoint statistics vectorised over many trials: the fast path of power curves.

A power curve analyses hundreds of thousands of simulated trials; calling scipy or
statsmodels once per trial would dominate its run time. The functions here take arrays of
2x2 tables (or of stratified tables) and return intervals and p-values for all of them at
once. One trial's analysis uses the libraries themselves (:mod:`trialsim.stats.rates`), and
``tests/test_stats_binary.py`` checks every function here against scipy and statsmodels on
fixed and random tables, so both paths give the same answers:

* :func:`wilson_interval` — Wilson score interval (= statsmodels ``proportion_confint``,
  ``method="wilson"``);
* :func:`newcombe_interval` — Newcombe's hybrid score interval for a difference
  (= ``confint_proportions_2indep``, ``method="newcomb"``);
* :func:`chisq_pvalue` — Pearson chi-square, with or without Yates's correction
  (= :func:`scipy.stats.chi2_contingency`);
* :func:`fisher_pvalue` — Fisher's exact test (scipy, once per distinct table);
* :func:`cmh_pvalue`, :func:`cmh_test` — Cochran–Mantel–Haenszel over strata
  (= statsmodels ``StratifiedTable.test_null_odds(correction=False)``);
* :func:`mh_risk_difference` — Mantel–Haenszel common risk difference with Sato's variance
  (statsmodels has none; checked against Agresti 2013's worked example);
* :func:`compare_counts`, :func:`compare_arms` — every arm versus control in many trials.

Undefined answers are NaN, never placeholders: the rate of an empty arm, the interval of
an arm without patients, a chi-square or CMH statistic without variance (nobody, or
everybody, responded). NaN never counts as significant.

References
----------
Wilson EB (1927). J Am Stat Assoc 22:209-212.
Newcombe RG (1998). Stat Med 17:873-890 (method 10).
Yates F (1934). Contingency tables involving small numbers and the chi-square test.
    Suppl J R Stat Soc 1:217-235.
Cochran WG (1954). Biometrics 10:417-451. Mantel N, Haenszel W (1959). J Natl Cancer Inst
    22:719-748.
Greenland S, Robins JM (1985). Biometrics 41:55-68. Sato T (1989). Biometrics 45:1323-1324.
Agresti A (2013). Categorical Data Analysis, 3rd ed., Wiley (ch. 3 and 6).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt
from scipy import special, stats

__all__ = [
    "CountComparisons", "chisq_pvalue", "cmh_pvalue", "cmh_test", "compare_arms",
    "compare_counts", "fisher_pvalue", "mh_risk_difference", "newcombe_interval",
    "wilson_interval",
]  # fmt: skip

TESTS = ("chisq", "chisq-yates", "fisher", "cmh")


# --------------------------------------------------------------------------- helpers


@lru_cache(maxsize=64)
def _z(level: float) -> float:
    # Cached: a power curve analyses hundreds of thousands of trials at the same level.
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1) (got {level})")
    return float(stats.norm.ppf(0.5 + level / 2.0))


def _normal_tails(z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``chi2.sf(z^2, 1), norm.sf(z), norm.cdf(z)`` by the scipy.special functions those
    distribution objects call (same values; no per-call overhead of scipy.stats, which
    dominated the analysis of many small batches)."""
    return special.chdtrc(1, z * z), special.ndtr(-z), special.ndtr(z)


def _check_sided(sided: int) -> None:
    if sided not in (1, 2):
        raise ValueError(f"sided must be 1 or 2 (got {sided})")


def _counts(*arrays: npt.ArrayLike) -> list[np.ndarray]:
    """Broadcast count arrays to float and reject non-integral or negative values."""
    out = [np.asarray(a, dtype=float) for a in arrays]
    out = list(np.broadcast_arrays(*out))
    for a in out:
        if np.any(a < 0) or np.any(a != np.round(a)):
            raise ValueError("counts must be non-negative integers")
    return out


def _tables(*arrays: npt.ArrayLike) -> list[np.ndarray]:
    """Validated ``x1, n1, x0, n0`` count arrays of 2x2 tables, broadcast together."""
    x1, n1, x0, n0 = _counts(*arrays)
    if np.any(x1 > n1) or np.any(x0 > n0):
        raise ValueError("a responder count exceeds its number of patients")
    return [x1, n1, x0, n0]


def _rate(x: np.ndarray, n: np.ndarray) -> np.ndarray:
    """x / n, NaN for an empty arm (no data: no rate)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n > 0, x / np.where(n > 0, n, 1.0), np.nan)


# --------------------------------------------------------------------------- intervals


def wilson_interval(
    x: npt.ArrayLike, n: npt.ArrayLike, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    r"""Wilson score interval for a binomial proportion, vectorised over ``x`` and ``n``.

    With :math:`\hat p = x/n` and :math:`z = \Phi^{-1}(1/2 + \text{level}/2)`,

    .. math::
        \frac{\hat p + z^2/(2n) \pm z\sqrt{\hat p(1-\hat p)/n + z^2/(4n^2)}}{1 + z^2/n}

    (Wilson 1927; Newcombe 1998, Stat Med 17:857, method 3). ``n == 0`` gives NaN (no
    data). The bounds are set exactly to 0 when ``x == 0`` and to 1 when ``x == n`` (the
    formula's values there, free of rounding), so ``lo <= x/n <= hi`` always holds.
    """
    z = _z(level)
    xa, na = _counts(x, n)
    if np.any(xa > na):
        raise ValueError("a responder count exceeds its number of patients")
    p = np.nan_to_num(_rate(xa, na))
    safe_n = np.where(na > 0, na, 1.0)
    z2n = z * z / safe_n
    centre = p + z2n / 2.0
    half = z * np.sqrt(p * (1.0 - p) / safe_n + z2n / (4.0 * safe_n))
    lo = (centre - half) / (1.0 + z2n)
    hi = (centre + half) / (1.0 + z2n)
    lo = np.where(xa == 0, 0.0, np.clip(lo, 0.0, 1.0))
    hi = np.where(xa == na, 1.0, np.clip(hi, 0.0, 1.0))
    empty = na == 0
    return np.where(empty, np.nan, lo), np.where(empty, np.nan, hi)


def newcombe_interval(
    x1: npt.ArrayLike,
    n1: npt.ArrayLike,
    x0: npt.ArrayLike,
    n0: npt.ArrayLike,
    level: float = 0.95,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Newcombe's hybrid score interval for :math:`p_1 - p_0`, vectorised.

    With Wilson limits :math:`(l_i, u_i)` for each proportion and :math:`d = \hat p_1 - \hat p_0`
    (Newcombe 1998, Stat Med 17:873, method 10):

    .. math::
        L = d - \sqrt{(\hat p_1 - l_1)^2 + (u_0 - \hat p_0)^2},\qquad
        U = d + \sqrt{(u_1 - \hat p_1)^2 + (\hat p_0 - l_0)^2}.

    Example (a) of Newcombe's Table II, 56/70 vs 48/80, gives (0.0524, 0.3339).
    Bounds are clipped to [-1, 1]; an empty arm gives NaN.
    """
    x1a, n1a, x0a, n0a = _tables(x1, n1, x0, n0)
    l1, u1 = wilson_interval(x1a, n1a, level)
    l0, u0 = wilson_interval(x0a, n0a, level)
    p1 = _rate(x1a, n1a)
    p0 = _rate(x0a, n0a)
    d = p1 - p0
    lo = d - np.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2)
    hi = d + np.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2)
    return np.clip(lo, -1.0, 1.0), np.clip(hi, -1.0, 1.0)


# --------------------------------------------------------------------------- tests


def chisq_z(
    x1: npt.ArrayLike, n1: npt.ArrayLike, x0: npt.ArrayLike, n0: npt.ArrayLike,
    correction: bool = False,
) -> np.ndarray:
    r"""The signed root of Pearson's chi-square, positive when :math:`\hat p_1 > \hat p_0`.

    Without correction :math:`z = (\hat p_1 - \hat p_0)/\sqrt{\bar p(1-\bar p)(1/n_1 +
    1/n_0)}` (Agresti 2013, ch. 3), :math:`z^2 = X^2`. With Yates's correction
    (as :func:`scipy.stats.chi2_contingency` applies it) every cell's :math:`|O - E| =
    |x_1 n_0 - x_0 n_1| / N` is reduced by 1/2, but not below 0:
    :math:`X^2 = \max(|O - E| - 1/2, 0)^2 \, N^3 / (n_1 n_0 m (N - m))`. NaN for degenerate
    tables (an empty arm; nobody or everybody responded): the statistic is 0/0.
    """
    x1a, n1a, x0a, n0a = _tables(x1, n1, x0, n0)
    big = n1a + n0a
    m = x1a + x0a
    denom = n1a * n0a * m * (big - m)
    ok = denom > 0
    safe = np.where(ok, denom, 1.0)
    diff = x1a * n0a - x0a * n1a                               # N (O - E) of cell (1, 1)
    if correction:
        dev = np.maximum(np.abs(diff) / np.where(big > 0, big, 1.0) - 0.5, 0.0)
        x2 = dev**2 * big**3 / safe
    else:
        x2 = diff**2 * big / safe
    return np.where(ok, np.sign(diff) * np.sqrt(x2), np.nan)


def chisq_pvalue(
    x1: npt.ArrayLike,
    n1: npt.ArrayLike,
    x0: npt.ArrayLike,
    n0: npt.ArrayLike,
    sided: int = 2,
    correction: bool = False,
) -> np.ndarray:
    r"""Pearson chi-square test of 2x2 tables (``correction``: Yates's), vectorised.

    ``sided=2``: :math:`p = P(\chi^2_1 \ge X^2)`, identical to
    ``scipy.stats.chi2_contingency(..., correction=correction)``. ``sided=1``:
    :math:`p = 1 - \Phi(z)` for H1: :math:`p_1 > p_0`, with :math:`z` the signed root
    (:func:`chisq_z`), so the two-sided p is twice the smaller one-sided p. Degenerate
    tables -- no responders, all responders, or an empty arm -- give NaN (the statistic is
    undefined; scipy refuses such tables).
    """
    _check_sided(sided)
    z = chisq_z(x1, n1, x0, n0, correction)
    p = stats.chi2.sf(z * z, 1) if sided == 2 else stats.norm.sf(z)
    return np.clip(p, 0.0, 1.0)


def fisher_pvalue(
    x1: npt.ArrayLike,
    n1: npt.ArrayLike,
    x0: npt.ArrayLike,
    n0: npt.ArrayLike,
    sided: int = 2,
) -> np.ndarray:
    """Fisher's exact conditional test of the 2x2 table ``[[x1, n1-x1], [x0, n0-x0]]``.

    Delegates to :func:`scipy.stats.fisher_exact` (Agresti 2013, ch. 3): ``sided=2``
    sums the hypergeometric probabilities of all tables no more likely than the observed
    one; ``sided=1`` is ``alternative="greater"``, i.e. H1: odds ratio > 1, :math:`p_1 >
    p_0`. Vectorised by evaluating each distinct table once, because Monte-Carlo replicates
    repeat the same few hundred tables many times. A table with fixed margins has one
    possible outcome and p = 1 (scipy's answer); an empty arm gives NaN.
    """
    _check_sided(sided)
    x1a, n1a, x0a, n0a = _tables(x1, n1, x0, n0)
    shape = x1a.shape
    tables = np.stack([a.ravel() for a in (x1a, n1a, x0a, n0a)], axis=1).astype(np.int64)
    if tables.shape[0] == 0:
        return np.ones(shape)
    uniq, inverse = np.unique(tables, axis=0, return_inverse=True)
    alternative = "two-sided" if sided == 2 else "greater"
    pu = np.empty(uniq.shape[0])
    for i, (a, na, b, nb) in enumerate(uniq):
        pu[i] = (np.nan if na == 0 or nb == 0 else
                 stats.fisher_exact([[a, na - a], [b, nb - b]], alternative=alternative).pvalue)
    return np.clip(pu[inverse.ravel()], 0.0, 1.0).reshape(shape)


def cmh_test(
    x1: npt.ArrayLike, n1: npt.ArrayLike, x0: npt.ArrayLike, n0: npt.ArrayLike,
) -> np.ndarray:
    r"""Signed Cochran-Mantel-Haenszel statistic over the last axis (strata), vectorised.

    In stratum :math:`k` with :math:`N_k = n_{1k} + n_{0k}` patients and :math:`m_k =
    x_{1k} + x_{0k}` responders,

    .. math::
        E_k = \frac{n_{1k} m_k}{N_k},\qquad
        V_k = \frac{n_{1k} n_{0k} m_k (N_k - m_k)}{N_k^2 (N_k - 1)},\qquad
        z = \frac{\sum_k (x_{1k} - E_k)}{\sqrt{\sum_k V_k}}

    (Cochran 1954; Mantel & Haenszel 1959), no continuity correction; :math:`z^2` is
    statsmodels' ``StratifiedTable.test_null_odds(correction=False)`` statistic. Strata with
    :math:`N_k < 2` carry no conditional information and are skipped; NaN when
    :math:`\sum V_k = 0` (no stratum has both responders and non-responders).
    """
    x1a, n1a, x0a, n0a = _tables(x1, n1, x0, n0)
    big = n1a + n0a
    keep = big >= 2
    safe = np.where(keep, big, 2.0)
    m = x1a + x0a
    expected = np.where(keep, n1a * m / safe, 0.0)
    var = np.where(keep, n1a * n0a * m * (big - m) / (safe**2 * (safe - 1.0)), 0.0)
    total = var.sum(axis=-1)
    dev = np.where(keep, x1a - expected, 0.0).sum(axis=-1)
    ok = total > 0
    return np.where(ok, dev / np.sqrt(np.where(ok, total, 1.0)), np.nan)


def cmh_pvalue(
    x1: npt.ArrayLike,
    n1: npt.ArrayLike,
    x0: npt.ArrayLike,
    n0: npt.ArrayLike,
    sided: int = 2,
) -> float:
    r"""Cochran-Mantel-Haenszel test over the strata of one trial (:func:`cmh_test`).

    ``x1, n1, x0, n0`` are 1-D arrays indexed by stratum. ``sided=2``: :math:`p =
    P(\chi^2_1 \ge z^2)`, matching statsmodels' ``StratifiedTable.test_null_odds(
    correction=False)``; ``sided=1``: :math:`p = 1 - \Phi(z)` for H1: arm better. NaN when
    no stratum has any variance.
    """
    _check_sided(sided)
    arrays = [np.atleast_1d(np.asarray(a, dtype=float)) for a in (x1, n1, x0, n0)]
    if arrays[0].ndim != 1:
        raise ValueError("cmh_pvalue takes 1-D arrays over the strata of one trial")
    z = float(cmh_test(*arrays))
    p = stats.chi2.sf(z * z, 1) if sided == 2 else stats.norm.sf(z)
    return float(np.clip(p, 0.0, 1.0))


def mh_risk_difference(
    x1: npt.ArrayLike, n1: npt.ArrayLike, x0: npt.ArrayLike, n0: npt.ArrayLike,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Mantel–Haenszel common risk difference and Sato's variance over the last axis.

    .. math::
        \hat\delta = \frac{\sum_k (x_{1k} n_{0k} - x_{0k} n_{1k}) / N_k}
                          {\sum_k n_{1k} n_{0k} / N_k},\qquad
        \widehat{\mathrm{Var}} = \frac{\hat\delta \sum_k P_k + \sum_k Q_k}
                                      {(\sum_k n_{1k} n_{0k} / N_k)^2},

    :math:`P_k = (n_{1k}^2 x_{0k} - n_{0k}^2 x_{1k} + n_{1k} n_{0k} (n_{0k} - n_{1k}) / 2)
    / N_k^2`, :math:`Q_k = (x_{1k} (n_{0k} - x_{0k}) + x_{0k} (n_{1k} - x_{1k})) / (2 N_k)`
    (Greenland & Robins 1985; Sato 1989; the estimator of SAS PROC FREQ's common risk
    difference). Agresti (2013, Categorical Data Analysis, 3rd ed., pp. 226 and 231) gives
    0.130 with SE 0.050 for an eight-centre clinical trial (a test reproduces it). Strata
    lacking either arm carry no weight; NaN when no stratum has both arms.
    """
    x1a, n1a, x0a, n0a = _tables(x1, n1, x0, n0)
    big = n1a + n0a
    safe = np.where(big > 0, big, 1.0)
    w = (n1a * n0a / safe).sum(axis=-1)
    ok = w > 0
    sw = np.where(ok, w, 1.0)
    d = ((x1a * n0a - x0a * n1a) / safe).sum(axis=-1) / sw
    p_k = ((n1a**2 * x0a - n0a**2 * x1a + n1a * n0a * (n0a - n1a) / 2.0) / safe**2).sum(-1)
    q_k = ((x1a * (n0a - x0a) + x0a * (n1a - x1a)) / (2.0 * safe)).sum(-1)
    var = (d * p_k + q_k) / sw**2
    return np.where(ok, d, np.nan), np.where(ok, var, np.nan)


# --------------------------------------------------------------------------- many trials


@dataclass(frozen=True)
class CountComparisons:
    """Every active arm versus control in many trials, shape ``(..., arms - 1)``.

    ``p_two``: two-sided p-values; ``p_greater`` / ``p_less``: one-sided for "arm rate
    higher" / "lower";
    ``estimate``: the difference in rates (Mantel–Haenszel for ``cmh``); ``n_arm`` /
    ``n_control``: patients per comparison (for Dunnett's correlation); ``rate``: each
    arm's pooled rate, shape ``(..., arms)``.
    """

    p_two: np.ndarray
    p_greater: np.ndarray
    p_less: np.ndarray
    estimate: np.ndarray
    n_arm: np.ndarray
    n_control: np.ndarray
    rate: np.ndarray


def compare_counts(x: npt.ArrayLike, n: npt.ArrayLike, control: int, *,
                   test: str = "chisq") -> CountComparisons:
    """Each arm versus ``control`` in many trials at once (see :class:`CountComparisons`).

    ``x`` and ``n`` are responder and patient counts of shape ``(..., strata, arms)``.
    ``chisq``, ``chisq-yates`` and ``fisher`` pool the strata; ``cmh`` stratifies, using
    only the two arms' patients.
    """
    if test not in TESTS:
        raise ValueError(f"test must be one of {TESTS} (got {test!r})")
    xa, na = np.asarray(x, dtype=float), np.asarray(n, dtype=float)
    if xa.shape != na.shape or xa.ndim < 2:
        raise ValueError("x and n must have equal shapes (..., strata, arms)")
    arms = [j for j in range(xa.shape[-1]) if j != control]
    xt, nt = xa.sum(axis=-2), na.sum(axis=-2)                        # (..., arms)
    rate = _rate(xt, nt)
    shape = (*xt.shape[:-1], len(arms))
    p2, pg, pl, est = (np.empty(shape) for _ in range(4))
    for i, j in enumerate(arms):
        a = (xt[..., j], nt[..., j], xt[..., control], nt[..., control])
        est[..., i] = rate[..., j] - rate[..., control]
        if test in ("chisq", "chisq-yates"):
            z = chisq_z(*a, correction=test == "chisq-yates")
            p2[..., i], pg[..., i], pl[..., i] = _normal_tails(z)
        elif test == "fisher":
            p2[..., i], pg[..., i] = fisher_pvalue(*a, 2), fisher_pvalue(*a, 1)
            pl[..., i] = fisher_pvalue(a[2], a[3], a[0], a[1], 1)     # control greater
        else:
            s = (xa[..., j], na[..., j], xa[..., control], na[..., control])  # (..., strata)
            z = cmh_test(*s)
            p2[..., i], pg[..., i], pl[..., i] = _normal_tails(z)
            est[..., i] = mh_risk_difference(*s)[0]
    return CountComparisons(np.clip(p2, 0, 1), np.clip(pg, 0, 1), np.clip(pl, 0, 1), est,
                            nt[..., arms], nt[..., [control]].repeat(len(arms), -1), rate)


def compare_arms(
    x: npt.ArrayLike, n: npt.ArrayLike, control: int, *, test: str = "chisq",
    alpha: float = 0.05, sided: int = 2,
) -> tuple[np.ndarray, np.ndarray]:
    """Each arm versus ``control`` in many trials, unadjusted: ``(p_value, significant)``.

    Shapes as :func:`compare_counts`. ``significant`` is ``p < alpha`` and, one-sided, also
    a positive difference (NaN p-values are never significant). Multiplicity adjustment is
    the caller's (:mod:`trialsim.stats.multiplicity`).
    """
    _check_sided(sided)
    c = compare_counts(x, n, control, test=test)
    p = c.p_two if sided == 2 else c.p_greater
    with np.errstate(invalid="ignore"):
        significant = (p < alpha) if sided == 2 else (p < alpha) & (c.estimate > 0.0)
    return p, significant
