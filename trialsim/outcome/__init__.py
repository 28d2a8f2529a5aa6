"""Outcome models behind one interface (see :mod:`trialsim.outcome.base`)."""

from trialsim.model import DEFAULT_PARAMETERS, ModelParameters
from trialsim.model.hosts import host_parameters
from trialsim.outcome.base import Enrolled, OutcomeModel, Outcomes
from trialsim.outcome.fixed_rates import FixedRatesOutcome
from trialsim.outcome.mechanistic import MechanisticDetail, MechanisticOutcome
from trialsim.protocol import Protocol

__all__ = [
    "Enrolled", "FixedRatesOutcome", "MechanisticDetail", "MechanisticOutcome",
    "OutcomeModel", "Outcomes", "outcome_model",
]


def outcome_model(protocol: Protocol, params: ModelParameters = DEFAULT_PARAMETERS, *,
                  conditional: bool = False,
                  fixed_effect: float | None = None) -> OutcomeModel:
    """The outcome model the protocol's ``[outcome]`` section asks for. ``conditional``
    fixes the between-trial effect at its typical value; ``fixed_effect`` at a given one."""
    if protocol.outcome.model == "fixed-rates":
        return FixedRatesOutcome()
    # The population's host (default SLE) sets its Treg/IL-2 economy (trialsim.model.hosts).
    return MechanisticOutcome(host_parameters(params, protocol.population.host),
                              conditional=conditional, fixed_effect=fixed_effect)
