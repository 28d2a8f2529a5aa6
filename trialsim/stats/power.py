r"""Analytic power and sample size for comparing two proportions.

The formulas are the large-sample normal approximation to the Pearson chi-square (two-sample
z) test without continuity correction, the test :func:`trialsim.stats.binary.chisq_pvalue`
performs, so they are the natural yardstick for Monte-Carlo power estimates.

With :math:`q_i = 1 - p_i`, the sample-size-weighted pooled rate
:math:`\bar p = (n_1 p_1 + n_0 p_0)/(n_1 + n_0)`, :math:`\bar q = 1 - \bar p` and
:math:`z_c = \Phi^{-1}(1 - \alpha/s)` for an :math:`s`-sided test,

.. math::
    \text{power} = \Phi\left(
        \frac{\delta - z_c \sqrt{\bar p \bar q (1/n_1 + 1/n_0)}}
             {\sqrt{p_1 q_1 / n_1 + p_0 q_0 / n_0}}\right)

where the numerator uses the pooled variance (the test's null variance) and the denominator
the unpooled variance (the statistic's variance under H1). For a two-sided test
:math:`\delta = |p_1 - p_0|` and only the tail in the direction of the true difference is
counted (rejections in the wrong direction are ignored); for a one-sided test of
H1: :math:`p_1 > p_0`, :math:`\delta = p_1 - p_0`.

For :math:`n_1 = n_0 = n` this is, term by term, the default (``strict = FALSE``) formula of
R's ``stats::power.prop.test``,
``pnorm((sqrt(n)*abs(p1-p2) - qnorm(sig.level/tside, lower.tail=FALSE) *
sqrt((p1+p2)*(1-(p1+p2)/2))) / sqrt(p1*(1-p1) + p2*(1-p2)))``, since
:math:`(p_1+p_2)(1-(p_1+p_2)/2) = 2\bar p\bar q`. For unequal groups it is the
uncorrected formula of Fleiss, Tytun & Ury (1980) with the pooled rate weighted by group
size.

References
----------
Fleiss JL, Tytun A, Ury HK (1980). A simple approximation for calculating sample sizes for
    comparing independent proportions. Biometrics 36:343-346.
Fleiss JL, Levin B, Paik MC (2003). Statistical Methods for Rates and Proportions, 3rd ed.,
    Wiley, ch. 4 (sample sizes for comparing two proportions).
R Core Team. ``power.prop.test`` in package stats (R >= 3.3, ``strict = FALSE``).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from scipy import stats

__all__ = ["exact_power_two_proportions", "mc_standard_error", "power_two_proportions",
           "sample_size_two_proportions"]

# Sample-size search gives up beyond this many patients in the active arm: a design that
# needs more is not a trial, and the scan (vectorised in chunks) would take seconds.
MAX_N = 100_000_000


def _check(p1: float, p0: float, alpha: float, sided: int) -> None:
    for name, p in (("p1", p1), ("p0", p0)):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{name} must be in [0, 1] (got {p})")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1) (got {alpha})")
    if sided not in (1, 2):
        raise ValueError(f"sided must be 1 or 2 (got {sided})")


def _power(
    p1: float,
    p0: float,
    n1: npt.ArrayLike,
    n0: npt.ArrayLike,
    alpha: float,
    sided: int,
    strict: bool,
) -> np.ndarray:
    """Vectorised module-level formula over group sizes (see the module docstring)."""
    n1a = np.asarray(n1, dtype=float)
    n0a = np.asarray(n0, dtype=float)
    z_crit = stats.norm.ppf(1.0 - alpha / sided)
    delta = abs(p1 - p0) if sided == 2 else p1 - p0
    pbar = (n1a * p1 + n0a * p0) / (n1a + n0a)
    sd0 = np.sqrt(pbar * (1.0 - pbar) * (1.0 / n1a + 1.0 / n0a))
    sd1 = np.sqrt(p1 * (1.0 - p1) / n1a + p0 * (1.0 - p0) / n0a)
    num = delta - z_crit * sd0
    safe_sd1 = np.where(sd1 > 0, sd1, 1.0)
    # sd1 == 0 only when both rates are 0 or 1: the outcome is then deterministic, so the
    # test rejects with certainty iff the (fixed) statistic beats the critical value.
    power = np.where(sd1 > 0, stats.norm.cdf(num / safe_sd1), (num > 0).astype(float))
    if strict and sided == 2:
        # Rejection in the direction opposite to the true difference.
        far = np.where(sd1 > 0, stats.norm.sf((delta + z_crit * sd0) / safe_sd1), 0.0)
        power = power + far
    return np.clip(power, 0.0, 1.0)


def power_two_proportions(
    p1: float,
    p0: float,
    n1: int,
    n0: int,
    alpha: float = 0.05,
    sided: int = 2,
    *,
    strict: bool = False,
) -> float:
    r"""Approximate power of the uncorrected chi-square test of :math:`p_1` vs :math:`p_0`.

    Implements (module docstring; Fleiss, Tytun & Ury 1980; Fleiss, Levin & Paik 2003 ch. 4)

    .. math::
        \Phi\left(\frac{\delta - z_{1-\alpha/s}\sqrt{\bar p\bar q(1/n_1+1/n_0)}}
                       {\sqrt{p_1q_1/n_1 + p_0q_0/n_0}}\right),\qquad
        \bar p = \frac{n_1p_1 + n_0p_0}{n_1+n_0},

    with :math:`\delta = |p_1-p_0|` for ``sided=2`` and :math:`\delta = p_1-p_0` for
    ``sided=1`` (H1: :math:`p_1 > p_0`, arm 1 active). With ``n1 == n0`` and ``sided=2`` this
    reproduces R's ``power.prop.test`` (``strict = FALSE``: one tail only), e.g.
    ``power.prop.test(n=50, p1=0.5, p2=0.75)`` gives 0.7401659. ``strict=True`` adds the
    opposite tail, like R's ``strict = TRUE``.
    """
    _check(p1, p0, alpha, sided)
    if n1 < 1 or n0 < 1:
        raise ValueError(f"group sizes must be >= 1 (got n1={n1}, n0={n0})")
    return float(_power(p1, p0, n1, n0, alpha, sided, strict))


def sample_size_two_proportions(
    p1: float,
    p0: float,
    power: float = 0.8,
    alpha: float = 0.05,
    sided: int = 2,
    ratio: float = 1.0,
) -> tuple[int, int]:
    """Smallest group sizes ``(n1, n0)`` whose approximate power reaches ``power``.

    Convention: ``n1`` is the active arm (rate ``p1``) and the control arm has
    ``n0 = ceil(ratio * n1)`` patients. ``n1`` is the smallest integer >= 1 with
    ``power_two_proportions(p1, p0, n1, n0, alpha, sided) >= power``, found by scanning
    ``n1 = 1, 2, ...`` upward (vectorised, in growing chunks) -- an exhaustive scan rather
    than rounding up a closed-form solution, because rounding ``n0`` up makes power a
    slightly irregular function of ``n1``.

    For ``ratio = 1`` and ``sided = 2`` this is the ceiling of R's ``power.prop.test`` ``n``;
    e.g. ``power.prop.test(p1=0.5, p2=0.75, power=0.9)`` gives n = 76.7 and this returns
    ``(77, 77)``.

    Raises ValueError if the target is unreachable: equal rates, a one-sided test with
    ``p1 <= p0``, or more than ``MAX_N`` patients per arm needed.
    """
    _check(p1, p0, alpha, sided)
    if not 0.0 < power < 1.0:
        raise ValueError(f"power must be in (0, 1) (got {power})")
    if not (ratio > 0.0 and math.isfinite(ratio)):
        raise ValueError(f"ratio must be a positive number (got {ratio})")
    if p1 == p0 or (sided == 1 and p1 < p0):
        raise ValueError(
            f"no sample size gives power {power}: the {sided}-sided test has no power "
            f"beyond alpha when p1={p1}, p0={p0}"
        )
    start, size = 1, 1024
    while start <= MAX_N:
        n1 = np.arange(start, min(start + size, MAX_N + 1), dtype=np.int64)
        n0 = np.ceil(ratio * n1)
        hit = np.flatnonzero(_power(p1, p0, n1, n0, alpha, sided, False) >= power)
        if hit.size:
            best = int(n1[hit[0]])
            return best, math.ceil(ratio * best)
        start += size
        size = min(size * 2, 1 << 20)  # cap the chunk so memory stays small
    raise ValueError(f"power {power} needs more than {MAX_N} patients in the active arm")


def exact_power_two_proportions(
    p1: float, p0: float, n1: int, n0: int, alpha: float = 0.05, sided: int = 2,
    test: str = "chisq",
) -> float:
    r"""Exact power of a 2×2 test: the sum over all :math:`(n_1+1)(n_0+1)` outcomes.

    .. math::
        \sum_{x_1=0}^{n_1}\sum_{x_0=0}^{n_0} \binom{n_1}{x_1}p_1^{x_1}q_1^{n_1-x_1}
        \binom{n_0}{x_0}p_0^{x_0}q_0^{n_0-x_0}\,\mathbb 1[\text{test rejects at }(x_1, x_0)]

    with the rejection rule of :func:`trialsim.stats.binary.compare_arms` (``p < alpha``;
    one-sided also a positive difference). The yardstick for simulated power of a
    fixed-rates design without dropout or strata: no normal approximation involved.
    """
    from trialsim.stats.binary import compare_arms

    _check(p1, p0, alpha, sided)
    x1, x0 = np.meshgrid(np.arange(n1 + 1), np.arange(n0 + 1), indexing="ij")
    x = np.stack([x0, x1], axis=-1)[..., None, :]                  # (n1+1, n0+1, 1, 2)
    n = np.broadcast_to(np.array([n0, n1]), x.shape)
    _, reject = compare_arms(x, n, 0, test=test, alpha=alpha, sided=sided)
    weight = np.outer(stats.binom.pmf(np.arange(n1 + 1), n1, p1),
                      stats.binom.pmf(np.arange(n0 + 1), n0, p0))
    return float((weight * reject[..., 0]).sum())


def mc_standard_error(p: float, replicates: int) -> float:
    r"""Monte-Carlo standard error of an estimated probability: :math:`\sqrt{p(1-p)/R}`.

    This is the binomial standard error of a proportion estimated from ``replicates``
    independent simulated trials (e.g. empirical power or type I error).
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1] (got {p})")
    if replicates < 1:
        raise ValueError(f"replicates must be >= 1 (got {replicates})")
    return math.sqrt(p * (1.0 - p) / replicates)
