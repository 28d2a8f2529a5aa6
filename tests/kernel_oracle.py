"""The integration scheme of trialsim/model/kernel.py written plainly in numpy: the oracle
that the compiled kernel must equal to ~1e-10 (tests/test_kernel.py).

It follows the scheme as documented (symmetric splitting of 6-hour steps, 30-minute PK
sub-steps in the receptor piece, Treg driven by the mean signal of the adjacent receptor
half, the IL-2 sink of the second half at R and D extrapolated to the step's end, Padé(2,2)
logistic steps), vectorised over patients and
with none of the kernel's rewrites (blocks of lanes, shared divisions, the work array), so
an algebra slip in the kernel shows as a difference.
"""

from __future__ import annotations

import numpy as np

from trialsim.model import kernel

_P = {k: i for i, k in enumerate(kernel.POP_ENTRIES)}
_C = {k: i for i, k in enumerate(kernel.PAT_COLUMNS)}


def _pade_exp_neg(z: np.ndarray) -> np.ndarray:
    return (1 - z / 2 + z**2 / 12) / (1 + z / 2 + z**2 / 12)


def _logistic(x: np.ndarray, target: np.ndarray, rate: float, tau: float) -> np.ndarray:
    return target / (1.0 + (target / x - 1.0) * _pade_exp_neg(rate * target * tau))


def _relax(x, target, rate, tau):
    return target + (x - target) * np.exp(-rate * tau)


def _relax_mean(x, target, rate, tau):
    """The mean of the relaxation over [0, tau]."""
    return target + (x - target) * (1.0 - np.exp(-rate * tau)) / (rate * tau)


def run(arm, conc, pat, pop, soc_mid, domain_rate, sample_step):
    """Same arguments and results as :func:`trialsim.model.kernel.run`."""
    g = {k: pop[i] for k, i in _P.items()}
    c = {k: pat[:, i] for k, i in _C.items()}
    n, v = arm.size, sample_step.size
    n_steps, m = conc.shape[1], conc.shape[2]
    dt = g["dt"]
    h = dt / 2
    c_endo = c["c_endo"]
    occ_r0 = c_endo / (c_endo + g["ec50_r"])
    occ_k0 = c_endo / (c_endo + g["ec50_k"])
    arm_doses = conc.max(axis=2) > 0              # (arms, steps)

    S, D = occ_r0.copy(), np.zeros(n)
    R, K, F, H, P, A, X = (np.ones(n) for _ in range(7))
    Y = np.ones((n, domain_rate.size))
    peak, auc = np.zeros(n), np.zeros(n)
    r_max, k_max, f_min, h_min = np.ones(n), np.ones(n), np.ones(n), np.ones(n)
    out = np.empty((kernel.N_STATES, n, v))
    out_y = np.empty((n, v, domain_rate.size))

    def receptors(S, K, R, D, j, half):
        """S and K after the half step, and the mean of S over it."""
        sink = np.maximum(1.0 + g["treg_sink"] * (R - 1.0) + g["desens_sink"] * D, 0.2)
        on = arm_doses[arm, j]
        il2 = c_endo / sink
        occ_k = il2 / (il2 + g["ec50_k"])
        o_r = il2 / (il2 + g["ec50_r"])
        S_new = _relax(S, o_r, g["k_s"], h)
        S_mean = _relax_mean(S, o_r, g["k_s"], h)
        if on.any():
            sub = conc[arm[on], j, half * m // 2:(half + 1) * m // 2]      # (on, m/2)
            exo = c["exposure"][on, None] * sub
            il2_q = (exo + c_endo[on, None]) / sink[on, None]
            s = S[on]
            means = []
            for q in range(m // 2):
                o = il2_q[:, q] / (il2_q[:, q] + g["ec50_r"])
                means.append(_relax_mean(s, o, g["k_s"], dt / m))
                s = _relax(s, o, g["k_s"], dt / m)
            S_new[on] = s
            S_mean[on] = np.mean(means, axis=0)
            occ_k[on] = (il2_q / (il2_q + g["ec50_k"])).mean(axis=1)
            peak[on] = np.maximum(peak[on], exo.max(axis=1))
            auc[on] += exo.sum(axis=1) * (dt / m)
        target = 1.0 + g["effector_gain"] * (occ_k - occ_k0) / (1.0 - occ_k0)
        return S_new, _logistic(K, target, g["k_k"], h), S_mean

    def treg(R, S):
        d = (S - occ_r0) / (1.0 - occ_r0)
        gain = np.where(d > 0, c["treg_gain_up"], c["treg_gain"])   # host: g/φ above S0
        return _logistic(R, 1.0 + gain * d, g["k_r"], h)

    def helpers(F, H, X, R):
        ag = (1.0 - g["loop_gain"]) + g["loop_gain"] * X
        F = _relax(F, ag * (1 + c["s_f"]) / (1 + c["s_f"] * R), g["k_f"], h)
        H = _relax(H, ag * (1 + c["s_h"]) / (1 + c["s_h"] * R), g["k_h"], h)
        return F, H

    def tissue(X, F, H, A, K, j):
        drive = g["w_f"] * F + g["w_h"] * H + g["w_a"] * A + g["w_k"] * K
        return _relax(X, (1.0 - c["soc"] * soc_mid[j]) * drive, g["k_x"], h)

    for j in range(n_steps + 1):
        for col in np.flatnonzero(sample_step == j):
            for k, val in enumerate((S, D, R, K, F, H, P, A, X)):
                out[k, :, col] = val
            out_y[:, col] = Y
        if j == n_steps:
            break
        R0, D0 = R, D
        S, K, S_mean = receptors(S, K, R, D, j, 0)
        D = _relax(D, np.maximum(R - 1.0, 0.0), g["k_d"], h)
        R = treg(R, S_mean)
        F, H = helpers(F, H, X, R)
        P = _relax(P, F, g["k_p"], h)
        A = _relax(A, g["f_ll"] + (1 - g["f_ll"]) * P, g["k_a"], h)
        X = tissue(X, F, H, A, K, j)
        Y = _relax(Y, X[:, None], domain_rate, dt)
        X = tissue(X, F, H, A, K, j)
        A = _relax(A, g["f_ll"] + (1 - g["f_ll"]) * P, g["k_a"], h)
        P = _relax(P, F, g["k_p"], h)
        F, H = helpers(F, H, X, R)
        S, K, S_mean = receptors(S, K, R + (R - R0), D + (D - D0), j, 1)
        R = treg(R, S_mean)
        D = _relax(D, np.maximum(R - 1.0, 0.0), g["k_d"], h)
        r_max, k_max = np.maximum(r_max, R), np.maximum(k_max, K)
        f_min, h_min = np.minimum(f_min, F), np.minimum(h_min, H)
    return (out, out_y, np.column_stack([peak, auc]),
            np.column_stack([r_max, k_max, f_min, h_min]))
