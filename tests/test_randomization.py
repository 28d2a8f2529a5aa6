"""Tests of trialsim.randomization: stratified permuted blocks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trialsim.cohort import enrol
from trialsim.protocol import load_protocol
from trialsim.randomization import permuted_blocks, randomize, strata_labels

ROOT = Path(__file__).resolve().parent.parent


def _block_counts(arm: np.ndarray, n_arms: int) -> np.ndarray:
    return np.bincount(arm, minlength=n_arms)


def test_exact_balance_at_every_completed_block_within_strata() -> None:
    rng = np.random.default_rng(1)
    strata = rng.integers(0, 4, 503)
    ratios, block = [1, 1, 2], 8
    arm = permuted_blocks(strata, ratios, block, rng)
    per_block = np.array(ratios) * block // sum(ratios)
    for label in range(4):
        seq = arm[strata == label]
        assert seq.size >= 3 * block
        for m in range(1, seq.size // block + 1):
            np.testing.assert_array_equal(_block_counts(seq[: m * block], 3), m * per_block)
            # ... and each block on its own holds the whole allocation.
            np.testing.assert_array_equal(
                _block_counts(seq[(m - 1) * block: m * block], 3), per_block)


def test_two_to_one_ratio() -> None:
    rng = np.random.default_rng(2)
    strata = np.zeros(600, dtype=int)
    arm = permuted_blocks(strata, [2, 1], 6, rng)
    assert (arm == 0).sum() == 400 and (arm == 1).sum() == 200  # exactly 2/3 : 1/3
    for i in range(0, 600, 6):
        assert (arm[i: i + 6] == 0).sum() == 4
    assert set(np.unique(arm)) == {0, 1}
    # Blocks are permuted, not a fixed pattern.
    blocks = {tuple(arm[i: i + 6]) for i in range(0, 600, 6)}
    assert len(blocks) > 1


def test_rng_determines_sequence() -> None:
    strata = np.repeat([0, 1], 100)
    a = permuted_blocks(strata, [1, 1], 4, np.random.default_rng(7))
    b = permuted_blocks(strata, [1, 1], 4, np.random.default_rng(7))
    c = permuted_blocks(strata, [1, 1], 4, np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_block_size_must_be_multiple_of_ratio_sum() -> None:
    with pytest.raises(ValueError, match="multiple"):
        permuted_blocks(np.zeros(10, dtype=int), [2, 1], 4, np.random.default_rng(0))


def test_strata_labels() -> None:
    patients = pd.DataFrame({"sledai0": [6, 9, 10, 15, 22],
                             "sex": ["F", "M", "F", "M", "F"],
                             "renal": [False, True, True, False, False]})
    np.testing.assert_array_equal(strata_labels(patients, ["sledai_ge10"]), [0, 0, 1, 1, 1])
    np.testing.assert_array_equal(strata_labels(patients, []), [0, 0, 0, 0, 0])
    np.testing.assert_array_equal(strata_labels(patients, ["sledai_ge10", "sex"]),
                                  [1, 0, 3, 2, 3])
    np.testing.assert_array_equal(strata_labels(patients, ["sex", "renal"]), [2, 1, 3, 0, 2])
    with pytest.raises(ValueError, match="unknown stratification factor"):
        strata_labels(patients, ["region"])


def test_randomize_follows_protocol() -> None:
    """He 2020 design: 1:1, default block 4, stratified by SLEDAI-2K >= 10."""
    protocol = load_protocol(ROOT / "protocols" / "he2020.toml").with_overrides(n=400)
    rng = np.random.default_rng(3)
    cohort = enrol(protocol.population, rng)
    arm = randomize(cohort.patients, protocol, rng)
    strata = strata_labels(cohort.patients, ["sledai_ge10"])
    assert protocol.block_size == 4
    for label in (0, 1):
        counts = _block_counts(arm[strata == label], 2)
        assert abs(counts[0] - counts[1]) <= 2  # at most half a block of 4 apart


@st.composite
def designs(draw: st.DrawFn) -> tuple[np.ndarray, list[int], int, int]:
    ratios = draw(st.lists(st.integers(1, 4), min_size=2, max_size=4))
    block = sum(ratios) * draw(st.integers(1, 3))
    n_strata = draw(st.integers(1, 4))
    strata = np.array(draw(st.lists(st.integers(0, n_strata - 1), min_size=1, max_size=300)))
    return strata, ratios, block, draw(st.integers(0, 2**32 - 1))


@settings(max_examples=150, deadline=None)
@given(designs())
def test_imbalance_is_bounded_per_stratum(design: tuple[np.ndarray, list[int], int, int]
                                          ) -> None:
    """Per stratum and arm, |count − n_s·ratio/Σratios| ≤ the arm's share of one block
    (ratio·block_size/Σratios), hence ≤ block_size: only the last block is incomplete."""
    strata, ratios, block, seed = design
    arm = permuted_blocks(strata, ratios, block, np.random.default_rng(seed))
    assert arm.shape == strata.shape
    assert ((arm >= 0) & (arm < len(ratios))).all()
    r = np.array(ratios)
    per_block = r * block // r.sum()
    for label in np.unique(strata):
        n_s = int((strata == label).sum())
        counts = _block_counts(arm[strata == label], len(ratios))
        deviation = np.abs(counts - n_s * r / r.sum())
        assert (deviation <= per_block + 1e-9).all()
        assert (deviation <= block).all()
