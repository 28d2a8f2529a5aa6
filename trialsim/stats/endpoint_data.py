"""The one shape in which an endpoint's outcomes reach an analysis.

Endpoints (what a trial measured, :mod:`trialsim.endpoints`) produce an :class:`EndpointData`
per endpoint and trial; analyses (:mod:`trialsim.stats`) consume it without knowing how it
was measured. Arrays run over the trial's patients in enrolment order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

Kind = Literal["binary", "continuous", "time-to-event"]
KINDS: tuple[Kind, ...] = ("binary", "continuous", "time-to-event")


@dataclass(frozen=True)
class EndpointData:
    """One endpoint's outcomes for the patients of one trial.

    ``value``: binary — 1.0 responder, 0.0 non-responder, NaN missing (after the protocol's
    missing-data rule has been applied, only an observed-cases analysis leaves NaN);
    continuous — the analysed value (e.g. change from baseline), NaN missing;
    time-to-event — days from randomisation to the event or to censoring.
    ``event``: time-to-event only, True where the event was observed (False = censored).
    ``baseline``: the baseline value used as a covariate by adjusted analyses (ANCOVA,
    adjusted logistic regression), e.g. baseline SLEDAI-2K.
    ``repeated`` and ``weeks``: the value at every post-baseline visit, shape (n, visits),
    NaN where missing, for repeated-measures analyses; the last visit is the endpoint's
    (the repeated-measures model estimates the effect there).
    ``imputations``: continuous endpoints under multiple imputation — the completed values of
    each imputation, shape (m, n); ``value`` then holds their mean, and analyses pool the m
    analyses by Rubin's rules. A binary endpoint defined on a subset of patients (renal
    response: patients renal at baseline) has NaN ``value`` outside it.
    ``higher_is_better``: whether a larger value favours an arm — responders (binary), a
    larger value (continuous; False for a change in SLEDAI-2K, where a fall is
    improvement), a longer time to the event (time-to-event; False when the event is good,
    e.g. time to response). One-sided tests and "arm better" decisions use it.
    """

    name: str
    kind: Kind
    value: np.ndarray
    event: np.ndarray | None = None
    baseline: np.ndarray | None = None
    repeated: np.ndarray | None = None
    weeks: np.ndarray | None = None
    imputations: np.ndarray | None = None
    higher_is_better: bool = True

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"endpoint kind must be one of {KINDS}, got {self.kind!r}")
        if self.kind == "time-to-event" and self.event is None:
            raise ValueError("a time-to-event endpoint needs its event indicator")

    def head(self, m: int) -> EndpointData:
        """The same endpoint for the first ``m`` patients (a trial of ``m``: power curves)."""
        return self.take(slice(0, m))

    def take(self, rows: slice) -> EndpointData:
        """The same endpoint for the patients ``rows`` (one replicate of a scored batch)."""
        def cut(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[rows]

        return EndpointData(self.name, self.kind, self.value[rows], cut(self.event),
                            cut(self.baseline), cut(self.repeated), self.weeks,
                            None if self.imputations is None else self.imputations[:, rows],
                            higher_is_better=self.higher_is_better)
