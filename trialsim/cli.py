"""The ``trialsim`` command: a thin layer over the Python API.

One error path: any :class:`~trialsim.errors.TrialsimError`, and any misuse of the command
line (an unknown option, ``--n abc``), becomes one line on stderr, ``error: …``, printed
literally (never as rich markup) with control characters escaped, and exit status 2.
SIGINT and SIGTERM unwind cleanly (no half-written run folder) and exit 130 / 143. Anything
else is a bug and keeps its traceback.

Protocols are read, validated and checked against the resource budget
(:mod:`trialsim.limits`) before the simulation's heavy imports, so a refusal takes well
under a second.
"""

from __future__ import annotations

import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

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
from rich.text import Text

from trialsim.errors import TrialsimError
from trialsim.interrupts import Interrupted
from trialsim.limits import MAX_CHUNK
from trialsim.messages import one_line, show_path

try:  # typer ≥ 0.20 vendors click
    from typer._click.exceptions import ClickException
except ImportError:  # pragma: no cover - older typer depends on click
    from click.exceptions import ClickException

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  rich_markup_mode=None,
                  help="Virtual clinical trials of low-dose IL-2 in systemic lupus.")
err = Console(stderr=True)
_PROTOCOL_ARG = typer.Argument(help="protocol TOML file")
_RUN_DIR_ARG = typer.Argument(help="a run folder written by trialsim run")
# Options shared by several commands (one definition, one help text).
_Out = Annotated[Path, typer.Option(help="root folder for run outputs")]
_Json = Annotated[bool, typer.Option("--json", help="print one JSON document")]
_Quiet = Annotated[bool, typer.Option(
    "--quiet", "-q", help="no progress bar (it is shown only on a terminal anyway)")]
_Chunk = Annotated[int, typer.Option(
    min=1, max=MAX_CHUNK, help="replicates per array chunk (lowered automatically to fit memory)")]


def _out() -> Console:
    """Standard output; piped output gets room for wide tables instead of 80 columns."""
    return Console() if sys.stdout.isatty() else Console(width=160)


def _say_error(message: str) -> None:
    """Write ``error: message`` as one literal line on stderr."""
    sys.stderr.write(f"error: {one_line(message)}\n")
    sys.stderr.flush()


def _emit(result: Any, run_dir: Path, json_out: bool) -> None:
    """Print a result that renders itself: its JSON document (with ``run_dir``) or its
    terminal tables and where the run folder went."""
    if json_out:
        doc = {**result.to_dict(), "run_dir": str(run_dir)}
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    else:
        console = _out()
        console.print(result)
        console.print(f"written to {run_dir}", style="dim", markup=False)


def _fail(exc: TrialsimError) -> typer.Exit:
    _say_error(str(exc))
    return typer.Exit(code=2)


def _print(text: str) -> None:
    """One literal, unwrapped line on stdout (paths may contain ``[`` and ``]``)."""
    sys.stdout.write(text + "\n")


def _bar(quiet: bool) -> bool:
    """A progress bar only on a terminal (never in CI logs or pipes) and without --quiet."""
    return not quiet and sys.stderr.isatty() and not os.environ.get("CI")


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
def validate(
    protocol: Annotated[Path, _PROTOCOL_ARG],
    json_out: _Json = False,
) -> None:
    """Check a protocol file (schema and resource budget) and describe it in one line."""
    from trialsim.limits import check_resources
    from trialsim.protocol import load_protocol

    try:
        p = load_protocol(protocol)
        check_resources(p, source=str(protocol))
    except TrialsimError as exc:
        raise _fail(exc) from None
    arms = ", ".join(f"{a.name} ({a.ratio})" for a in p.arms)
    if json_out:
        doc = {"protocol_file": str(protocol), "valid": True, "protocol": p.trial.name,
               "protocol_digest": p.digest(), "n": p.population.n,
               "arms": [{"name": a.name, "ratio": a.ratio} for a in p.arms],
               "endpoint": {"primary": p.endpoint.primary, "week": p.endpoint.week}}
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return
    _print(f"{show_path(protocol)}: valid — {p.trial.name}: n = {p.population.n}, arms "
           f"{arms}, {p.endpoint.primary} at week {p.endpoint.week:g}")


