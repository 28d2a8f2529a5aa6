"""The vectorised analyses of trialsim.stats.batch against the one-trial analyses (hence
statsmodels), trial by trial, to 1e-6 on fixed data with missing values, several strata,
three arms and ties."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from trialsim.stats import batch, continuous, rates, survival
from trialsim.stats.endpoint_data import EndpointData

R, N = 12, 72
NAMES = ["placebo", "low", "high"]
ACTIVE = [1, 2]


def _layout(seed: int) -> tuple[np.random.Generator, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    arm = np.stack([rng.permutation(np.repeat([0, 1, 2], N // 3)) for _ in range(R)])
    strata = rng.integers(0, 3, (R, N))
    base = rng.normal(11, 3, (R, N))
    base[rng.random((R, N)) < 0.03] = np.nan
    return rng, arm, strata, base


def _se_from_ci(ci: tuple[float, float], q: float, log: bool = False) -> float:
    lo, hi = (np.log(ci[0]), np.log(ci[1])) if log else ci
    return (hi - lo) / (2 * q)


def test_ancova_batch() -> None:
    rng, arm, strata, base = _layout(1)
    y = rng.normal(-2 - 0.8 * arm + 0.2 * np.nan_to_num(base, nan=11), 3)
    y[rng.random((R, N)) < 0.1] = np.nan
    est, se, df = batch.ancova(y, arm, strata, base, ACTIVE, 0)
    for r in range(R):
        d = EndpointData("c", "continuous", y[r], baseline=base[r])
        raws, _ = continuous.ancova(d, arm[r], strata[r], NAMES, 0, 0.95)
        for i, raw in enumerate(raws):
            assert est[r, i] == pytest.approx(raw.estimate, abs=1e-9)
            q = stats.t.ppf(0.975, df[r])
            assert se[r, i] == pytest.approx(_se_from_ci(raw.ci, q), abs=1e-9)
            assert raw.df == df[r]


def test_logistic_batch() -> None:
    rng, arm, strata, base = _layout(2)
    eta = -0.8 + 0.5 * arm + 0.1 * (np.nan_to_num(base, nan=11) - 11)
    y = (rng.random((R, N)) < 1 / (1 + np.exp(-eta))).astype(float)
    y[rng.random((R, N)) < 0.05] = np.nan
    est, se = batch.logistic(y, arm, strata, base, ACTIVE, 0)
    z = stats.norm.ppf(0.975)
    for r in range(R):
        d = EndpointData("b", "binary", y[r], baseline=base[r])
        raws, _ = rates.logistic(d, arm[r], strata[r], NAMES, 0, 0.95)
        for i, raw in enumerate(raws):
            assert est[r, i] == pytest.approx(np.log(raw.estimate), abs=1e-6)
            assert se[r, i] == pytest.approx(_se_from_ci(raw.ci, z, log=True), abs=1e-6)


def _survival(seed: int) -> tuple[np.ndarray, ...]:
    rng, arm, strata, _ = _layout(seed)
    t = np.ceil(rng.exponential(120 * (1 + 0.4 * arm) * (1 + 0.3 * strata)))  # ties (days)
    e = t < 168
    return arm, strata, np.minimum(t, 168), e


def test_logrank_batch() -> None:
    arm, strata, t, e = _survival(3)
    for j in ACTIVE:
        o, ex, v = batch.logrank(t, e, arm == j, strata, np.isin(arm, [0, j]))
        for r in range(R):
            m = np.isin(arm[r], [0, j])
            ref = survival.logrank_components(t[r, m], e[r, m], (arm[r, m] == j).astype(int),
                                              strata[r, m])
            assert (o[r], ex[r], v[r]) == pytest.approx(ref, abs=1e-9)


def test_cox_batch() -> None:
    arm, strata, t, e = _survival(4)
    x = np.stack([(arm == j).astype(float) for j in ACTIVE], axis=-1)
    beta, se = batch.cox(t, e, x, strata, np.ones_like(t, dtype=bool))
    z = stats.norm.ppf(0.975)
    for r in range(R):
        d = EndpointData("t", "time-to-event", t[r], event=e[r])
        raws, _ = survival.cox(d, arm[r], strata[r], NAMES, 0, 0.95)
        for i, raw in enumerate(raws):
            assert beta[r, i] == pytest.approx(np.log(raw.estimate), abs=1e-6)
            assert se[r, i] == pytest.approx(_se_from_ci(raw.ci, z, log=True), abs=1e-6)


@pytest.mark.parametrize("missing", [0.0, 0.15])
def test_gee_batch(missing: float) -> None:
    rng, arm, strata, base = _layout(5)
    v = 3
    u = rng.normal(0, 2, (R, N, 1))
    rep = (-2 - 0.7 * arm[..., None] * np.linspace(0.3, 1, v)
           - 0.2 * (np.nan_to_num(base, nan=11)[..., None] - 11) + u
           + rng.normal(0, 2, (R, N, v)))
    rep[rng.random(rep.shape) < missing] = np.nan
    est, se = batch.gee(rep, arm, strata, base, ACTIVE, 0)
    z = stats.norm.ppf(0.975)
    for r in range(R):
        d = EndpointData("c", "continuous", rep[r, :, -1], baseline=base[r],
                         repeated=rep[r])
        raws, _ = continuous.gee(d, arm[r], strata[r], NAMES, 0, 0.95)
        for i, raw in enumerate(raws):
            assert est[r, i] == pytest.approx(raw.estimate, abs=1e-6)
            assert se[r, i] == pytest.approx(_se_from_ci(raw.ci, z), abs=1e-6)


def test_batch_degenerate_trials_are_nan() -> None:
    """An empty arm (ANCOVA) or no events at all (Cox) in one trial: NaN there only."""
    rng, arm, strata, base = _layout(6)
    y = rng.normal(size=(R, N))
    arm2 = arm.copy()
    arm2[0][arm2[0] == 1] = 2
    est, se, _ = batch.ancova(y, arm2, strata, base, ACTIVE, 0)
    assert np.isnan(est[0]).all() and np.isfinite(est[1:]).all()
    arm, strata, t, e = _survival(7)
    e = e.copy()
    e[0] = False
    x = np.stack([(arm == j).astype(float) for j in ACTIVE], axis=-1)
    beta, _ = batch.cox(t, e, x, strata, np.ones_like(t, dtype=bool))
    assert np.isnan(beta[0]).all() and np.isfinite(beta[1:]).all()
