r"""The compiled integrator of the immune-balance model (numba).

:func:`trialsim.model.dynamics.simulate` prepares the per-arm plasma curves and the
per-patient constants and calls :func:`run`; this module holds only the numerics. The
equations are in the docstring of :mod:`trialsim.model.dynamics`.

**Scheme**: second-order operator splitting, step ``dt`` = 6 h, half step ``h = dt/2``.
The vector field is split into pieces, each with an exact (or near-exact) flow while the
other states are held fixed:

* the receptor piece ``[S, K]`` carries the clock. Over its half step it walks the
  30-minute PK sub-steps, relaxing ``S`` exactly towards each sub-step's αβγ occupancy
  (piecewise-constant input), and moves ``K`` by the logistic step towards the target of
  the mean βγ occupancy. It also returns the exact mean of ``S`` over the half step, which
  drives the ``R`` piece next to it. The IL-2 sink takes ``R`` and ``D`` at the step's
  start in the first half and extrapolated linearly to the step's end in the second. In a
  step where the patient's arm has no drug on board the occupancies are constant and ``S``
  takes one exact step;
* ``D``, ``F``, ``H``, ``P``, ``A``, ``X`` and the organ domains ``Y``: exact relaxation
  ``x ← x* + (x − x*)·e^(−k·τ)``;
* ``R`` (and ``K``): the logistic step ``x ← x*·x / (x + (x* − x)·ρ)``, exact with
  ``ρ = e^(−k·x*·τ)``; here ρ is the (2,2) Padé approximant N/D of that exponential
  (relative error 1.4e-8 at ``k·x*·τ`` = 0.1, which is a Treg target of 5×, 4.5e-7 at 0.2,
  and positive for every argument). Written as ``x·D / (D + k·τ·(x − x*))`` it costs one
  division, stays positive and needs no guard for targets at or below 0, which the Treg
  target reaches in high-gain patients after an on-phase (the IL-2 signal falls under its
  baseline while expanded Treg consume IL-2). The kernel used to floor targets at 10⁻³,
  which kept Treg up to 1.4% too high in such off-phases of the 180-patient benchmark and
  made ``D`` the worst state there (issue 9: its largest error 0.0110 with the floor,
  0.0073 without).

One step is ``[S,K] D R F H P A X`` (each over ``h``), ``Y`` (over ``dt``), then
``X A P H F [S,K] R D`` (each over ``h``): the symmetric (Strang) composition except that
``R`` follows the second receptor half instead of preceding it, so that each ``R`` half step
is driven by the mean of ``S`` over the same half step. ``S`` moves within hours after an
s.c. dose while the Treg gain multiplies it by up to about 20, so ``R`` driven by ``S`` at
the step's middle (the plain Strang composition) ran 0.4-1.8% of its excess over baseline
ahead of the reference in on-phases, and the desensitisation ``D`` (the integral of that
excess) accumulated it: issue 9, the largest ``D`` error of the 180-patient benchmark 0.0073
with the plain composition, 0.0030 with this one, at the same cost. Every piece is second
order in ``h`` and the sink's extrapolation is exact to O(dt²), so the scheme stays second
order: the error falls about 4-fold when ``dt`` (with the PK sub-steps) halves. Every piece
keeps states positive and is stable for any ``dt``. ``X`` sees the standard-of-care ramp at
the middle of the step. ``F`` and ``H`` read the same ``R`` on both sweeps, so their
suppression quotients are computed once per step.

A patient at baseline without drug is an exact fixed point: ``S`` equals its baseline
occupancy, ``R = K = 1`` and ``D = 0`` to the last bit (the baseline occupancies are
computed here with the same expressions as in the steps).

**Loop order**: patients are taken in blocks of :data:`LANES` of one arm, integrated in
lock-step over time (time outer, lanes inner), so a block's states stay in L1 cache, the
lanes' independent arithmetic fills the SIMD units, and a block takes the 30-minute PK
sub-steps exactly in the steps where its arm has drug on board. Blocks are independent, so
they run on several threads in the main process (:func:`threads`); inside worker
processes, which already share the cores, the kernel runs serially and never starts numba's
thread pool (so forking after a threaded run is safe).
"""

