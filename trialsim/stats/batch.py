"""Continuous and time-to-event analyses vectorised over many trials: power curves' fast path.

:mod:`trialsim.stats.continuous` and :mod:`trialsim.stats.survival` analyse one trial with
statsmodels (tens of milliseconds for a Cox or GEE fit); a power curve analyses hundreds of
thousands of trials. The functions here fit the *same* models to a stack of trials at once
(arrays of shape (trials, patients, …); a weight of 0 leaves a patient out) and
``tests/test_stats_batch.py`` checks them against the one-trial functions — hence against
statsmodels — to 1e-6 on fixed data:

* :func:`ancova` — OLS of value on arm, baseline and strata: estimate, SE, residual df;
* :func:`logistic` — the logistic regression of :func:`trialsim.stats.rates.logistic`, by
  Newton–Raphson;
* :func:`logrank` — the stratified log-rank statistic :math:`(O - E)/\\sqrt V`;
* :func:`cox` — stratified Cox regression with Breslow ties, by Newton–Raphson on the
  partial likelihood (risk-set sums as cumulative sums over the sorted times);
* :func:`gee` — the exchangeable GEE of :func:`trialsim.stats.continuous.gee` (moment
  estimators of scale and correlation exactly as statsmodels' ``Exchangeable``) with the
  Mancl–DeRouen bias-reduced sandwich.

A model that cannot be fitted in some trial (an empty arm, no events, separation) gives NaN
for that trial. Columns that are all zero in a trial (a stratum nobody is in) are dropped for
that trial, as the one-trial functions drop them.
"""

from __future__ import annotations

import numpy as np

_BIG = 15.0   # |coefficient| beyond this: separation / no events (as the one-trial functions)


