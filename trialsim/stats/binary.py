"""Statistics of one simulated trial with a binary endpoint (e.g. SRI-4 response at week 24).

Responder status arrives here with non-responder imputation already applied. For every arm
we report the response rate with a Wilson score interval; for every non-control arm we
report the rate difference versus control with a Newcombe hybrid score interval and a
p-value from one of three tests:

* ``"chisq"`` -- Pearson chi-square on the 2x2 table, no continuity correction;
* ``"fisher"`` -- Fisher's exact conditional test;
* ``"cmh"`` -- Cochran-Mantel-Haenszel test across strata, no continuity correction.

The interval and test helpers are vectorised over arrays of tables so that Monte-Carlo
power estimation can analyse thousands of replicate trials in one call.

References
----------
Wilson EB (1927). Probable inference, the law of succession, and statistical inference.
    J Am Stat Assoc 22:209-212.
Newcombe RG (1998). Interval estimation for the difference between independent
    proportions: comparison of eleven methods. Stat Med 17:873-890 (method 10).
Cochran WG (1954). Some methods for strengthening the common chi-square tests.
    Biometrics 10:417-451.
Mantel N, Haenszel W (1959). Statistical aspects of the analysis of data from retrospective
    studies of disease. J Natl Cancer Inst 22:719-748.
Agresti A (2013). Categorical Data Analysis, 3rd ed., Wiley (ch. 3: Pearson chi-square and
    Fisher's exact test for two-way tables).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats

__all__ = [
    "ArmSummary", "BinaryAnalysis", "Comparison", "analyse_binary", "chisq_pvalue",
    "cmh_pvalue", "compare_arms", "fisher_pvalue", "newcombe_interval", "wilson_interval",
]  # fmt: skip

TESTS = ("chisq", "fisher", "cmh")


@dataclass(frozen=True)
class ArmSummary:
    """Response in one arm.

    ``ci95`` is the Wilson score interval at the ``level`` passed to :func:`analyse_binary`
    (95 % by default, hence the name). An empty arm (``n == 0``) has ``rate = 0.0`` and
    ``ci95 = (0.0, 1.0)`` so that the summary stays JSON-serialisable (no NaN).
    """

    name: str
    n: int
    responders: int
    rate: float
    ci95: tuple[float, float]


@dataclass(frozen=True)
class Comparison:
    """One active arm versus control.

    ``difference`` is ``rate(arm) - rate(control)``; ``ci95`` is Newcombe's hybrid score
    interval for it. ``test`` is one of ``"chisq"``, ``"fisher"``, ``"cmh"``. For a
    one-sided analysis ``p_value`` is for the alternative "arm better than control" and
    ``significant`` additionally requires ``difference > 0``.
    """

    arm: str
    control: str
    difference: float
    ci95: tuple[float, float]
    p_value: float
    test: str
    significant: bool


@dataclass(frozen=True)
class BinaryAnalysis:
    """All arm summaries (in ``arm_names`` order) and all comparisons versus control."""

    arms: tuple[ArmSummary, ...]
    comparisons: tuple[Comparison, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict: plain Python scalars, intervals as ``[lo, hi]`` lists."""
        return {
            "arms": [_plain(a) for a in self.arms],
            "comparisons": [_plain(c) for c in self.comparisons],
        }


def _plain(record: ArmSummary | Comparison) -> dict[str, Any]:
    # json cannot encode numpy scalars, and callers expect lists for intervals.
    out = {k: v.item() if isinstance(v, np.generic) else v for k, v in asdict(record).items()}
    out["ci95"] = [float(record.ci95[0]), float(record.ci95[1])]
    return out


# --------------------------------------------------------------------------- helpers


@lru_cache(maxsize=64)
def _z(level: float) -> float:
    # Cached: a power curve analyses hundreds of thousands of trials at the same level.
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1) (got {level})")
    return float(stats.norm.ppf(0.5 + level / 2.0))


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
    # An empty arm gets rate 0 rather than NaN; its interval (0, 1) already says "no data".
    return np.divide(x, n, out=np.zeros_like(x), where=n > 0)


# --------------------------------------------------------------------------- intervals


