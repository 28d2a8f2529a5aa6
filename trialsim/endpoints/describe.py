"""Per-arm descriptive summaries of an endpoint: the counts a report shows and a test
recomputes from the written tables (no tests or intervals: those are analyses). A rate,
mean or SD that does not exist (no patient) is ``None``, never a placeholder number."""

from __future__ import annotations

from typing import Any

import numpy as np

from trialsim.endpoints.catalog import CATALOG
from trialsim.stats.endpoint_data import EndpointData


def describe(data: EndpointData, arm: np.ndarray, arm_names: list[str]) -> dict[str, Any]:
    """``{"name", "kind", "label", "arms": [...]}``; per arm — binary: ``n`` assessed (NaN
    excluded), ``responders``, ``rate``, ``missing``; continuous: ``n``, ``mean``, ``sd``,
    ``missing`` (with multiple imputation or LOCF every patient counts and ``mean`` is over
    the completed data); time-to-event: ``n``, ``events``,
    ``follow_up_days`` (sum of times)."""
    info = CATALOG.get(data.name)
    rows = []
    for k, name in enumerate(arm_names):
        m = arm == k
        v = data.value[m]
        ok = np.isfinite(v)
        row: dict[str, Any] = {"name": name}
        if data.kind == "binary":
            n = int(ok.sum())
            x = int(v[ok].sum())
            row.update(n=n, responders=x, rate=x / n if n else None,
                       missing=int((~ok).sum()))
        elif data.kind == "continuous":
            row.update(n=int(ok.sum()), mean=float(v[ok].mean()) if ok.any() else None,
                       sd=float(v[ok].std(ddof=1)) if ok.sum() > 1 else None,
                       missing=int((~ok).sum()))
        else:
            assert data.event is not None
            row.update(n=int(m.sum()), events=int(data.event[m].sum()),
                       follow_up_days=float(data.value[m].sum()))
        rows.append(row)
    return {"name": data.name, "kind": data.kind,
            "label": info.label if info else data.name, "arms": rows}
