"""Endpoints: what a trial records at its visits and the outcomes computed from it.

* :mod:`.catalog` — the endpoint names a protocol may use, their kinds and meanings;
* :mod:`.visits` — the observation model: SLEDAI-2K items, PGA, BILAG-like grades, serology
  (:class:`VisitRecords`), and the visit table written to ``visits.csv`` and read back;
* :mod:`.bilag` — BILAG-2004-like organ grades A–E;
* :mod:`.responders` — SRI-k, BICLA, LLDAS, renal response, flares;
* :mod:`.registry` — name → function of the visit records → :class:`EndpointData`.

Names are imported lazily, so :mod:`trialsim.protocol` can read the catalogue without
loading the model.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "VisitRecords": "visits", "record_visits": "visits", "visit_table": "visits",
    "records_from_tables": "visits",
    "sri": "responders", "bicla": "responders", "renal_complete_remission": "responders",
    "REGISTRY": "registry", "EndpointContext": "registry", "compute_endpoint": "registry",
    "compute_endpoints": "registry", "CATALOG": "catalog",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"trialsim.endpoints.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'trialsim.endpoints' has no attribute {name!r}")