def wilson_interval(
    x: npt.ArrayLike, n: npt.ArrayLike, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    r"""Wilson score interval for a binomial proportion, vectorised over ``x`` and ``n``.

    With :math:`\hat p = x/n` and :math:`z = \Phi^{-1}(1/2 + \text{level}/2)`,

    .. math::
        \frac{\hat p + z^2/(2n) \pm z\sqrt{\hat p(1-\hat p)/n + z^2/(4n^2)}}{1 + z^2/n}

    (Wilson 1927; Newcombe 1998, Stat Med 17:857, method 3). ``n == 0`` gives ``(0, 1)``.
    The bounds are set exactly to 0 when ``x == 0`` and to 1 when ``x == n`` (the formula's
    values there, free of rounding), so ``lo <= x/n <= hi`` always holds.
    """
    z = _z(level)
    xa, na = _counts(x, n)
    if np.any(xa > na):
        raise ValueError("a responder count exceeds its number of patients")
    p = _rate(xa, na)
    safe_n = np.where(na > 0, na, 1.0)
    z2n = z * z / safe_n
    centre = p + z2n / 2.0
    half = z * np.sqrt(p * (1.0 - p) / safe_n + z2n / (4.0 * safe_n))
    lo = (centre - half) / (1.0 + z2n)
    hi = (centre + half) / (1.0 + z2n)
    lo = np.where((xa == 0) | (na == 0), 0.0, np.clip(lo, 0.0, 1.0))
    hi = np.where((xa == na) | (na == 0), 1.0, np.clip(hi, 0.0, 1.0))
    return lo, hi


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
    Bounds are clipped to [-1, 1]; an empty arm contributes rate 0 with interval (0, 1).
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


def chisq_pvalue(
    x1: npt.ArrayLike,
    n1: npt.ArrayLike,
    x0: npt.ArrayLike,
    n0: npt.ArrayLike,
    sided: int = 2,
) -> np.ndarray:
    r"""Pearson chi-square test of a 2x2 table without continuity correction, vectorised.

    Uses the equivalent signed statistic (Agresti 2013, ch. 3)

    .. math::
        z = \frac{\hat p_1 - \hat p_0}{\sqrt{\bar p(1-\bar p)(1/n_1 + 1/n_0)}},\qquad
        \bar p = \frac{x_1 + x_0}{n_1 + n_0},

    with :math:`z^2` equal to Pearson's :math:`X^2`. ``sided=2``: :math:`p = P(\chi^2_1 \ge
    z^2)`, identical to ``scipy.stats.chi2_contingency(..., correction=False)``.
    ``sided=1``: :math:`p = 1 - \Phi(z)` for H1: :math:`p_1 > p_0` (so the two-sided p is
    twice the smaller one-sided p). Degenerate tables -- no responders, all responders, or
    an empty arm -- have no information and get ``p = 1.0``.
    """
    _check_sided(sided)
    x1a, n1a, x0a, n0a = _tables(x1, n1, x0, n0)
    n = n1a + n0a
    ok = (n1a > 0) & (n0a > 0)
    pbar = np.divide(x1a + x0a, n, out=np.zeros_like(n), where=n > 0)
    inv = np.divide(n, n1a * n0a, out=np.zeros_like(n), where=ok)  # 1/n1 + 1/n0
    var = pbar * (1.0 - pbar) * inv
    ok &= var > 0
    diff = _rate(x1a, n1a) - _rate(x0a, n0a)
    z = np.divide(diff, np.sqrt(var), out=np.zeros_like(n), where=ok)
    p = stats.chi2.sf(z * z, 1) if sided == 2 else stats.norm.sf(z)
    return np.clip(np.where(ok, p, 1.0), 0.0, 1.0)


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
    repeat the same few hundred tables many times. Degenerate tables give ``p = 1.0``.
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
        pu[i] = stats.fisher_exact([[a, na - a], [b, nb - b]], alternative=alternative).pvalue
    return np.clip(pu[inverse.ravel()], 0.0, 1.0).reshape(shape)


def cmh_pvalue(
    x1: npt.ArrayLike,
    n1: npt.ArrayLike,
    x0: npt.ArrayLike,
    n0: npt.ArrayLike,
    sided: int = 2,
) -> float:
    r"""Cochran-Mantel-Haenszel test over the strata of one trial, no continuity correction.

    ``x1, n1, x0, n0`` are 1-D arrays indexed by stratum. In stratum :math:`k` with
    :math:`N_k = n_{1k} + n_{0k}` patients and :math:`m_k = x_{1k} + x_{0k}` responders,

    .. math::
        E_k = \frac{n_{1k} m_k}{N_k},\qquad
        V_k = \frac{n_{1k} n_{0k} m_k (N_k - m_k)}{N_k^2 (N_k - 1)},\qquad
        z = \frac{\sum_k (x_{1k} - E_k)}{\sqrt{\sum_k V_k}}

    (Cochran 1954; Mantel & Haenszel 1959). ``sided=2``: :math:`p = P(\chi^2_1 \ge
    z^2)`, matching statsmodels' ``StratifiedTable.test_null_odds(correction=False)``;
    ``sided=1``: :math:`p = 1 - \Phi(z)` for H1: arm better. Strata with :math:`N_k < 2`
    carry no conditional information (and would divide by zero) and are skipped; if
    :math:`\sum V_k = 0` the p-value is 1.0.
    """
    _check_sided(sided)
    x1a, n1a, x0a, n0a = (np.atleast_1d(a) for a in _tables(x1, n1, x0, n0))
    if x1a.ndim != 1:
        raise ValueError("cmh_pvalue takes 1-D arrays over the strata of one trial")
    keep = (n1a + n0a) >= 2
    x1a, n1a, x0a, n0a = x1a[keep], n1a[keep], x0a[keep], n0a[keep]
    big_n = n1a + n0a
    m = x1a + x0a
    expected = n1a * m / big_n
    var = n1a * n0a * m * (big_n - m) / (big_n**2 * (big_n - 1.0))
    total_var = float(var.sum())
    if total_var <= 0.0:
        return 1.0
    z = float((x1a - expected).sum()) / np.sqrt(total_var)
    p = stats.chi2.sf(z * z, 1) if sided == 2 else stats.norm.sf(z)
    return float(np.clip(p, 0.0, 1.0))


# --------------------------------------------------------------------------- one trial


def _validate(
    responder: np.ndarray,
    arm: np.ndarray,
    n_arms: int,
    control: int,
    test: str,
    alpha: float,
    sided: int,
    strata: np.ndarray | None,
) -> None:
    if responder.ndim != 1 or arm.shape != responder.shape:
        raise ValueError("responder and arm must be 1-D arrays of equal length")
    if not np.isin(responder, (0, 1)).all():
        raise ValueError("responder must be boolean (or 0/1)")
    if n_arms < 1:
        raise ValueError("arm_names must not be empty")
    if arm.size and (arm.min() < 0 or arm.max() >= n_arms or np.any(arm != np.round(arm))):
        raise ValueError(f"arm indices must be integers in [0, {n_arms})")
    if not 0 <= control < n_arms:
        raise ValueError(f"control must be an arm index in [0, {n_arms}) (got {control})")
    if test not in TESTS:
        raise ValueError(f"test must be one of {TESTS} (got {test!r})")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1) (got {alpha})")
    _check_sided(sided)
    if test == "cmh":
        if strata is None:
            raise ValueError('test "cmh" needs strata (one integer label per patient)')
        if strata.shape != responder.shape:
            raise ValueError("strata must have one label per patient")


