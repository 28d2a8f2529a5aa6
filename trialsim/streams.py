"""Keyed random streams: common random numbers across sizes, arms and designs.

Every random draw of a simulated trial comes from a stream keyed by the protocol seed, the
replicate, the stage that draws it, and — for draws that belong to a patient — the patient:

    ``SeedSequence(seed, spawn_key=(replicate, stage, …))``

so adding a stage, an arm or more patients never shifts anybody else's draws. Patient ``k``
of replicate ``r`` is the same person (candidate pool, model parameters, flares, visit
noise, dropout time, adverse-event draws) whatever the sample size, the arms, the regimens
or the endpoint of the design: the power curve re-uses the first ``n`` patients of its largest
cohort, and a design comparison gives every design the same patients.

Patient-level streams are drawn in blocks of :data:`BLOCK` patients (one generator per block
and per call), so the cost is a handful of generator constructions per stage and replicate,
not one per patient; the values a patient receives depend only on their id (their place in
the candidate pool), never on how many patients are drawn or who else was enrolled: designs
with different inclusion criteria screen the same pool, and a candidate enrolled by both is
the same person in both.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from enum import IntEnum
from typing import Any

import numpy as np

BLOCK = 256  # patients per keyed block; any fixed value works, this keeps generators few


class Stage(IntEnum):
    """The stages that draw random numbers; the value is part of every stream's key."""

    CANDIDATES = 1      # the clinic candidate pool, in blocks of candidates
    RANDOMIZATION = 2   # permuted blocks, one stream per stratum
    PARAMETERS = 3      # per-patient model parameters
    SITES = 4           # between-site effects (trial level)
    DROPOUT = 5
    FLARES = 6
    VISITS = 7          # visit-level observation noise
    ADVERSE = 8
    OUTCOME = 9         # outcome draws of the fixed-rates model
    ENROLMENT = 10      # enrolment times
    TRIAL_EFFECTS = 11  # between-trial random effects of the placebo/SoC response (trial level)
    IMPUTATION = 12     # multiple imputation of missing continuous endpoints (per endpoint)
    PARAMETER_SET = 13  # member of the fitted-parameter ensemble (trial level)


def generator(seed: int, *key: int) -> np.random.Generator:
    """The generator keyed ``(seed; key…)``, e.g. ``generator(seed, replicate, Stage.SITES)``."""
    # Generator(PCG64(…)) is default_rng(…) without its argument checks (half the cost).
    return np.random.Generator(np.random.PCG64(
        np.random.SeedSequence(seed, spawn_key=tuple(int(k) for k in key))))


class _PatientDraws(ABC):
    """The :class:`numpy.random.Generator` methods trialsim uses, on patient-keyed blocks:
    subclasses give ``n`` and ``_blocks(method, size, *args)``."""

    n: int

    @abstractmethod
    def _blocks(self, method: str, size: int | tuple[int, ...], *args: Any) -> np.ndarray:
        """``size`` draws of Generator method ``method`` (``size[0]`` patients)."""

    def random(self, size: int | tuple[int, ...]) -> np.ndarray:
        return self._blocks("random", size)

    def standard_normal(self, size: int | tuple[int, ...]) -> np.ndarray:
        return self._blocks("standard_normal", size)

    def normal(self, loc: Any = 0.0, scale: Any = 1.0,
               size: int | tuple[int, ...] | None = None) -> np.ndarray:
        size = self.n if size is None else size
        return loc + scale * self.standard_normal(size)

    def exponential(self, scale: Any = 1.0, size: int | tuple[int, ...] | None = None
                    ) -> np.ndarray:
        size = self.n if size is None else size
        return scale * self._blocks("standard_exponential", size)

    def gamma(self, shape: float, scale: float = 1.0,
              size: int | tuple[int, ...] | None = None) -> np.ndarray:
        size = self.n if size is None else size
        return scale * self._blocks("standard_gamma", size, shape)

    def integers(self, low: int, high: int, size: int | tuple[int, ...] | None = None
                 ) -> np.ndarray:
        size = self.n if size is None else size
        return low + np.floor(self.random(size) * (high - low)).astype(np.int64)


def _shape(size: int | tuple[int, ...]) -> tuple[int, ...]:
    return (int(size),) if isinstance(size, int | np.integer) else tuple(size)


