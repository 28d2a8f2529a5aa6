"""Hosts: populations whose Treg/IL-2 economy differs from the SLE patients the model is
calibrated on.

The model counts Treg in units of each patient's own baseline. What IL-2 does, though, is
set in absolute numbers of cells: the IL-2 a Treg pool consumes grows with the number of
cells (Feinerman 2010; Busse 2010), and the number of Treg that a supply of IL-2 sustains
is a niche tied to the IL-2 supply, not to how many Treg there were before (Treg number is
"indexed to the number of IL-2-producing cells": Almeida ARM, Zaragoza B, Freitas AA,
J Immunol 2006;177:192). A host whose baseline Treg count is a fraction ``treg_pool`` (φ)
of the SLE reference therefore has, in its own units, sinks φ times smaller and a Treg gain
1/φ times larger (``trialsim.model.dynamics``): the same exogenous IL-2 adds the same
number of cells, which is a larger fold change over a smaller baseline. SLE is φ = 1, so
the default host changes nothing.

Only the Treg/IL-2 economy depends on the host. The disease states (Tfh, Th17, antibodies,
activity, organ domains) stay those of the SLE model: clinical endpoints of a non-SLE host
are not meaningful, and calibration reads only its Treg.
"""

from __future__ import annotations

from dataclasses import dataclass

from trialsim.errors import ModelError
from trialsim.model.parameters import ModelParameters


@dataclass(frozen=True)
class Host:
    """A population's differences from the SLE model: parameter → (value, kind, source)."""

    name: str
    description: str
    changes: dict[str, tuple[float, str, str]]

    def apply(self, params: ModelParameters) -> ModelParameters:
        """``params`` with this host's values (the SLE host returns ``params`` itself)."""
        if not self.changes:
            return params
        return params.with_(**{k: v for k, (v, _, _) in self.changes.items()})


HOSTS: dict[str, Host] = {
    "sle": Host("sle", "systemic lupus erythematosus, the calibrated default", {}),
    "cgvhd": Host(
        "cgvhd",
        "chronic graft-versus-host disease after allogeneic stem-cell transplantation "
        "(CD4-lymphopenic, Treg-deficient)",
        {"treg_pool": (
            0.3, "fitted",
            "fitted to Koreth 2011 (not an independent check): the Koreth target (daily "
            "1 MIU/m², Treg > 8x at week 4; 8-12x holds for 0.22-0.34, docs/model.md §9.4) is "
            "a fit of this value, not a validation. Meaning: baseline Treg count of "
            "steroid-refractory cGVHD patients relative to SLE patients. Direction sourced: "
            "after myeloablative HSCT thymic generation of naive Treg is markedly impaired and "
            "prolonged CD4 lymphopenia leaves a relative Treg deficiency associated with "
            "extensive cGVHD (Matsuoka K et al., J Clin Invest 2010;120:1479, abstract); "
            "thymic Treg production stays markedly decreased for 2 years (Alho AC et al., "
            "Blood 2016;127:646, abstract); cGVHD has 'inadequate reconstitution' of Treg "
            "(Koreth J et al., Blood 2016;128:130, abstract) and a 'relative functional "
            "deficiency of IL-2' (Matsuoka K et al., Sci Transl Med 2013;5:179ra43, "
            "abstract). Size: no absolute Treg count (per µL, same gate) of steroid-refractory "
            "cGVHD and of SLE patients was found (search of Nov 2026, docs/model.md §3.2.1)")},
    ),
}
DEFAULT_HOST = "sle"


def host_parameters(params: ModelParameters, host: str = DEFAULT_HOST) -> ModelParameters:
    """The model parameters for patients of ``host`` (a key of :data:`HOSTS`)."""
    try:
        return HOSTS[host].apply(params)
    except KeyError:
        raise ModelError(f"unknown host {host!r} (known: {', '.join(HOSTS)})") from None