def _inv(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Batched inverse; (inverse, ok) with NaN for singular matrices."""
    ok = np.isfinite(a).all(axis=(-2, -1))
    safe = np.where(ok[..., None, None], a, np.eye(a.shape[-1]))
    with np.errstate(all="ignore"):
        cond = np.linalg.cond(safe)
    ok &= cond < 1e12
    safe = np.where(ok[..., None, None], safe, np.eye(a.shape[-1]))
    return np.where(ok[..., None, None], np.linalg.inv(safe), np.nan), ok


def _drop_empty(x: np.ndarray, w: np.ndarray, keep_first: int) -> tuple[np.ndarray, np.ndarray]:
    """Columns of x (R, n, p) used by nobody with weight > 0 in a trial: (present (R, p))."""
    present = np.einsum("rn,rnp->rp", w, np.abs(x)) > 0
    present[:, :keep_first] = True
    return x * present[:, None, :], present


def design(arm: np.ndarray, strata: np.ndarray, baseline: np.ndarray | None,
           active: list[int], w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Intercept, arm dummies, baseline and a dummy per stratum except each trial's first
    present one (as :func:`trialsim.stats.continuous.ancova` and ``rates.logistic``);
    returns (x (R, n, p), present columns (R, p))."""
    cols = [np.ones(arm.shape)] + [(arm == j).astype(float) for j in active]
    if baseline is not None:
        cols.append(np.asarray(baseline, dtype=float))
    levels = np.unique(strata)
    sd = np.stack([(strata == s).astype(float) for s in levels], axis=-1)   # (R, n, S)
    here = np.einsum("rn,rns->rs", w, sd) > 0
    first = np.argmax(here, axis=1)
    sd[np.arange(sd.shape[0]), :, first] = 0.0
    x = np.concatenate([np.stack(cols, axis=-1), sd], axis=-1)
    return _drop_empty(x, w, 1)


def _fill(a: np.ndarray, present: np.ndarray) -> np.ndarray:
    """X'WX with 1 on the diagonal of absent columns (their coefficient is then 0)."""
    eye = np.eye(a.shape[-1])[None] * (~present)[:, None, :]
    return a + eye


def ols(y: np.ndarray, x: np.ndarray, w: np.ndarray, present: np.ndarray
        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted (0/1) least squares per trial: (beta (R, p), covariance (R, p, p), df (R,))."""
    y0 = np.where(w > 0, y, 0.0)
    xtx = _fill(np.einsum("rn,rnp,rnq->rpq", w, x, x), present)
    inv, ok = _inv(xtx)
    beta = np.einsum("rpq,rq->rp", inv, np.einsum("rn,rnp,rn->rp", w, x, y0))
    resid = (y0 - np.einsum("rnp,rp->rn", x, beta)) * w
    df = w.sum(axis=1) - present.sum(axis=1)
    with np.errstate(all="ignore"):
        s2 = (resid**2).sum(axis=1) / df
    bad = ~ok | (df < 1) | ~(s2 > 0)
    cov = np.where(bad[:, None, None], np.nan, s2[:, None, None] * inv)
    return np.where(bad[:, None], np.nan, beta), cov, df


def _arms_present(arm: np.ndarray, w: np.ndarray, groups: list[int]) -> np.ndarray:
    return np.all([((arm == j) & (w > 0)).any(axis=1) for j in groups], axis=0)


def ancova(value: np.ndarray, arm: np.ndarray, strata: np.ndarray,
           baseline: np.ndarray | None, active: list[int], control: int
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(estimate, SE) of each active arm (R, C) and residual df (R,)."""
    w = (~np.isnan(value) & np.isin(arm, [control, *active])).astype(float)
    if baseline is not None:
        w *= ~np.isnan(baseline)
        baseline = np.nan_to_num(baseline)
    x, present = design(arm, strata, baseline, active, w)
    beta, cov, df = ols(value, x, w, present)
    idx = np.arange(1, 1 + len(active))
    ok = _arms_present(arm, w, [control, *active])[:, None]
    se = np.sqrt(np.diagonal(cov, axis1=1, axis2=2)[:, idx])
    return np.where(ok, beta[:, idx], np.nan), np.where(ok, se, np.nan), df


def logistic(value: np.ndarray, arm: np.ndarray, strata: np.ndarray,
             baseline: np.ndarray | None, active: list[int], control: int,
             max_iter: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """(log odds ratio, SE) of each active arm (R, C), by Newton–Raphson."""
    w = (~np.isnan(value) & np.isin(arm, [control, *active])).astype(float)
    if baseline is not None:
        w *= ~np.isnan(baseline)
        baseline = np.nan_to_num(baseline)
    y = np.nan_to_num(value)
    x, present = design(arm, strata, baseline, active, w)
    beta = np.zeros(x.shape[::2])
    done = np.zeros(x.shape[0], dtype=bool)
    for _ in range(max_iter):
        eta = np.clip(np.einsum("rnp,rp->rn", x, beta), -50, 50)
        mu = 1.0 / (1.0 + np.exp(-eta))
        grad = np.einsum("rn,rnp->rp", w * (y - mu), x)
        hess = _fill(np.einsum("rn,rnp,rnq->rpq", w * mu * (1 - mu), x, x), present)
        inv, ok = _inv(hess)
        step = np.einsum("rpq,rq->rp", inv, grad)
        step = np.where(ok[:, None] & ~done[:, None], step, 0.0)
        beta = beta + step
        done |= np.abs(step).max(axis=1) < 1e-10
        if done.all():
            break
    eta = np.clip(np.einsum("rnp,rp->rn", x, beta), -50, 50)
    mu = 1.0 / (1.0 + np.exp(-eta))
    inv, ok = _inv(_fill(np.einsum("rn,rnp,rnq->rpq", w * mu * (1 - mu), x, x), present))
    idx = np.arange(1, 1 + len(active))
    est = beta[:, idx]
    se = np.sqrt(np.diagonal(inv, axis1=1, axis2=2)[:, idx])
    good = (ok & done & _arms_present(arm, w, [control, *active]))[:, None] & (
        np.abs(est) <= _BIG).all(axis=1, keepdims=True)
    return np.where(good, est, np.nan), np.where(good, se, np.nan)


def _sorted(time: np.ndarray, strata: np.ndarray, *others: np.ndarray):
    """Each trial sorted by stratum, then time descending; tie-group end and stratum start
    indices (for risk-set sums as cumulative sums)."""
    order = np.lexsort((-time, strata), axis=-1)
    t = np.take_along_axis(time, order, -1)
    s = np.take_along_axis(strata, order, -1)
    out = [np.take_along_axis(o, order if o.ndim == 2 else order[..., None], 1)
           for o in others]
    r, n = t.shape
    idx = np.broadcast_to(np.arange(n), (r, n))
    same_next = np.zeros((r, n), dtype=bool)
    same_next[:, :-1] = (t[:, 1:] == t[:, :-1]) & (s[:, 1:] == s[:, :-1])
    end = np.where(~same_next, idx, n)
    end = np.flip(np.minimum.accumulate(np.flip(end, -1), axis=-1), -1)
    start_s = np.ones((r, n), dtype=bool)
    start_s[:, 1:] = s[:, 1:] != s[:, :-1]
    sstart = np.maximum.accumulate(np.where(start_s, idx, 0), axis=-1)
    return t, s, end, sstart, out


def _risk(values: np.ndarray, end: np.ndarray, sstart: np.ndarray) -> np.ndarray:
    """Sum of ``values`` (R, n, …) over each position's risk set: the same stratum, time at
    least its own (sorted positions from the stratum's start to the end of its tie group)."""
    c = np.cumsum(values, axis=1)
    c0 = np.concatenate([np.zeros_like(c[:, :1]), c], axis=1)        # c0[i]: sum before i
    tail = (1,) * (values.ndim - 2)
    hi = np.take_along_axis(c0, (end + 1).reshape(end.shape + tail), 1)
    lo = np.take_along_axis(c0, sstart.reshape(sstart.shape + tail), 1)
    return hi - lo


def logrank(time: np.ndarray, event: np.ndarray, group: np.ndarray, strata: np.ndarray,
            include: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(O, E, V)`` of group 1 per trial (R,), patients with ``include`` only, stratified;
    the same sums as :func:`trialsim.stats.survival.logrank_components`."""
    inc = include.astype(float)
    t, s, end, sstart, (d, g, w) = _sorted(time, strata, event.astype(float) * inc,
                                           group.astype(float) * inc, inc)
    at_risk = _risk(w, end, sstart)
    at_risk1 = _risk(g, end, sstart)
    # events in each position's tie group: cumulative events up to the group end minus
    # those before the group start (the group starts after the previous group's end)
    c0 = np.concatenate([np.zeros_like(d[:, :1]), np.cumsum(d, axis=1)], axis=1)
    n = t.shape[1]
    same_prev = np.zeros_like(d, dtype=bool)
    same_prev[:, 1:] = (t[:, 1:] == t[:, :-1]) & (s[:, 1:] == s[:, :-1])
    idx = np.broadcast_to(np.arange(n), t.shape)
    gstart = np.maximum.accumulate(np.where(~same_prev, idx, 0), axis=1)
    d_tot = np.take_along_axis(c0, end + 1, 1) - np.take_along_axis(c0, gstart, 1)
    last = end == idx                                          # one position per tie group
    with np.errstate(all="ignore"):
        frac = np.where(at_risk > 0, at_risk1 / np.where(at_risk > 0, at_risk, 1), 0.0)
        e = np.where(last, d_tot * frac, 0.0).sum(axis=1)
        v_k = d_tot * frac * (1 - frac) * (at_risk - d_tot) / np.where(at_risk > 1,
                                                                       at_risk - 1, 1)
    v = np.where(last & (at_risk > 1), v_k, 0.0).sum(axis=1)
    o = (d * g).sum(axis=1)
    return o, e, v


def cox(time: np.ndarray, event: np.ndarray, x: np.ndarray, strata: np.ndarray,
        include: np.ndarray, max_iter: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """Stratified Cox regression, Breslow ties: (coefficients, SEs), each (R, p)."""
    inc = include.astype(float)
    t, s, end, sstart, (d, xs, w) = _sorted(time, strata, event.astype(float) * inc,
                                            x * inc[..., None], inc)
    r, n, p = xs.shape

    def score_info(beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ex = w * np.exp(np.clip(np.einsum("rnp,rp->rn", xs, beta), -50, 50))
        s0 = _risk(ex, end, sstart)
        s1 = _risk(ex[..., None] * xs, end, sstart)
        s2 = _risk(ex[..., None, None] * xs[..., :, None] * xs[..., None, :], end, sstart)
        with np.errstate(all="ignore"):
            m = s1 / s0[..., None]
            score = np.einsum("rn,rnp->rp", d, xs - np.nan_to_num(m))
            info = np.einsum("rn,rnpq->rpq", d, np.nan_to_num(
                s2 / s0[..., None, None] - m[..., :, None] * m[..., None, :]))
        return score, info

    beta = np.zeros((r, p))
    done = np.zeros(r, dtype=bool)
    for _ in range(max_iter):
        score, info = score_info(beta)
        inv, ok = _inv(info)
        step = np.where(ok[:, None] & ~done[:, None], np.einsum("rpq,rq->rp", inv, score), 0)
        beta = beta + step
        done |= (np.abs(step).max(axis=1) < 1e-10) | (np.abs(beta).max(axis=1) > 2 * _BIG)
        if done.all():
            break
    # the information at the final estimates (as statsmodels' standard errors), so a
    # trial's SEs do not depend on how many iterations the other trials of the stack took
    inv, ok = _inv(score_info(beta)[1])
    se = np.sqrt(np.diagonal(inv, axis1=1, axis2=2))
    good = (ok & done)[:, None] & (np.abs(beta) <= _BIG)
    return np.where(good, beta, np.nan), np.where(good, se, np.nan)


def gee(repeated: np.ndarray, arm: np.ndarray, strata: np.ndarray,
        baseline: np.ndarray | None, active: list[int], control: int,
        max_iter: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Exchangeable GEE with the bias-reduced sandwich (as ``continuous.gee``): (estimate,
    SE) of each active arm's effect at the last visit, (R, C)."""
    r, n, v = repeated.shape
    rows = np.isin(arm, [control, *active])
    if baseline is not None:
        rows &= ~np.isnan(baseline)
        baseline = np.nan_to_num(baseline)
    obs = (~np.isnan(repeated) & rows[..., None]).astype(float)        # (R, n, V)
    y = np.nan_to_num(repeated) * obs
    eye_v = np.eye(v)
    cols = [np.broadcast_to(eye_v[k], (r, n, v)) for k in range(v)]
    cols += [(arm == j)[..., None] * eye_v[k] for j in active for k in range(v)]
    if baseline is not None:
        cols.append(np.repeat(baseline[..., None], v, -1))
    # strata dummies, dropping each trial's first stratum present among observed rows
    seen = obs.any(axis=2)
    levels = np.unique(strata)
    here = np.stack([((strata == lev) & seen).any(axis=1) for lev in levels], axis=1)
    first = levels[np.argmax(here, axis=1)]
    cols += [np.repeat(((strata == lev) & (strata != first[:, None]))[..., None], v, -1)
             .astype(float) for lev in levels]
    x = np.stack(cols, axis=-1) * obs[..., None]                      # (R, n, V, p)
    present = x.any(axis=(1, 2))
    p_r = present.sum(axis=1)
    nobs = obs.sum(axis=(1, 2))
    m_i = obs.sum(axis=2)                                              # (R, n)
    pairs = (m_i * (m_i - 1) / 2).sum(axis=1)
    sx = x.sum(axis=2)                                                 # (R, n, p) = X_i'1
    xtx_raw = np.einsum("rnvp,rnvq->rpq", x, x, optimize=True)
    xtx = _fill(xtx_raw, present)
    xty = np.einsum("rnvp,rnv->rp", x, y)
    inv, ok = _inv(xtx)
    beta = np.einsum("rpq,rq->rp", inv, xty)                           # OLS start
    rho = np.zeros(r)
    for _ in range(max_iter):
        res = (y - np.einsum("rnvp,rp->rnv", x, beta)) * obs
        ssr = (res**2).sum(axis=2)
        with np.errstate(all="ignore"):
            scale = ssr.sum(axis=1) / (nobs - p_r)
            cross = ((res.sum(axis=2) ** 2 - ssr) / 2).sum(axis=1) / scale
            rho = cross / (pairs - p_r)
            c_i = rho[:, None] / (1 + (m_i - 1) * rho[:, None])            # (R, n)
        shrink = np.einsum("rn,rnp,rnq->rpq", c_i, sx, sx, optimize=True)
        a = _fill((xtx_raw - shrink) / (1 - rho)[:, None, None], present)
        b = (xty - np.einsum("rn,rnp,rn->rp", c_i, sx, y.sum(axis=2))) / (1 - rho)[:, None]
        inv, ok2 = _inv(a)
        new = np.einsum("rpq,rq->rp", inv, b)
        change = np.nanmax(np.abs(new - beta), axis=1)
        beta = np.where(ok2[:, None], new, np.nan)
        if np.all((change < 1e-11) | ~ok2):
            break
    res = (y - np.einsum("rnvp,rp->rnv", x, beta)) * obs
    # V_i^-1 = (I - c_i J) / (1 - rho) on the observed visits of patient i
    vinv = (eye_v - c_i[..., None, None] * obs[..., :, None] * obs[..., None, :])
    vinv = vinv / (1 - rho)[:, None, None, None] * obs[..., :, None] * obs[..., None, :]
    xb = x @ inv[:, None]                                              # X_i A^-1
    h = (xb @ np.swapaxes(x, -1, -2)) @ vinv                           # X_i A^-1 X_i' V_i^-1
    i_minus_h = eye_v - h * obs[..., :, None] * obs[..., None, :]
    adj = np.linalg.solve(i_minus_h, res[..., None])[..., 0] * obs
    u = (np.swapaxes(x, -1, -2) @ (vinv @ adj[..., None]))[..., 0]
    meat = np.einsum("rnp,rnq->rpq", u, u)
    cov = np.einsum("rpq,rqs,rst->rpt", inv, meat, inv)
    idx = [v + i * v + v - 1 for i in range(len(active))]
    est = beta[:, idx]
    se = np.sqrt(np.diagonal(cov, axis1=1, axis2=2)[:, idx])
    last_seen = np.all([((arm == j) & (obs[..., -1] > 0)).any(axis=1)
                        for j in [control, *active]], axis=0)
    good = (ok & ok2 & last_seen & np.isfinite(rho))[:, None] & np.isfinite(se) & (se > 0)
    return np.where(good, est, np.nan), np.where(good, se, np.nan)
