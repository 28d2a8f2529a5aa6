"""The ``trialsim`` command: a thin layer over the Python API.

Any :class:`~trialsim.errors.TrialsimError` becomes one line on stderr and exit status 2;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from trialsim.errors import TrialsimError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Virtual clinical trials of low-dose IL-2 in systemic lupus.")
err = Console(stderr=True)


def _out() -> Console:
    """Standard output; piped output gets room for wide tables instead of 80 columns."""
    return Console() if sys.stdout.isatty() else Console(width=160)


def _fail(exc: TrialsimError) -> typer.Exit:
    err.print(f"[bold red]error:[/bold red] {exc}", highlight=False, soft_wrap=True)
    return typer.Exit(code=2)


@contextmanager
def _progress(total: int, label: str, enabled: bool):
    """A rich progress bar on stderr (so ``--json`` stdout stays clean)."""
    if not enabled:
        yield lambda *_: None
        return
    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("eta"), TimeRemainingColumn(), console=err, transient=True) as bar:
        task = bar.add_task(label, total=total)

        def tick(k: int, new_total: int | None = None) -> None:
            # tick(k): k more done; tick(done, total): absolute, the total may grow.
            if new_total is None:
                bar.advance(task, k)
            else:
                bar.update(task, completed=k, total=new_total)

        yield tick


@app.command()
def validate(protocol: Annotated[Path, typer.Argument(help="protocol TOML file")]) -> None:
    """Check a protocol file and print a one-line description of it."""
    from trialsim.protocol import load_protocol

    try:
        p = load_protocol(protocol)
    except TrialsimError as exc:
        raise _fail(exc) from None
    arms = ", ".join(f"{a.name} ({a.ratio})" for a in p.arms)
    Console().print(f"{protocol}: valid — {p.trial.name}: n = {p.population.n}, arms {arms}, "
                    f"{p.endpoint.primary} at week {p.endpoint.week:g}", highlight=False)


@app.command()
def run(
    protocol: Annotated[Path, typer.Argument(help="protocol TOML file")],
    seed: Annotated[int | None, typer.Option(help="override [trial].seed")] = None,
    replicates: Annotated[int | None, typer.Option(
        help="override [trial].replicates (simulated trials for power)")] = None,
    n: Annotated[int | None, typer.Option(help="override [population].n")] = None,
    out: Annotated[Path, typer.Option(help="root folder for run outputs")] = Path("outputs"),
    json_out: Annotated[bool, typer.Option("--json", help="print one JSON document")] = False,
    chunk: Annotated[int, typer.Option(min=1, help="replicates per array chunk")] = 50,
    conditional: Annotated[bool, typer.Option(
        "--conditional", help="fix the between-trial placebo response at its typical value "
        "(conditional power) instead of drawing it per trial (predictive power)")] = False,
) -> None:
    """Simulate a trial (or many) and write a run folder in OUT.

    With several replicates, power is predictive (each simulated trial draws its placebo
    response from the between-trial distribution) and the JSON also gives the conditional
    power of the same replicates; --conditional reports conditional power only."""
    from trialsim.design import run_design
    from trialsim.outputs import write_run
    from trialsim.protocol import load_protocol
    from trialsim.report import render_run
    from trialsim.summary import summary_document

    try:
        p = load_protocol(protocol)
        if seed is not None or replicates is not None or n is not None or conditional:
            p = p.with_overrides(seed=seed, replicates=replicates, n=n,
                                 between_trial=False if conditional else None,
                                 source=f"{protocol} (with command-line overrides)")
        total = p.trial.replicates
        with _progress(total, "simulating trials", total > 1 and sys.stderr.isatty()) as tick:
            result = run_design(p, chunk=chunk, progress=tick, source=str(protocol),
                                conditional=True)
        summary = summary_document(p, result, protocol_file=str(protocol))
        run_dir = write_run(out, p, result, summary, protocol)
    except TrialsimError as exc:
        raise _fail(exc) from None
    summary["run_dir"] = str(run_dir)
    if json_out:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    else:
        render_run(_out(), p, result, summary)


@app.command()
def power(
    protocol: Annotated[Path, typer.Argument(help="protocol TOML file")],
    n: Annotated[str, typer.Option(
        "--n", help="total sizes: start:stop:step (inclusive) or a list, e.g. 40:240:20")],
    target: Annotated[float, typer.Option(help="power the sample size must reach")] = 0.8,
    replicates: Annotated[int | None, typer.Option(
        min=2, help="simulated trials per size (default: the protocol's replicates)")] = None,
    precision: Annotated[float | None, typer.Option(
        help="add replicates until every size's Monte-Carlo SE is at most this")] = None,
    seed: Annotated[int | None, typer.Option(help="override the protocol's seed")] = None,
    out: Annotated[Path, typer.Option(help="root folder for run outputs")] = Path("outputs"),
    json_out: Annotated[bool, typer.Option("--json", help="print one JSON document")] = False,
    chunk: Annotated[int, typer.Option(min=1, max=10_000,
                                       help="replicates per array chunk")] = 50,
    conditional: Annotated[bool, typer.Option(
        "--conditional", help="conditional power only (typical placebo response), "
        "instead of predictive power plus conditional power")] = False,
) -> None:
    """Power at each sample size, the size for a target power, and a power-curve plot.

    Power is predictive (assurance over the between-trial placebo response) with the
    conditional power of the same replicates alongside; --conditional gives only the latter."""
    from trialsim.design.sizes import parse_sizes, power_curve
    from trialsim.outputs import write_power
    from trialsim.protocol import load_protocol

    try:
        p = load_protocol(protocol)
        if seed is not None or conditional:
            p = p.with_overrides(seed=seed, between_trial=False if conditional else None,
                                 source=f"{protocol} (with command-line overrides)")
        sizes = parse_sizes(n, p)
        with _progress(1, "simulating sizes", sys.stderr.isatty()) as tick:
            curve = power_curve(p, sizes, replicates=replicates, precision=precision,
                                target=target, chunk=chunk, progress=tick,
                                source=str(protocol))
        run_dir = write_power(out, curve, protocol)
    except TrialsimError as exc:
        raise _fail(exc) from None
    doc = {**curve.to_dict(), "run_dir": str(run_dir)}
    if json_out:
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    else:
        console = _out()
        console.print(curve)
        console.print(f"written to {run_dir}", style="dim", markup=False)


@app.command()
def compare(
    protocols: Annotated[list[Path], typer.Argument(
        help="protocol files; a file with [[design]] variants gives one design per variant")],
    replicates: Annotated[int | None, typer.Option(
        min=2, help="simulated trials per design (default: the first protocol's)")] = None,
    reference: Annotated[str | None, typer.Option(
        help="design the others are compared with (default: the first)")] = None,
    delta: Annotated[float, typer.Option(
        help="smallest clinically relevant difference, for the minimum effective dose")] = 0.1,
    seed: Annotated[int | None, typer.Option(
        help="seed for every design (default: the first protocol's)")] = None,
    out: Annotated[Path, typer.Option(help="root folder for run outputs")] = Path("outputs"),
    json_out: Annotated[bool, typer.Option("--json", help="print one JSON document")] = False,
    chunk: Annotated[int, typer.Option(min=1, max=10_000,
                                       help="replicates per array chunk")] = 50,
) -> None:
    """Compare designs on the same virtual patients: ranked power, paired differences."""
    from trialsim.design.compare import compare_designs
    from trialsim.outputs import write_compare
    from trialsim.variants import load_designs

    try:
        designs = load_designs(protocols, seed=seed)
        with _progress(1, "simulating designs", sys.stderr.isatty()) as tick:
            result = compare_designs(designs, replicates=replicates, reference=reference,
                                     delta=delta, chunk=chunk, progress=tick)
        run_dir = write_compare(out, result, designs)
    except TrialsimError as exc:
        raise _fail(exc) from None
    doc = {**result.to_dict(), "run_dir": str(run_dir)}
    if json_out:
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    else:
        console = _out()
        console.print(result)
        console.print(f"written to {run_dir}", style="dim", markup=False)


@app.command()
def calibrate(
    replicates: Annotated[int, typer.Option(min=2, help="simulated trials per protocol")] = 200,
    json_out: Annotated[bool, typer.Option("--json", help="print one JSON document")] = False,
    strict: Annotated[bool, typer.Option(help="exit 1 when any target fails")] = False,
    fit: Annotated[bool, typer.Option(
        "--fit", help="refit the between-trial SD ensemble to the published placebo arms and "
        "write trialsim/data/between_trial.json (about 5 minutes on 2 cores)")] = False,
) -> None:
    """Compare the default model with the published trials (He 2020, BLISS, TULIP, and the
    placebo arms of 12 SLE trials)."""
    from trialsim.calibration import run_calibration

    if fit:
        from importlib import resources

        from trialsim.model.trial_effects import load_ensemble
        from trialsim.placebo_trials import fit as fit_between_trial

        doc = fit_between_trial(progress=lambda tid: err.print(f"tabulated {tid}"))
        path = Path(str(resources.files("trialsim").joinpath("data/between_trial.json")))
        path.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
        load_ensemble.cache_clear()
        err.print(f"wrote {path}: df {doc['df']}, sigma_T median {doc['sd_median']:.3f} "
                  f"(95% {doc['sd_ci95'][0]:.3f}-{doc['sd_ci95'][1]:.3f}), {doc['seconds']} s")
    try:
        with _progress(2 * replicates, "calibrating", sys.stderr.isatty()) as tick:
            checks = run_calibration(replicates, progress=tick)
    except TrialsimError as exc:
        raise _fail(exc) from None
    passed = sum(1 for c in checks if c.passed)
    if json_out:
        doc = {"replicates": replicates, "passed": passed, "total": len(checks),
               "targets": [c.to_dict() for c in checks]}
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    else:
        t = Table(title=f"Calibration over {replicates} simulated trials per protocol")
        for col in ("target", "what", "published", "interval", "simulated", "pass"):
            t.add_column(col)
        for c in checks:
            iv = f"{c.interval[0]:g} – {c.interval[1]:g}" if c.interval else ""
            t.add_row(c.id, c.what, str(c.published), iv, str(c.simulated),
                      "[green]pass[/green]" if c.passed else "[red]FAIL[/red]")
        Console().print(t)
        Console().print(f"{passed} of {len(checks)} targets reproduced")
    if strict and passed < len(checks):
        raise typer.Exit(code=1)


def main() -> None:
    """Console-script entry point."""
    app()
