"""The endpoint registry: name → function of the visit records → :class:`EndpointData`.

Every endpoint of :data:`trialsim.endpoints.catalog.CATALOG` has a function here taking the
recorded visits (:meth:`VisitRecords.visible` — only what the tables hold) and an
:class:`EndpointContext` (endpoint week, missing-data rules, arms, adverse events, the
imputation stream). Binary efficacy endpoints apply treatment failure (rescue by the
endpoint week: 0) and the binary missing-data rule; continuous endpoints use no value after
rescue and the continuous rule; time-to-event endpoints censor at the last observed visit;
adverse-event endpoints cover every randomised patient (events before dropout).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from trialsim.conduct import impute_binary, impute_continuous
from trialsim.endpoints import responders as r
from trialsim.endpoints.catalog import CATALOG
from trialsim.endpoints.visits import VisitRecords
from trialsim.stats.endpoint_data import EndpointData


@dataclass(frozen=True)
class EndpointContext:
    """What an endpoint needs besides the visit records."""

    week: float
    missing: str = "non-responder"            # binary rule
    missing_continuous: str = "observed"      # continuous rule
    arm: np.ndarray | None = None
    adverse: pd.DataFrame | None = None       # one boolean column per event, per patient
    rng: Callable[[str], np.random.Generator] | None = None   # imputation stream by name


Compute = Callable[[VisitRecords, EndpointContext], EndpointData]


def _binary(name: str, status: Callable[[VisitRecords], np.ndarray]) -> Compute:
    def compute(rec: VisitRecords, ctx: EndpointContext) -> EndpointData:
        k = rec.week_index(ctx.week)
        s = status(rec)
        usable = rec.observed & ~rec.rescue
        failed = rec.rescue[:, k]
        value = impute_binary(s.astype(float), usable, failed, k, ctx.missing)
        repeated = np.where(usable, s, np.nan)[:, 1:]
        return EndpointData(name, "binary", value, baseline=rec.sledai[:, 0].astype(float),
                            repeated=np.where(rec.rescue[:, 1:], 0.0, repeated),
                            weeks=rec.weeks[1:])
    return compute


def _renal(rec: VisitRecords, ctx: EndpointContext) -> EndpointData:
    eligible, _ = r.renal_status(rec)
    data = _binary("renal_response", lambda x: r.renal_status(x)[1])(rec, ctx)
    return EndpointData("renal_response", "binary", np.where(eligible, data.value, np.nan),
                        baseline=data.baseline,
                        repeated=np.where(eligible[:, None], data.repeated, np.nan),
                        weeks=data.weeks)


def _continuous(name: str, values: Callable[[VisitRecords], np.ndarray],
                baseline: Callable[[VisitRecords], np.ndarray] | None) -> Compute:
    def compute(rec: VisitRecords, ctx: EndpointContext) -> EndpointData:
        k = rec.week_index(ctx.week)
        x = values(rec)
        usable = rec.observed & ~rec.rescue
        base = baseline(rec) if baseline is not None else None
        rng = ctx.rng(name) if ctx.rng is not None else None
        cov = base if base is not None else np.zeros(rec.n)
        value, imputed = impute_continuous(x, usable, k, ctx.missing_continuous, cov,
                                           ctx.arm, rng)
        return EndpointData(name, "continuous", value, baseline=base,
                            repeated=np.where(usable, x, np.nan)[:, 1:], weeks=rec.weeks[1:],
                            imputations=imputed)
    return compute


def _time_to(name: str, severe: bool) -> Compute:
    def compute(rec: VisitRecords, ctx: EndpointContext) -> EndpointData:
        flare = r.flare_visits(rec)[1 if severe else 0]
        days = rec.weeks * 7.0
        has = flare.any(axis=1)
        first = np.argmax(flare, axis=1)
        last = rec.observed.shape[1] - 1 - np.argmax(rec.observed[:, ::-1], axis=1)
        return EndpointData(name, "time-to-event", np.where(has, days[first], days[last]),
                            event=has, baseline=rec.sledai[:, 0].astype(float))
    return compute


def _adverse(name: str, events: tuple[str, ...] | None) -> Compute:
    def compute(rec: VisitRecords, ctx: EndpointContext) -> EndpointData:
        if ctx.adverse is None:
            raise ValueError(f"endpoint {name} needs the adverse events")
        cols = list(events) if events is not None else list(ctx.adverse.columns)
        value = ctx.adverse[cols].to_numpy().astype(bool).any(axis=1).astype(float)
        return EndpointData(name, "binary", value)
    return compute


REGISTRY: dict[str, Compute] = {
    "sri4": _binary("sri4", lambda x: r.sri_status(x, 4)),
    "sri5": _binary("sri5", lambda x: r.sri_status(x, 5)),
    "sri6": _binary("sri6", lambda x: r.sri_status(x, 6)),
    "bicla": _binary("bicla", r.bicla_status),
    "lldas": _binary("lldas", r.lldas_status),
    "renal_response": _renal,
    "ae_any": _adverse("ae_any", None),
    "ae_injection_site_reaction": _adverse("ae_injection_site_reaction",
                                           ("injection_site_reaction",)),
    "ae_fever": _adverse("ae_fever", ("fever",)),
    "ae_flu_like": _adverse("ae_flu_like", ("flu_like",)),
    "sledai_change": _continuous("sledai_change",
                                 lambda x: (x.sledai - x.sledai[:, :1]).astype(float),
                                 lambda x: x.sledai[:, 0].astype(float)),
    "treg_fold_change": _continuous("treg_fold_change", lambda x: x.treg / x.treg[:, :1],
                                    None),
    "time_to_flare": _time_to("time_to_flare", severe=False),
    "time_to_severe_flare": _time_to("time_to_severe_flare", severe=True),
}
if set(REGISTRY) != set(CATALOG):   # pragma: no cover - a programming error
    raise RuntimeError(f"endpoint registry and catalogue differ: {set(REGISTRY) ^ set(CATALOG)}")


def compute_endpoint(name: str, rec: VisitRecords, ctx: EndpointContext) -> EndpointData:
    """Endpoint ``name`` from what the visits recorded (unrecorded values never used)."""
    if name not in REGISTRY:
        raise ValueError(f"unknown endpoint {name!r} (known: {', '.join(REGISTRY)})")
    return REGISTRY[name](rec.visible(), ctx)


def compute_endpoints(names: tuple[str, ...] | list[str], rec: VisitRecords,
                      ctx: EndpointContext) -> dict[str, EndpointData]:
    """Several endpoints at once, in the order given."""
    seen = rec.visible()
    return {n: REGISTRY[n](seen, ctx) for n in names}