@app.command()
def run(
    protocol: Annotated[Path, _PROTOCOL_ARG],
    seed: Annotated[int | None, typer.Option(help="override [trial].seed")] = None,
    replicates: Annotated[int | None, typer.Option(
        help="override [trial].replicates (simulated trials for power)")] = None,
    n: Annotated[int | None, typer.Option(help="override [population].n")] = None,
    out: _Out = Path("outputs"),
    json_out: _Json = False,
    quiet: _Quiet = False,
    chunk: _Chunk = 50,
    conditional: Annotated[bool, typer.Option(
        "--conditional", help="fix the between-trial placebo response at its typical value "
        "(conditional power) instead of drawing it per trial (predictive power)")] = False,
    latent: Annotated[bool, typer.Option(
        "--latent", help="also write latent.csv: every visit including those after dropout, "
        "with the model's latent activity (values no trial records)")] = False,
) -> None:
    """Simulate a trial (or many) and write a run folder in OUT.

    With several replicates, power is predictive (each simulated trial draws its placebo
    response from the between-trial distribution) and the JSON also gives the conditional
    power of the same replicates; --conditional reports conditional power only."""
    from trialsim.limits import check_resources
    from trialsim.protocol import load_protocol

    try:
        p = load_protocol(protocol)
        source = str(protocol)
        if seed is not None or replicates is not None or n is not None or conditional:
            source = f"{protocol} (with command-line overrides)"
            p = p.with_overrides(seed=seed, replicates=replicates, n=n,
                                 between_trial=False if conditional else None, source=source)
        chunk = check_resources(p, chunk, source)
    except TrialsimError as exc:
        raise _fail(exc) from None

    from trialsim.api import simulate_protocol
    from trialsim.outputs import write_run
    from trialsim.report import render_run

    try:
        total = p.trial.replicates
        with _progress(total, "simulating trials", _bar(quiet)) as tick:
            res = simulate_protocol(p, chunk=chunk, progress=tick, source=source,
                                    protocol_file=str(protocol))
        summary = res.document
        run_dir = write_run(out, p, res.design, summary, protocol, replicates=res.replicates,
                            latent=latent)
    except TrialsimError as exc:
        raise _fail(exc) from None
    summary["run_dir"] = str(run_dir)
    if json_out:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    else:
        render_run(_out(), p, res.design, summary)
        _print(f"report: {run_dir / 'report.html'}")


@app.command()
def report(
    run_dir: Annotated[Path, _RUN_DIR_ARG],
    json_out: _Json = False,
) -> None:
    """Rebuild report.html of a run folder from the folder's files."""
    from trialsim.errors import OutputError
    from trialsim.reports import write_run_report

    try:
        if not (run_dir / "summary.json").is_file() or not (run_dir / "patients.csv").is_file():
            raise OutputError(f"{show_path(run_dir)}: not a run folder of trialsim run "
                              "(summary.json and patients.csv are needed).")
        path = write_run_report(run_dir)
    except TrialsimError as exc:
        raise _fail(exc) from None
    except OSError as exc:
        raise _fail(OutputError(f"{show_path(run_dir)}: cannot write report.html "
                                f"({exc.strerror or exc}).")) from None
    if json_out:
        sys.stdout.write(json.dumps({"run_dir": str(run_dir), "report": str(path)}) + "\n")
    else:
        _print(f"wrote {path}")


@app.command()
def power(
    protocol: Annotated[Path, _PROTOCOL_ARG],
    n: Annotated[str, typer.Option(
        "--n", help="total sizes: start:stop:step (inclusive) or a list, e.g. 40:240:20")],
    target: Annotated[float, typer.Option(help="power the sample size must reach")] = 0.8,
    replicates: Annotated[int | None, typer.Option(
        min=2, help="simulated trials per size (default: the protocol's replicates)")] = None,
    precision: Annotated[float | None, typer.Option(
        help="add replicates until every size's Monte-Carlo SE is at most this")] = None,
    seed: Annotated[int | None, typer.Option(help="override the protocol's seed")] = None,
    out: _Out = Path("outputs"),
    json_out: _Json = False,
    quiet: _Quiet = False,
    chunk: _Chunk = 50,
    conditional: Annotated[bool, typer.Option(
        "--conditional", help="conditional power only (typical placebo response), "
        "instead of predictive power plus conditional power")] = False,
) -> None:
    """Power at each sample size, the size for a target power, and a power-curve plot.

    Power is predictive (assurance over the between-trial placebo response) with the
    conditional power of the same replicates alongside; --conditional gives only the latter."""
    from trialsim.design.sizes import parse_sizes, power_curve
    from trialsim.limits import check_resources
    from trialsim.outputs import write_power
    from trialsim.protocol import load_protocol

    try:
        p = load_protocol(protocol)
        if seed is not None or conditional:
            p = p.with_overrides(seed=seed, between_trial=False if conditional else None,
                                 source=f"{protocol} (with command-line overrides)")
        sizes = parse_sizes(n, p)
        chunk = check_resources(p.with_overrides(n=max(sizes), source=str(protocol)), chunk,
                                str(protocol))
        with _progress(1, "simulating sizes", _bar(quiet)) as tick:
            curve = power_curve(p, sizes, replicates=replicates, precision=precision,
                                target=target, chunk=chunk, progress=tick,
                                source=str(protocol))
        run_dir = write_power(out, curve, protocol)
    except TrialsimError as exc:
        raise _fail(exc) from None
    _emit(curve, run_dir, json_out)


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
    out: _Out = Path("outputs"),
    json_out: _Json = False,
    quiet: _Quiet = False,
    chunk: _Chunk = 50,
) -> None:
    """Compare designs on the same virtual patients: ranked power, paired differences."""
    from trialsim.design.compare import compare_designs
    from trialsim.limits import check_resources
    from trialsim.outputs import write_compare
    from trialsim.variants import load_designs

    try:
        designs = load_designs(protocols, seed=seed)
        chunk = min(check_resources(d.protocol, chunk, d.source) for d in designs)
        with _progress(1, "simulating designs", _bar(quiet)) as tick:
            result = compare_designs(designs, replicates=replicates, reference=reference,
                                     delta=delta, chunk=chunk, progress=tick)
        run_dir = write_compare(out, result, designs)
    except TrialsimError as exc:
        raise _fail(exc) from None
    _emit(result, run_dir, json_out)


