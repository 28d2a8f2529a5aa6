"""``make bench``: speed and accuracy figures, printed and merged into bench/results.json.

Each benchmark module's ``measure()`` (:mod:`trialsim.benchmarks`) returns a flat dict; the
keys are merged into an existing ``bench/results.json`` (other benchmarks' keys are kept),
so the file always holds the latest figure of every field. Targets are those of issue 9.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from trialsim.benchmarks import model as model_bench
from trialsim.benchmarks import pipeline as pipeline_bench

RESULTS = Path("bench") / "results.json"


def merge_results(path: Path, new: dict[str, Any]) -> dict[str, Any]:
    """Update ``path``'s JSON object with ``new`` (written atomically) and return it."""
    old: dict[str, Any] = {}
    if path.is_file():
        try:
            old = json.loads(path.read_text("utf-8"))
        except json.JSONDecodeError:
            old = {}
    merged = {**old, **new}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(merged, indent=2, sort_keys=True) + "\n", "utf-8")
    tmp.replace(path)
    return merged


def _fmt(value: float) -> str:
    if isinstance(value, int) or abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def _target_rows(table: Table, targets: dict[str, tuple[str, float]],
                 r: dict[str, Any]) -> None:
    """Columns and one row per target figure: value, target, ratio (> 1 is better), verdict."""
    for col in ("figure", "value", "target", "ratio", ""):
        table.add_column(col, justify="left" if col == "figure" else "right")
    for name, (op, target) in targets.items():
        if name not in r:
            continue
        value = r[name]
        ratio = value / target if op == ">=" else target / max(value, 1e-300)
        ok = value >= target if op == ">=" else value <= target
        table.add_row(name, _fmt(value), f"{op} {_fmt(target)}", f"{ratio:.2f}×",
                      "[green]ok[/]" if ok else "[red]missed[/]")
    table.add_section()


def pipeline_table(r: dict[str, Any]) -> Table:
    """The whole-command figures against their targets."""
    table = Table(title=f"trialsim pipeline: default protocol, {r['pipeline_workers']} "
                        "workers (simulation time; start-up excluded)")
    _target_rows(table, pipeline_bench.TARGETS, r)
    table.add_row("whole command patients·days/s (start-up, folder, report included)",
                  _fmt(r["pipeline_command_patient_days_per_s"]), "", "", "")
    table.add_row("run --replicates 1000: wall s / simulation s",
                  f"{r['pipeline_wall_s']:g} / {r['pipeline_simulation_s']:g}", "", "", "")
    return table


def model_table(r: dict[str, Any]) -> Table:
    """The model figures against their targets, with the ratio to each target."""
    table = Table(title=f"trialsim model kernel: {r['model_patients']:,} patients × "
                        f"{r['model_days']:g} days, He 2020 regimen "
                        f"(load {r['load_average_1min'][0]:g} on {r['cores']} cores)")
    _target_rows(table, model_bench.TARGETS, r)
    table.add_row(f"patients·days/s, {r['model_threads']} thread(s)",
                  _fmt(r["patient_days_per_s"]), "", "", "")
    table.add_row("patients·days/s, 1 thread", _fmt(r["patient_days_per_s_1_thread"]),
                  "", "", "")
    table.add_row("model seconds (default / 1 thread)",
                  f"{r['model_s']:.2f} / {r['model_s_1_thread']:.2f}", "", "", "")
    table.add_row("reference s/patient vs kernel s/patient",
                  f"{r['reference_s_per_patient']:.3g} / {r['kernel_s_per_patient']:.2g}",
                  "", "", "")
    table.add_row("JIT compile s (serial, threaded)",
                  ", ".join(f"{v:g}" for v in r["jit_compile_s"].values()), "", "", "")
    table.add_row("largest state error in",
                  f"{r['max_relative_state_error_state']}", "", "", "")
    return table


BENCHMARKS: list[tuple[str, Callable[[], dict[str, Any]], Callable[[dict], Table]]] = [
    ("model", model_bench.measure, model_table),
    ("pipeline", pipeline_bench.measure, pipeline_table),
]


def main(argv: list[str] | None = None) -> None:
    console = Console()
    t0 = time.perf_counter()
    results: dict[str, Any] = {}
    for name, measure, render in BENCHMARKS:
        console.print(f"[bold]measuring {name}…[/]")
        r = measure()
        results.update(r)
        console.print(render(r))
    results["bench_total_s"] = round(time.perf_counter() - t0, 1)
    results["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    path = Path(argv[0]) if argv else RESULTS
    merge_results(path, results)
    console.print(f"wrote {path} ({results['bench_total_s']:g} s)")


if __name__ == "__main__":
    main(sys.argv[1:])
