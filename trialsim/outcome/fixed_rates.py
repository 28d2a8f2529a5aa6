"""Fixed response rates: each patient responds with a given probability per arm (and stratum).

Patient ``i`` in arm ``a`` and randomisation stratum ``s`` responds when ``u_i < p[a, s]``,
``u_i ~ Uniform(0, 1)`` drawn once per patient from the patient-keyed OUTCOME stream, and
has not dropped out by the endpoint week (non-responder imputation). Using one uniform per
patient across arms is the classical common-random-numbers coupling: a patient who responds
at rate 0.4 also responds at rate 0.6. Within one trial the responses are independent
Bernoulli draws, so with no dropout the arm counts are exactly Binomial(n_a, p_a) — what
the engine's power must reproduce against the binomial formulas.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from trialsim.outcome.base import Enrolled, OutcomeModel, Outcomes
from trialsim.protocol import Protocol
from trialsim.stats.endpoint_data import EndpointData
from trialsim.streams import Stage


def rate_table(protocol: Protocol) -> np.ndarray:
    """Response probability by arm (rows, protocol order) and stratum (columns)."""
    strata = 2 ** len(protocol.randomization.stratify_by)
    rates = dict(protocol.outcome.rates or ())
    table = np.empty((len(protocol.arms), strata))
    for k, arm in enumerate(protocol.arms):
        r = rates[arm.name]
        table[k] = r[0] if len(r) == 1 else r
    return table


class FixedRatesOutcome(OutcomeModel):
    """``[outcome] model = "fixed-rates"``."""

    name = "fixed-rates"

    def simulate(self, protocol: Protocol, batch: Sequence[Enrolled]) -> list[Outcomes]:
        table = rate_table(protocol)
        endpoint_day = 7.0 * protocol.endpoint.week
        out = []
        for e in batch:
            u = e.streams.patients(Stage.OUTCOME, e.ids).random(e.n)
            stayed = e.dropout_day >= endpoint_day
            responder = (u < table[e.arm, e.strata]) & stayed
            data = EndpointData(protocol.endpoint.primary, "binary", responder.astype(float))
            out.append(Outcomes(responder, endpoints={data.name: data}))
        return out