from __future__ import annotations

import multiprocessing
import os
import threading

import numba
import numpy as np
from numba import njit, prange

# Per-patient constants, columns of ``pat``: exposure factor θ, endogenous IL-2 c_endo (pM),
# Treg gain g_R, Tfh and Th17 suppression s_F, s_H, standard-of-care effect, and the Treg
# gain above the baseline signal (g_R/φ: the host's Treg pool φ, trialsim.model.hosts).
PAT_COLUMNS = ("exposure", "c_endo", "treg_gain", "s_f", "s_h", "soc", "treg_gain_up")
# Population constants, entries of ``pop``.
POP_ENTRIES = ("ec50_r", "ec50_k", "treg_sink", "desens_sink", "k_s", "k_d", "k_r", "k_k",
               "effector_gain", "k_f", "k_h", "k_p", "k_a", "f_ll", "k_x", "loop_gain",
               "w_f", "w_h", "w_a", "w_k", "dt")
N_STATES = 9                    # S, D, R, K, F, H, P, A, X
LANES = 32                      # patients of a block, integrated in lock-step
PARALLEL_MIN_PATIENTS = 4_000   # below this, waking threads costs more than it saves
PARALLEL_CHUNK_BLOCKS = 4       # blocks a thread takes at a time

_threads: int | None = None


def set_threads(n: int | None) -> None:
    """Threads the kernel may use: ``n``, or ``None`` for the default (see :func:`threads`)."""
    global _threads
    if n is not None and n < 1:
        raise ValueError(f"threads must be >= 1 (got {n})")
    _threads = n


def threads() -> int:
    """The number of threads the next :func:`run` may use: what :func:`set_threads` set,
    else env ``TRIALSIM_MODEL_THREADS``, else 1 inside a worker process (a
    ``multiprocessing`` child: the workers already share the cores) and every core numba
    sees in the main process."""
    want = _threads
    if want is None:
        env = os.environ.get("TRIALSIM_MODEL_THREADS", "").strip()
        if env:
            want = int(env)
        elif multiprocessing.parent_process() is not None:
            want = 1
        else:
            want = numba.config.NUMBA_NUM_THREADS
    return max(1, min(want, numba.config.NUMBA_NUM_THREADS))


@njit(cache=True, error_model="numpy")
def _logistic(x: float, target: float, z_per_target: float) -> float:
    """Logistic step of dx/dt = k·x·(x* − x) over τ (``z_per_target`` = k·τ), x* frozen,
    with e^(−z), z = k·x*·τ, replaced by its (2,2) Padé approximant N/D.

    The exact step x*·x / (x + (x* − x)·e^(−z)) equals x·D / (D + k·τ·(x − x*)) when
    e^(−z) = N/D (because D − N = z), a form without the 0/0 at x* = 0 that holds for a
    target of any sign: a Treg target below 0 (the signal well under its baseline, in
    high-gain patients after an on-phase) is integrated as the equation says, not clipped.
    The divisor equals N + k·τ·x ≥ 1/4 (N has no real root), so the step keeps x > 0, and
    x = x* is a fixed point to the last bit."""
    z = z_per_target * target
    den = 1.0 + 0.5 * z + z * z * (1.0 / 12.0)
    return x * den / (den + z_per_target * (x - target))


@njit(cache=True, inline="always", error_model="numpy")
def _treg_target(excess: float, scale_up: float, scale_down: float) -> float:
    """The Treg target 1 + scale·(S − S0): a signal above baseline (exogenous IL-2) is scaled
    by the host's gain g_R/φ, a shortfall below it by g_R (both /(1 − S0)); equal in SLE."""
    return 1.0 + scale_up * max(excess, 0.0) + scale_down * min(excess, 0.0)