@app.command()
def rerun(
    run_dir: Annotated[Path, _RUN_DIR_ARG],
    json_out: _Json = False,
    quiet: _Quiet = False,
) -> None:
    """Re-run a run folder's protocol with its recorded seed; compare with its summary.

    Exit status 0 when every recorded result is reproduced, 1 when any differs.
    """
    from trialsim.limits import check_resources
    from trialsim.rerun import load_run, rerun_run

    try:
        recorded = load_run(run_dir)
        chunk = check_resources(recorded.protocol, source=str(run_dir / "protocol.toml"))
        total = recorded.protocol.trial.replicates
        with _progress(total, "re-simulating trials", _bar(quiet)) as tick:
            report = rerun_run(recorded, chunk=chunk, progress=tick)
    except TrialsimError as exc:
        raise _fail(exc) from None
    if json_out:
        sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")
    else:
        _print(report.describe())
    if not report.match:
        raise typer.Exit(code=1)


@app.command()
def calibrate(
    replicates: Annotated[int, typer.Option(
        min=2, max=100_000, help="simulated trials per protocol")] = 200,
    json_out: _Json = False,
    quiet: _Quiet = False,
    strict: Annotated[bool, typer.Option(help="exit 1 when any target fails")] = False,
    fit: Annotated[bool, typer.Option(
        "--fit", help="refit the between-trial SD ensemble to the published placebo arms and "
        "write trialsim/data/between_trial.json (about 5 minutes on 2 cores)")] = False,
    out: Annotated[Path, typer.Option(
        help="root folder for run outputs (the report goes to OUT/calibrate/)")] = Path("outputs"),
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
        with _progress(2 * replicates, "calibrating", _bar(quiet)) as tick:
            checks = run_calibration(replicates, progress=tick)
        from trialsim.outputs import write_calibrate

        run_dir = write_calibrate(out, checks, replicates)
    except TrialsimError as exc:
        raise _fail(exc) from None
    passed = sum(1 for c in checks if c.passed)
    if json_out:
        doc = {"replicates": replicates, "passed": passed, "total": len(checks),
               "targets": [c.to_dict() for c in checks], "run_dir": str(run_dir)}
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    else:
        t = Table(title=f"Calibration over {replicates} simulated trials per protocol")
        for col in ("target", "what", "published", "interval", "simulated", "pass"):
            t.add_column(col)
        for c in checks:
            iv = f"{c.interval[0]:g} – {c.interval[1]:g}" if c.interval else ""
            t.add_row(c.id, c.what, str(c.published), iv, str(c.simulated),
                      Text("pass", style="green") if c.passed else Text("FAIL", style="red"))
        _out().print(t)
        _print(f"{passed} of {len(checks)} targets reproduced")
        _print(f"written to {run_dir}")
    if strict and passed < len(checks):
        raise typer.Exit(code=1)


def _usage_error(exc: ClickException) -> int:
    """A command-line mistake as one line; ``trialsim`` alone still prints the help."""
    ctx = getattr(exc, "ctx", None)
    if type(exc).__name__ == "NoArgsIsHelpError":  # the help has been printed
        return exc.exit_code
    where = f"{ctx.command_path}: " if ctx is not None else ""
    hint = f" (see {ctx.command_path} --help)" if ctx is not None else ""
    _say_error(f"{where}{exc.format_message()}{hint}")
    return exc.exit_code


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    from trialsim.interrupts import install

    install()
    try:
        code = app(args=argv, prog_name="trialsim", standalone_mode=False)
    except ClickException as exc:
        code = _usage_error(exc)
    except Interrupted as exc:
        _say_error(f"{exc}; no run folder was left half-written.")
        code = exc.exit_code
    except Exception:
        from trialsim.interrupts import received

        got = received()     # a signal wrapped by library code (e.g. a pydantic serialiser)
        if got is None:
            raise
        _say_error(f"{got}; no run folder was left half-written.")
        code = got.exit_code
    except typer.Abort:  # end of input at a prompt
        _say_error("aborted.")
        code = 1
    sys.exit(code if isinstance(code, int) else 0)