class PatientStream(_PatientDraws):
    """A generator whose draws have the patient as their first axis.

    Patients are identified by an integer id — in a trial, their position in the candidate
    pool, so a candidate keeps their draws whichever inclusion criteria select them. Call
    ``j`` (in order) of the stream yields for patient ``id`` values that depend only on
    ``(seed, key, j, id)``: row ``id % BLOCK`` of a draw of :data:`BLOCK` rows from
    ``generator(seed, *key, j, id // BLOCK)``. The methods mirror
    :class:`numpy.random.Generator` for the shapes trialsim uses: ``size[0]`` must be ``n``.
    """

    def __init__(self, seed: int, key: tuple[int, ...], ids: int | np.ndarray,
                 memo: dict | None = None) -> None:
        self.seed, self.key = seed, tuple(int(k) for k in key)
        self.memo = memo
        self.ids = np.arange(ids) if np.ndim(ids) == 0 else np.asarray(ids, dtype=np.int64)
        self.n = int(self.ids.size)
        self._block, self._row = np.divmod(self.ids, BLOCK)
        # A block's generator fills rows in order, so drawing only up to the last row
        # anybody needs gives those rows the values a full BLOCK-row draw gives them.
        # Blocks are indexed from the lowest one needed; a block nobody is in has 0 rows.
        first = int(self._block.min()) if self.n else 0
        self._where = self._block - first
        self._rows = np.zeros(int(self._where.max()) + 1 if self.n else 0, dtype=np.int64)
        np.maximum.at(self._rows, self._where, self._row + 1)
        self._needed = np.arange(first, first + self._rows.size)
        self._calls = 0

    def _blocks(self, method: str, size: int | tuple[int, ...], *args: Any) -> np.ndarray:
        shape = _shape(size)
        if shape[0] != self.n:
            raise ValueError(f"patient draws need size[0] == n = {self.n} (got {shape})")
        call = self._calls
        self._calls += 1
        if self.n == 0:
            return np.zeros(shape)
        if self.memo is not None:
            key = (self.key, call, method, shape, args, self.ids.tobytes())
            if key not in self.memo:
                draw = self._draw(call, method, shape, *args)
                draw.flags.writeable = False         # shared by both passes: never edited
                self.memo[key] = draw
            return self.memo[key]
        return self._draw(call, method, shape, *args)

    def _draw(self, call: int, method: str, shape: tuple[int, ...], *args: Any) -> np.ndarray:
        parts = [getattr(generator(self.seed, *self.key, call, int(b)), method)(
            *args, size=(int(rows), *shape[1:])) if rows else np.empty((0, *shape[1:]))
            for b, rows in zip(self._needed, self._rows, strict=True)]
        if len(parts) == 1:
            return parts[0][self._row]
        start = np.concatenate([[0], np.cumsum(self._rows[:-1])])   # each block's first row
        return np.concatenate(parts)[start[self._where] + self._row]


class StackedStream(_PatientDraws):
    """Several replicates' patient streams as one: draws are each stream's draws stacked
    along the patient axis, so a batch of replicates can be scored as one array while every
    patient keeps exactly the values their own stream gives (call ``j`` of the stack is call
    ``j`` of every member)."""

    def __init__(self, streams: list[PatientStream]) -> None:
        self.streams = streams
        self.n = sum(s.n for s in streams)

    def _blocks(self, method: str, size: int | tuple[int, ...], *args: Any) -> np.ndarray:
        shape = _shape(size)
        if shape[0] != self.n:
            raise ValueError(f"patient draws need size[0] == n = {self.n} (got {shape})")
        return np.concatenate([s._blocks(method, (s.n, *shape[1:]), *args)
                               for s in self.streams])


class ReplicateStreams:
    """The streams of one replicate of a protocol seed.

    With ``memo`` (a dict; see :meth:`remembering`) patient draws are kept by their key,
    call, method, shape and patients, so simulating the same enrolled patients a second time
    (conditional power: the same trial with its typical placebo response) reuses them
    instead of drawing them again. The values are the same either way.
    """

    def __init__(self, seed: int, replicate: int, memo: dict | None = None) -> None:
        self.seed, self.replicate = int(seed), int(replicate)
        self.memo = memo

    def remembering(self) -> ReplicateStreams:
        """The same streams, keeping patient draws for a second pass over the same patients
        (memory grows with the patients × draws of one replicate: use it for small ones)."""
        return ReplicateStreams(self.seed, self.replicate, {})

    def generator(self, stage: Stage, *key: int) -> np.random.Generator:
        """A trial-level (or per-block / per-stratum) generator of ``stage``."""
        return generator(self.seed, self.replicate, stage, *key)

    def patients(self, stage: Stage, ids: int | np.ndarray) -> PatientStream:
        """Patient-keyed draws of ``stage`` for the patients ``ids`` (an int n: 0 … n−1)."""
        return PatientStream(self.seed, (self.replicate, stage), ids, self.memo)