# The work array of a block: one row of LANES per field, at constant offsets, so the compiler
# sees that rows never overlap and turns every lane loop into SIMD code.
_S = 0 * LANES
_D = 1 * LANES
_R = 2 * LANES
_K = 3 * LANES
_F = 4 * LANES
_H = 5 * LANES
_P = 6 * LANES
_A = 7 * LANES
_X = 8 * LANES
_THETA = 9 * LANES
_C_ENDO = 10 * LANES
_OCC_R0 = 11 * LANES
_OCC_K0 = 12 * LANES
_R_SCALE = 13 * LANES
_K_SCALE = 14 * LANES
_S_F = 15 * LANES
_S_H = 16 * LANES
_SOC = 17 * LANES
_Q_F = 18 * LANES
_Q_H = 19 * LANES
_DRIVE = 20 * LANES
_OCC_K = 21 * LANES
_INV_SINK = 22 * LANES
_PEAK = 23 * LANES
_AUC = 24 * LANES
_R_MAX = 25 * LANES
_K_MAX = 26 * LANES
_F_MIN = 27 * LANES
_H_MIN = 28 * LANES
_R_SCALE_UP = 29 * LANES
_S_MEAN = 30 * LANES    # mean of S over the last receptor half step: the forcing of R
_R_START = 31 * LANES   # R and D at the step's start (the second half's sink extrapolates)
_D_START = 32 * LANES
_N_WORK = 33 * LANES


