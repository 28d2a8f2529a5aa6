"""Randomisation: stratified permuted blocks.

Within each stratum, patients in enrolment order receive arms from consecutive blocks; each
block holds every arm ``ratio × block_size / sum(ratios)`` times in random order. This keeps
allocation balanced within strata at every block boundary, as in most SLE trials (BLISS,
TULIP and He 2020 stratified by baseline activity or region).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from trialsim.protocol import Protocol


def permuted_blocks(
    strata: np.ndarray, ratios: Sequence[int], block_size: int,
    rng: np.random.Generator | Callable[[int], np.random.Generator],
) -> np.ndarray:
    """Arm index for each patient, by permuted blocks within each stratum.

    ``strata`` holds one integer label per patient (enrolment order); ``block_size`` must be a
    multiple of ``sum(ratios)``. ``rng`` is one generator shared by the strata in label
    order, or a function giving each stratum label its own generator: then each stratum's
    allocation list is fixed in advance, and the first ``m`` patients get the same arms
    whatever the total number randomised (as in a real trial's randomisation list).
    """
    stratum_rng = rng if callable(rng) else (lambda _label: rng)
    ratios = np.asarray(ratios, dtype=int)
    total = int(ratios.sum())
    if block_size % total:
        raise ValueError(f"block_size {block_size} is not a multiple of sum(ratios) {total}")
    block = np.repeat(np.arange(ratios.size), ratios * (block_size // total))
    strata = np.asarray(strata)
    arm = np.empty(strata.size, dtype=int)
    for label in np.unique(strata):
        idx = np.flatnonzero(strata == label)
        n_blocks = -(-idx.size // block_size)
        g = stratum_rng(int(label))
        # One call shuffling each row of a (blocks, block size) array draws exactly what
        # one permutation call per block would: the same list, without a Python loop.
        seq = g.permuted(np.tile(block, (n_blocks, 1)), axis=1).ravel()
        arm[idx] = seq[: idx.size]
    return arm


def strata_labels(patients: pd.DataFrame | Mapping[str, np.ndarray],
                  factors: Sequence[str]) -> np.ndarray:
    """Integer stratum per patient from the protocol's stratification factors (``patients``:
    a table, or :attr:`trialsim.cohort.Cohort.columns`).

    Factors: ``sledai_ge10`` (baseline SLEDAI-2K ≥ 10), ``sex``, ``renal`` (active renal
    descriptors at baseline). No factors → one stratum.
    """
    label = np.zeros(len(patients["sledai0"]), dtype=int)
    for f in factors:
        if f == "sledai_ge10":
            bit = np.asarray(patients["sledai0"]) >= 10
        elif f == "sex":
            bit = np.asarray(patients["sex"]) == "F"
        elif f == "renal":
            bit = np.asarray(patients["renal"]).astype(bool)
        else:  # the protocol schema only admits the factors above
            raise ValueError(f"unknown stratification factor {f!r}")
        label = 2 * label + bit.astype(int)
    return label


def randomize(patients: pd.DataFrame | Mapping[str, np.ndarray], protocol: Protocol,
              rng: np.random.Generator | Callable[[int], np.random.Generator]) -> np.ndarray:
    """Arm index per enrolled patient, following the protocol's randomisation section."""
    strata = strata_labels(patients, protocol.randomization.stratify_by)
    return permuted_blocks(strata, [a.ratio for a in protocol.arms], protocol.block_size, rng)
