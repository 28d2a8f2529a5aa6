"""The outcome-model interface: randomised patients in, primary-endpoint outcomes out.

``trial.py`` enrols and randomises patients and draws their dropout times (shared by every
outcome model), then asks an :class:`OutcomeModel` what happened to them. Two models exist:

* :class:`~trialsim.outcome.mechanistic.MechanisticOutcome` — the immune-balance model,
  visit scoring, flares and adverse events;
* :class:`~trialsim.outcome.fixed_rates.FixedRatesOutcome` — a response probability per arm
  (and stratum): classical questions without the immune model, and a check of the engine
  against binomial formulas.

Both draw only from patient-keyed streams, so patient ``k`` of replicate ``r`` has the same
outcome draws at every sample size and in every design.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trialsim.cohort import Cohort
from trialsim.protocol import Protocol
from trialsim.stats.endpoint_data import EndpointData
from trialsim.streams import ReplicateStreams


@dataclass(frozen=True)
class Enrolled:
    """One replicate's randomised patients before any outcome (arrays in enrolment order)."""

    replicate: int
    streams: ReplicateStreams
    cohort: Cohort
    arm: np.ndarray         # arm index per patient
    strata: np.ndarray      # randomisation stratum label per patient
    enrol_day: np.ndarray   # calendar day of randomisation (0 without an enrolment rate)
    dropout_day: np.ndarray  # days after randomisation; inf: never (constant hazard)
    dropout_draw: np.ndarray | None = None  # E ~ Exp(1): dropout when Λ(t) reaches it

    @property
    def n(self) -> int:
        return int(self.arm.size)

    @property
    def ids(self) -> np.ndarray:
        """Each patient's place in the candidate pool: the key of their random draws."""
        return self.cohort.patients["screen_order"].to_numpy() - 1


@dataclass(frozen=True)
class Outcomes:
    """What an outcome model says about one replicate's patients.

    ``responder`` is the primary endpoint with the missing-data rule applied (True only for
    responders). ``endpoints`` holds every endpoint of the protocol (primary first) as
    :class:`~trialsim.stats.endpoint_data.EndpointData`. ``dropout_day`` is the dropout day
    when the model refines it (activity- or AE-dependent dropout), else ``None``.
    ``detail`` holds model-specific records (the mechanistic model's trajectory, visits and
    adverse events) or ``None``.
    """

    responder: np.ndarray
    detail: Any = None
    endpoints: dict[str, EndpointData] = field(default_factory=dict)
    dropout_day: np.ndarray | None = None


class OutcomeModel(ABC):
    """Maps randomised patients to outcomes. Subclasses simulate a batch of replicates at
    once (the mechanistic model integrates them as one array system)."""

    name: str = ""

    @abstractmethod
    def simulate(self, protocol: Protocol, batch: Sequence[Enrolled]) -> list[Outcomes]:
        """One :class:`Outcomes` per element of ``batch``, in order."""