@njit(cache=True, inline="always", error_model="numpy")
def _receptors(w, nb, first, on, a, j, conc, pop, e_sub, e_half, a_sub, a_half):
    """The [S, K] piece over one half step for the lanes of a block of arm ``a``; ``first``
    is the first PK sub-step of the half (0 or m/2). Also leaves the exact mean of S over
    the half in ``_S_MEAN`` (``a_sub``, ``a_half``: the mean of e^(−k_S·s) over a sub-step
    and over the half step). The IL-2 sink takes R and D extrapolated linearly from the
    step's start, 2x − x_start: x itself in the first half (2x − x is x exactly), about
    their values at the step's end in the second."""
    ec50_r, ec50_k, sink_r, sink_d = pop[0], pop[1], pop[2], pop[3]
    if on:
        m = conc.shape[2]
        for b in range(nb):
            r = 2.0 * w[_R + b] - w[_R_START + b]
            d = 2.0 * w[_D + b] - w[_D_START + b]
            w[_INV_SINK + b] = 1.0 / max(1.0 + sink_r * (r - 1.0) + sink_d * d, 0.2)
            w[_OCC_K + b] = 0.0
            w[_S_MEAN + b] = 0.0
        for q in range(first, first + m // 2):
            c = conc[a, j, q]
            for b in range(nb):
                exo = w[_THETA + b] * c
                u = (exo + w[_C_ENDO + b]) * w[_INV_SINK + b]
                inv = 1.0 / ((u + ec50_r) * (u + ec50_k))
                o_r = u * (u + ec50_k) * inv
                s = w[_S + b] - o_r
                w[_S_MEAN + b] += o_r + s * a_sub
                w[_S + b] = o_r + s * e_sub
                w[_OCC_K + b] += u * (u + ec50_r) * inv
                w[_PEAK + b] = max(w[_PEAK + b], exo)
                w[_AUC + b] += exo
        for b in range(nb):
            w[_OCC_K + b] *= 2.0 / m
            w[_S_MEAN + b] *= 2.0 / m
    else:
        for b in range(nb):
            r = 2.0 * w[_R + b] - w[_R_START + b]
            d = 2.0 * w[_D + b] - w[_D_START + b]
            sink = max(1.0 + sink_r * (r - 1.0) + sink_d * d, 0.2)
            c_endo = w[_C_ENDO + b]
            o_r = c_endo / (c_endo + ec50_r * sink)
            s = w[_S + b] - o_r
            w[_S_MEAN + b] = o_r + s * a_half
            w[_S + b] = o_r + s * e_half
            w[_OCC_K + b] = c_endo / (c_endo + ec50_k * sink)
    z_k = pop[7] * 0.5 * pop[20]
    for b in range(nb):
        target = 1.0 + w[_K_SCALE + b] * (w[_OCC_K + b] - w[_OCC_K0 + b])
        w[_K + b] = _logistic(w[_K + b], target, z_k)


@njit(cache=True, error_model="numpy")
def _block(idx, a, conc, dosing, pat, pop, soc_mid, y_rate, y_of, record_at, out, out_y,
           stat, ext):
    """Integrate the patients ``idx`` (LANES of them, all of arm ``a``; a short block
    repeats its last patient) over every step."""
    dt = pop[20]
    half = 0.5 * dt
    m = conc.shape[2]
    e_sub = np.exp(-pop[4] * dt / m)
    e_half = np.exp(-pop[4] * half)
    a_sub = -np.expm1(-pop[4] * dt / m) / (pop[4] * dt / m)
    a_half = -np.expm1(-pop[4] * half) / (pop[4] * half)
    e_d, e_f, e_h = np.exp(-pop[5] * half), np.exp(-pop[9] * half), np.exp(-pop[10] * half)
    e_p, e_a, e_x = np.exp(-pop[11] * half), np.exp(-pop[12] * half), np.exp(-pop[14] * half)
    z_r = pop[6] * half
    f_ll, lam = pop[13], pop[15]
    w_f, w_h, w_a, w_k = pop[16], pop[17], pop[18], pop[19]
    ny = y_rate.size
    e_y = np.exp(-y_rate * dt)

    # nb == LANES, but as a run-time bound it makes LLVM vectorise the lane loops instead of
    # unrolling them into scalar code (about 1.6 times faster).
    nb = idx.size
    w = np.ones(_N_WORK)
    for b in range(nb):
        i = idx[b]
        w[_THETA + b], w[_C_ENDO + b] = pat[i, 0], pat[i, 1]
        # baseline occupancies: the step's expressions at sink = 1
        w[_OCC_R0 + b] = pat[i, 1] / (pat[i, 1] + pop[0] * 1.0)
        w[_OCC_K0 + b] = pat[i, 1] / (pat[i, 1] + pop[1] * 1.0)
        w[_R_SCALE + b] = pat[i, 2] / (1.0 - w[_OCC_R0 + b])
        w[_R_SCALE_UP + b] = pat[i, 6] / (1.0 - w[_OCC_R0 + b])
        w[_K_SCALE + b] = pop[8] / (1.0 - w[_OCC_K0 + b])
        w[_S_F + b], w[_S_H + b], w[_SOC + b] = pat[i, 3], pat[i, 4], pat[i, 5]
        w[_S + b] = w[_OCC_R0 + b]
        w[_D + b] = 0.0
        w[_PEAK + b] = 0.0
        w[_AUC + b] = 0.0
    Y = np.ones(ny * LANES)

    n_steps = dosing.shape[1]
    for j in range(n_steps + 1):
        col = record_at[j]
        while col >= 0:
            for b in range(nb):
                i = idx[b]
                for k in range(N_STATES):
                    out[k, i, col] = w[k * LANES + b]
                for d in range(y_of.size):
                    out_y[i, col, d] = Y[y_of[d] * LANES + b]
            col = record_at[n_steps + 1 + col]
        if j == n_steps:
            break
        on = dosing[a, j]
        ramp = soc_mid[j]
        for b in range(nb):
            w[_R_START + b] = w[_R + b]
            w[_D_START + b] = w[_D + b]
        # forward half sweep: [S K] D R F H P A X
        _receptors(w, nb, 0, on, a, j, conc, pop, e_sub, e_half, a_sub, a_half)
        for b in range(nb):
            excess = max(w[_R + b] - 1.0, 0.0)
            w[_D + b] = excess + (w[_D + b] - excess) * e_d
            r = _logistic(w[_R + b], _treg_target(w[_S_MEAN + b] - w[_OCC_R0 + b],
                                                w[_R_SCALE_UP + b], w[_R_SCALE + b]), z_r)
            w[_R + b] = r
            w[_Q_F + b] = (1.0 + w[_S_F + b]) / (1.0 + w[_S_F + b] * r)
            w[_Q_H + b] = (1.0 + w[_S_H + b]) / (1.0 + w[_S_H + b] * r)
        for b in range(nb):
            ag = (1.0 - lam) + lam * w[_X + b]
            t = ag * w[_Q_F + b]
            f = t + (w[_F + b] - t) * e_f
            t = ag * w[_Q_H + b]
            h = t + (w[_H + b] - t) * e_h
            p = f + (w[_P + b] - f) * e_p
            t = f_ll + (1.0 - f_ll) * p
            ab = t + (w[_A + b] - t) * e_a
            drive = ((1.0 - w[_SOC + b] * ramp)
                     * (w_f * f + w_h * h + w_a * ab + w_k * w[_K + b]))
            w[_F + b], w[_H + b], w[_P + b], w[_A + b] = f, h, p, ab
            w[_DRIVE + b] = drive
            w[_X + b] = drive + (w[_X + b] - drive) * e_x
        # middle: the organ domains over the whole step
        for d in range(ny):
            for b in range(nb):
                x = w[_X + b]
                Y[d * LANES + b] = x + (Y[d * LANES + b] - x) * e_y[d]
        # reverse half sweep: X A P H F [S K] R D
        for b in range(nb):
            drive = w[_DRIVE + b]
            x = drive + (w[_X + b] - drive) * e_x
            t = f_ll + (1.0 - f_ll) * w[_P + b]
            w[_A + b] = t + (w[_A + b] - t) * e_a
            f = w[_F + b]
            w[_P + b] = f + (w[_P + b] - f) * e_p
            ag = (1.0 - lam) + lam * x
            t = ag * w[_Q_H + b]
            w[_H + b] = t + (w[_H + b] - t) * e_h
            t = ag * w[_Q_F + b]
            w[_F + b] = t + (f - t) * e_f
            w[_X + b] = x
        _receptors(w, nb, m // 2, on, a, j, conc, pop, e_sub, e_half, a_sub, a_half)
        for b in range(nb):
            r = _logistic(w[_R + b], _treg_target(w[_S_MEAN + b] - w[_OCC_R0 + b],
                                                w[_R_SCALE_UP + b], w[_R_SCALE + b]), z_r)
            w[_R + b] = r
            excess = max(r - 1.0, 0.0)
            w[_D + b] = excess + (w[_D + b] - excess) * e_d
        for b in range(nb):
            w[_R_MAX + b] = max(w[_R_MAX + b], w[_R + b])
            w[_K_MAX + b] = max(w[_K_MAX + b], w[_K + b])
            w[_F_MIN + b] = min(w[_F_MIN + b], w[_F + b])
            w[_H_MIN + b] = min(w[_H_MIN + b], w[_H + b])
    for b in range(nb):
        i = idx[b]
        stat[i, 0] = w[_PEAK + b]
        stat[i, 1] = w[_AUC + b] * (dt / m)
        ext[i, 0], ext[i, 1] = w[_R_MAX + b], w[_K_MAX + b]
        ext[i, 2], ext[i, 3] = w[_F_MIN + b], w[_H_MIN + b]


@njit(cache=True, error_model="numpy")
def _run_serial(blocks, arm, conc, dosing, pat, pop, soc_mid, y_rate, y_of, record_at, out,
                out_y, stat, ext):
    for k in range(blocks.shape[0]):
        idx = blocks[k]
        _block(idx, arm[idx[0]], conc, dosing, pat, pop, soc_mid, y_rate, y_of, record_at,
               out, out_y, stat, ext)


@njit(cache=True, parallel=True, error_model="numpy")
def _run_parallel(blocks, arm, conc, dosing, pat, pop, soc_mid, y_rate, y_of, record_at, out,
                  out_y, stat, ext):
    for k in prange(blocks.shape[0]):
        idx = blocks[k]
        _block(idx, arm[idx[0]], conc, dosing, pat, pop, soc_mid, y_rate, y_of, record_at,
               out, out_y, stat, ext)


def _blocks(arm: np.ndarray) -> np.ndarray:
    """(blocks, LANES): patient indices, grouped by arm; a block's last patient repeats to
    fill it (the repeats compute and write the same values)."""
    rows = []
    for a in np.unique(arm):
        members = np.flatnonzero(arm == a)
        pad = -members.size % LANES
        rows.append(np.concatenate([members, np.repeat(members[-1:], pad)]).reshape(-1, LANES))
    return np.concatenate(rows).astype(np.int64)


def run(arm: np.ndarray, conc: np.ndarray, pat: np.ndarray, pop: np.ndarray,
        soc_mid: np.ndarray, domain_rate: np.ndarray, sample_step: np.ndarray
        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Integrate every patient; returns (states (9, n, v), Y (n, v, d), stat (n, 2),
    extremes (n, 4)).

    ``arm`` (n,) indexes ``conc`` (arms, steps, sub-steps): each arm's typical plasma IL-2
    (pM) at the sub-step midpoints. ``pat`` (n, 7) and ``pop`` hold the constants named in
    :data:`PAT_COLUMNS` and :data:`POP_ENTRIES`; ``soc_mid`` (steps,) is the
    standard-of-care ramp 1 − e^(−t/τ) at each step's middle; ``domain_rate`` the relaxation
    rate of each organ domain; ``sample_step`` the step index of each sample. ``stat`` holds
    each patient's plasma peak and AUC; ``extremes`` R_max, K_max, F_min, H_min over the
    step ends.
    """
    arm = np.ascontiguousarray(arm, dtype=np.int64)
    n, v = arm.size, sample_step.size
    n_steps = conc.shape[1]
    if conc.shape[2] % 2:
        raise ValueError("the PK sub-steps per step must be even (two half steps)")
    # record_at[j]: the first sample column at step j (−1: none); record_at[steps+1+c]: the
    # next column at the same step as column c (visits may share a step).
    record_at = np.full(n_steps + 1 + v, -1, dtype=np.int64)
    for c in range(v - 1, -1, -1):
        s = int(sample_step[c])
        record_at[n_steps + 1 + c] = record_at[s]
        record_at[s] = c
    y_rate, y_of = np.unique(np.asarray(domain_rate, dtype=float), return_inverse=True)
    out = np.empty((N_STATES, n, v))
    out_y = np.empty((n, v, y_of.size))
    stat = np.zeros((n, 2))
    ext = np.empty((n, 4))
    if n == 0:
        return out, out_y, stat, ext
    args = (_blocks(arm), arm, np.ascontiguousarray(conc, dtype=float),
            conc.max(axis=2) > 0.0, np.ascontiguousarray(pat, dtype=float),
            np.ascontiguousarray(pop, dtype=float), np.ascontiguousarray(soc_mid, dtype=float),
            y_rate, y_of.astype(np.int64), record_at, out, out_y, stat, ext)
    k = threads()
    if (k > 1 and n >= PARALLEL_MIN_PATIENTS
            and threading.current_thread() is threading.main_thread()):
        previous = numba.get_num_threads()
        numba.set_num_threads(k)
        try:
            # Small chunks of blocks are handed out on demand, so a thread that shares its
            # core with another process does not hold the others up.
            with numba.parallel_chunksize(PARALLEL_CHUNK_BLOCKS):
                _run_parallel(*args)
        finally:
            numba.set_num_threads(previous)
    else:
        _run_serial(*args)
    return out, out_y, stat, ext