def analyse_binary(
    responder: npt.NDArray[np.bool_],
    arm: npt.NDArray[np.integer],
    arm_names: Sequence[str],
    control: int,
    *,
    test: str = "chisq",
    alpha: float = 0.05,
    sided: int = 2,
    strata: npt.NDArray[np.integer] | None = None,
    level: float = 0.95,
) -> BinaryAnalysis:
    """Analyse one trial's binary endpoint: per-arm rates and each arm versus ``control``.

    ``responder[i]`` says whether patient ``i`` responded (imputation done upstream) and
    ``arm[i]`` is the index into ``arm_names`` of that patient's arm. Summaries follow
    ``arm_names`` order; comparisons follow it too, skipping ``control``.

    ``test`` selects :func:`chisq_pvalue`, :func:`fisher_pvalue` or :func:`cmh_pvalue`;
    ``"cmh"`` stratifies by ``strata`` (an integer label per patient, then required) and the
    other tests ignore ``strata``. With ``sided=2``, ``significant = p < alpha``; with
    ``sided=1`` the p-value is for "arm better than control" and ``significant = p < alpha
    and difference > 0``. ``level`` is the confidence level of the Wilson and Newcombe
    intervals.

    Raises ValueError on inconsistent shapes, out-of-range indices or parameters, or
    ``"cmh"`` without ``strata``.
    """
    resp = np.asarray(responder)
    arms = np.asarray(arm)
    strata_a = None if strata is None else np.asarray(strata)
    k = len(arm_names)
    _validate(resp, arms, k, control, test, alpha, sided, strata_a)
    _z(level)  # fail on a bad level before doing any work
    arms = arms.astype(np.int64)
    resp = resp.astype(bool)

    n = np.bincount(arms, minlength=k)
    x = np.bincount(arms, weights=resp, minlength=k).round().astype(np.int64)
    rate = _rate(x.astype(float), n.astype(float))
    lo, hi = wilson_interval(x, n, level)
    summaries = tuple(
        ArmSummary(str(name), int(n[j]), int(x[j]), float(rate[j]), (float(lo[j]), float(hi[j])))
        for j, name in enumerate(arm_names)
    )

    if test == "cmh":
        assert strata_a is not None  # guaranteed by _validate
        _, s = np.unique(strata_a, return_inverse=True)
        cell = s.ravel() * k + arms
        n_strata = int(s.max()) + 1 if s.size else 1
        xs = np.bincount(cell, weights=resp, minlength=n_strata * k).reshape(n_strata, k)
        ns = np.bincount(cell, minlength=n_strata * k).reshape(n_strata, k)
    else:
        xs, ns = x[None, :], n[None, :]
    p, significant = compare_arms(xs.round(), ns, control, test=test, alpha=alpha, sided=sided)
    comparisons = []
    c = control
    for i, j in enumerate(j for j in range(k) if j != c):
        dlo, dhi = newcombe_interval(x[j], n[j], x[c], n[c], level)
        comparisons.append(Comparison(
            str(arm_names[j]), str(arm_names[c]), float(rate[j] - rate[c]),
            (float(dlo), float(dhi)), float(p[i]), test, bool(significant[i])))
    return BinaryAnalysis(arms=summaries, comparisons=tuple(comparisons))


