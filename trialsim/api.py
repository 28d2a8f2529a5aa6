"""The Python API: load a protocol, simulate it, look at the result.

>>> import trialsim
>>> p = trialsim.load_protocol("protocols/ld-il2-vs-placebo.toml")
>>> r = trialsim.simulate(p, replicates=20, seed=1)
>>> r.summary            # one row per arm: the trial shown and the mean over replicates
>>> r.patients, r.visits, r.replicates   # DataFrames

The command line (:mod:`trialsim.cli`) is a thin layer over these functions.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from trialsim.protocol import Protocol, load_protocol

__all__ = ["RunResult", "compare", "load_protocol", "power", "simulate", "simulate_protocol"]


@dataclass(frozen=True)
class RunResult:
    """What :func:`simulate` returns: the design result, its summary document and the
    per-replicate effects. ``document`` is what ``trialsim run --json`` prints."""

    protocol: Protocol
    design: Any                      # trialsim.design.DesignResult
    document: dict[str, Any]
    replicates: pd.DataFrame = field(repr=False)

    @property
    def summary(self) -> pd.DataFrame:
        """One row per arm: n, responders, rate and Wilson CI of the trial shown
        (replicate 0) and, with replicates, the mean rate over them."""
        rows = [{"arm": a["name"], "n": a["n"], "responders": a["responders"],
                 "rate": a["rate"], "ci95_low": a["ci95"][0], "ci95_high": a["ci95"][1]}
                for a in self.document["arms"]]
        oc = self.document.get("operating_characteristics")
        if oc:
            for row, a in zip(rows, oc["arms"], strict=True):
                row.update(mean_rate=a["mean_rate"], mean_rate_se=a["mean_rate_se"])
        return pd.DataFrame(rows).set_index("arm")

    @property
    def comparisons(self) -> pd.DataFrame:
        rows = [{"comparison": f"{c['arm']} vs {c['control']}", "difference": c["difference"],
                 "ci95_low": c["ci95"][0], "ci95_high": c["ci95"][1],
                 "p_value": c["p_value"], "test": c["test"], "significant": c["significant"]}
                for c in self.document["comparisons"]]
        oc = self.document.get("operating_characteristics")
        if oc:
            for row, c in zip(rows, oc["comparisons"], strict=True):
                row.update(power=c["power"], power_se=c["power_se"])
        return pd.DataFrame(rows).set_index("comparison")

    @property
    def power(self) -> float | None:
        return self.document.get("power")

    @property
    def patients(self) -> pd.DataFrame:
        return self.design.first.patient_table()

    @property
    def visits(self) -> pd.DataFrame | None:
        return self.design.first.visit_table()

    def to_dict(self) -> dict[str, Any]:
        return dict(self.document)

    def __rich__(self) -> Any:
        from rich.console import Group

        from trialsim.report import arms_table, comparisons_table, endpoints_table

        return Group(arms_table(self.protocol, self.design),
                     comparisons_table(self.protocol, self.design),
                     endpoints_table(self.document))

    def _repr_html_(self) -> str:
        from trialsim.reports.html import esc, pct

        d = self.document
        head = (f"<b>{esc(d['protocol'])}</b>: {esc(d['endpoint']['primary'].upper())} at "
                f"week {esc(d['endpoint']['week'])}, seed {esc(d['seed'])}, "
                f"{esc(d['replicates'])} simulated trial(s)")
        if d.get("power") is not None:
            head += f"; power {pct(d['power'])} ± {pct(d['power_se'])}"
        return (f"<div>{head}{self.summary.to_html(float_format='{:.3f}'.format)}"
                f"{self.comparisons.to_html(float_format='{:.4f}'.format)}</div>")

    def __repr__(self) -> str:
        return f"RunResult({self.protocol.trial.name!r}, replicates={self.document['replicates']})"


def _protocol(protocol: Protocol | str | Path) -> Protocol:
    return protocol if isinstance(protocol, Protocol) else load_protocol(protocol)


def simulate_protocol(p: Protocol, *, chunk: int = 50,
                      progress: Callable[..., None] | None = None, source: str = "protocol",
                      protocol_file: str | None = None) -> RunResult:
    """Simulate an already-overridden protocol (the CLI's path)."""
    from trialsim.design import run_design
    from trialsim.reports import ReplicateEffects
    from trialsim.reports.provenance import provenance
    from trialsim.summary import summary_document

    started, t0 = datetime.now(UTC), time.perf_counter()
    effects = ReplicateEffects()
    result = run_design(p, chunk=chunk, progress=progress, source=source, conditional=True,
                        keep=effects)
    doc = summary_document(p, result, protocol_file=protocol_file)
    doc["provenance"] = provenance(p.digest(), p.trial.seed, started,
                                   time.perf_counter() - t0)
    return RunResult(p, result, doc, effects.table())


def simulate(protocol: Protocol | str | Path, replicates: int | None = None,
             seed: int | None = None, n: int | None = None, *, conditional: bool = False,
             chunk: int = 50) -> RunResult:
    """Simulate ``replicates`` trials of ``protocol`` (a :class:`Protocol` or a file).

    ``seed``, ``replicates`` and ``n`` override the protocol's; ``conditional`` fixes the
    between-trial placebo response at its typical value.
    """
    from trialsim.limits import check_resources

    p = _protocol(protocol)
    if seed is not None or replicates is not None or n is not None or conditional:
        p = p.with_overrides(seed=seed, replicates=replicates, n=n,
                             between_trial=False if conditional else None,
                             source="simulate()")
    chunk = check_resources(p, chunk, "simulate()")
    return simulate_protocol(p, chunk=chunk)


def power(protocol: Protocol | str | Path, sizes: str | Sequence[int], *,
          target: float = 0.8, replicates: int | None = None,
          precision: float | None = None, seed: int | None = None, chunk: int = 50) -> Any:
    """Power over total sample sizes (``"40:240:20"`` or a list) and the size reaching
    ``target``: a :class:`~trialsim.design.sizes.PowerCurve`."""
    from trialsim.design.sizes import parse_sizes, power_curve

    p = _protocol(protocol)
    if seed is not None:
        p = p.with_overrides(seed=seed, source="power()")
    n = parse_sizes(sizes if isinstance(sizes, str) else ",".join(map(str, sizes)), p)
    return power_curve(p, n, replicates=replicates, precision=precision, target=target,
                       chunk=chunk, source="power()")


def compare(protocols: Sequence[str | Path], *, replicates: int | None = None,
            reference: str | None = None, delta: float = 0.1, seed: int | None = None,
            chunk: int = 50) -> Any:
    """Compare designs (files, or the ``[[design]]`` variants of a file) on common virtual
    patients: a :class:`~trialsim.design.compare.DesignComparison`."""
    from trialsim.design.compare import compare_designs
    from trialsim.variants import load_designs

    designs = load_designs([Path(x) for x in protocols], seed=seed)
    return compare_designs(designs, replicates=replicates, reference=reference, delta=delta,
                           chunk=chunk)
