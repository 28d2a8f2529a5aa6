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
        """One row per arm of the primary endpoint: n, analysed, the estimate (rate, mean or
        event rate; binary also responders and rate) and its interval (``ci_low``,
        ``ci_high`` at ``ci_level``) in the trial shown (replicate 0) and, with
        replicates, the mean estimate over them."""
        rows = []
        for a in self.document["arms"]:
            row = {k: v for k, v in a.items() if k not in ("ci", "name")}
            row.update(arm=a["name"], ci_low=a["ci"][0], ci_high=a["ci"][1])
            rows.append(row)
        oc = self.document.get("operating_characteristics")
        if oc:
            for row, a in zip(rows, oc["arms"], strict=True):
                row.update(mean_estimate=a["mean_estimate"],
                           mean_estimate_se=a["mean_estimate_se"])
                if "mean_rate" in a:
                    row.update(mean_rate=a["mean_rate"], mean_rate_se=a["mean_rate_se"])
        return pd.DataFrame(rows).set_index("arm")

    @property
    def comparisons(self) -> pd.DataFrame:
        """One row per comparison with control on the primary endpoint: estimate, interval,
        raw and multiplicity-adjusted p-values, decision and, with replicates, power."""
        rows = [{"comparison": f"{c['arm']} vs {c['control']}", "estimand": c["estimand"],
                 "estimate": c["estimate"], "ci_low": c["ci"][0], "ci_high": c["ci"][1],
                 "ci_level": c["ci_level"], "p_value": c["p_value"],
                 "p_adjusted": c["p_adjusted"], "multiplicity": c["multiplicity"],
                 "test": c["test"], "significant": c["significant"]}
                for c in self.document["comparisons"]]
        oc = self.document.get("operating_characteristics")
        if oc:
            for row, c in zip(rows, oc["comparisons"], strict=True):
                row.update(power=c["power"], power_se=c["power_se"],
                           power_unadjusted=c["power_unadjusted"])
        return pd.DataFrame(rows).set_index("comparison")

    @property
    def power(self) -> float | None:
        return self.document.get("power")

    @property
    def patients(self) -> pd.DataFrame:
        tables = self.design.first.tables
        if tables:                     # a large first trial: its tables are on disk
            return pd.read_parquet(tables["patients"])
        return self.design.first.patient_table()

    @property
    def visits(self) -> pd.DataFrame | None:
        tables = self.design.first.tables
        if tables:
            return pd.read_parquet(tables["visits"]) if "visits" in tables else None
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
                      protocol_file: str | None = None, backend: Any = None,
                      spool: Path | None = None) -> RunResult:
    """Simulate an already-overridden protocol (the CLI's path); ``backend`` is an open
    :class:`trialsim.execution.Backend` (default: in this process). A first trial of more
    than :data:`~trialsim.trial.PATIENT_CHUNK` patients has its tables written to Parquet
    while it runs, in a new folder under ``spool`` (default: the temporary directory);
    :func:`trialsim.outputs.write_run` moves them into the run folder."""
    from trialsim import trial
    from trialsim.design import run_design
    from trialsim.reports import ReplicateEffects
    from trialsim.reports.provenance import provenance
    from trialsim.reports.tables import ParquetTables
    from trialsim.summary import summary_document

    started, t0 = datetime.now(UTC), time.perf_counter()
    effects = ReplicateEffects()
    sink = None
    if p.population.n > trial.PATIENT_CHUNK:   # first trial: tables to Parquet as it runs
        import tempfile

        folder = Path(tempfile.mkdtemp(prefix=".trialsim-tables-", dir=spool))
        sink = ParquetTables(folder)
    try:
        result = run_design(p, chunk=chunk, progress=progress, source=source,
                            conditional=True, record=effects, backend=backend, sink=sink)
    except BaseException:
        if sink is not None:
            import shutil

            sink.close()
            shutil.rmtree(sink.folder, ignore_errors=True)
        raise
    if sink is not None:
        sink.close()
    doc = summary_document(p, result, protocol_file=protocol_file)
    doc["provenance"] = provenance(p.digest(), p.trial.seed, started,
                                   time.perf_counter() - t0)
    return RunResult(p, result, doc, effects.table())


def simulate(protocol: Protocol | str | Path, replicates: int | None = None,
             seed: int | None = None, n: int | None = None, *, conditional: bool = False,
             chunk: int = 50, workers: int = 1, backend: str | None = None,
             scheduler: str | None = None) -> RunResult:
    """Simulate ``replicates`` trials of ``protocol`` (a :class:`Protocol` or a file).

    ``seed``, ``replicates`` and ``n`` override the protocol's; ``conditional`` fixes the
    between-trial placebo response at its typical value. ``workers``, ``backend`` and
    ``scheduler`` choose where replicates run (:mod:`trialsim.execution`); the result does
    not depend on them.
    """
    from trialsim.execution import open_backend
    from trialsim.limits import check_resources

    p = _protocol(protocol)
    if seed is not None or replicates is not None or n is not None or conditional:
        p = p.with_overrides(seed=seed, replicates=replicates, n=n,
                             between_trial=False if conditional else None,
                             source="simulate()")
    chunk = check_resources(p, chunk, "simulate()")
    with open_backend(backend, workers, scheduler) as ex:
        return simulate_protocol(p, chunk=chunk, backend=ex)


def power(protocol: Protocol | str | Path, sizes: str | Sequence[int], *,
          target: float = 0.8, replicates: int | None = None,
          precision: float | None = None, seed: int | None = None, chunk: int = 50,
          workers: int = 1, backend: str | None = None, scheduler: str | None = None) -> Any:
    """Power over total sample sizes (``"40:240:20"`` or a list) and the size reaching
    ``target``: a :class:`~trialsim.design.sizes.PowerCurve` (``workers``, ``backend``,
    ``scheduler``: as for :func:`simulate`)."""
    from trialsim.design.sizes import parse_sizes, power_curve
    from trialsim.execution import open_backend

    p = _protocol(protocol)
    if seed is not None:
        p = p.with_overrides(seed=seed, source="power()")
    n = parse_sizes(sizes if isinstance(sizes, str) else ",".join(map(str, sizes)), p)
    with open_backend(backend, workers, scheduler) as ex:
        return power_curve(p, n, replicates=replicates, precision=precision, target=target,
                           chunk=chunk, source="power()", backend=ex)


def compare(protocols: Sequence[str | Path], *, replicates: int | None = None,
            reference: str | None = None, delta: float = 0.1, seed: int | None = None,
            chunk: int = 50, workers: int = 1, backend: str | None = None,
            scheduler: str | None = None) -> Any:
    """Compare designs (files, or the ``[[design]]`` variants of a file) on common virtual
    patients: a :class:`~trialsim.design.compare.DesignComparison` (``workers``,
    ``backend``, ``scheduler``: as for :func:`simulate`)."""
    from trialsim.design.compare import compare_designs
    from trialsim.execution import open_backend
    from trialsim.variants import load_designs

    designs = load_designs([Path(x) for x in protocols], seed=seed)
    with open_backend(backend, workers, scheduler) as ex:
        return compare_designs(designs, replicates=replicates, reference=reference,
                               delta=delta, chunk=chunk, backend=ex)