def compare_arms(
    x: npt.ArrayLike, n: npt.ArrayLike, control: int, *, test: str = "chisq",
    alpha: float = 0.05, sided: int = 2,
) -> tuple[np.ndarray, np.ndarray]:
    """Each arm versus ``control`` in many trials at once: ``(p_value, significant)``.

    ``x`` and ``n`` are responder and patient counts of shape ``(..., strata, arms)``; the
    result has shape ``(..., arms − 1)`` (non-control arms in order). ``chisq`` and
    ``fisher`` pool the strata; ``cmh`` stratifies (one :func:`cmh_pvalue` per trial and
    comparison, using only the two arms' patients). ``significant`` is ``p < alpha`` and,
    one-sided, also a positive difference — the same rule as :func:`analyse_binary`, which
    calls this function.
    """
    xa, na = np.asarray(x, dtype=float), np.asarray(n, dtype=float)
    if xa.shape != na.shape or xa.ndim < 2:
        raise ValueError("x and n must have equal shapes (..., strata, arms)")
    arms = [j for j in range(xa.shape[-1]) if j != control]
    xt, nt = xa.sum(axis=-2), na.sum(axis=-2)                        # (..., arms)
    rate = _rate(xt, nt)
    p = np.empty((*xt.shape[:-1], len(arms)))
    for i, j in enumerate(arms):
        args = (xt[..., j], nt[..., j], xt[..., control], nt[..., control], sided)
        if test == "chisq":
            p[..., i] = chisq_pvalue(*args)
        elif test == "fisher":
            p[..., i] = fisher_pvalue(*args)
        elif test == "cmh":
            flat = [a.reshape(-1, a.shape[-1]) for a in (xa[..., j], na[..., j],
                                                        xa[..., control], na[..., control])]
            p[..., i] = np.array([cmh_pvalue(*t, sided) for t in zip(*flat, strict=True)]
                                 ).reshape(xt.shape[:-1])
        else:
            raise ValueError(f"test must be one of {TESTS} (got {test!r})")
    diff = rate[..., arms] - rate[..., [control]]
    significant = (p < alpha) if sided == 2 else (p < alpha) & (diff > 0.0)
    return p, significant
