"""Run folders in ``outputs/``: written whole or not at all.

``outputs/<trial>/<UTC time>-<protocol digest>/`` holds what a command produced (for ``run``:
the protocol as run, the original protocol file, ``summary.json``, ``patients.csv`` and
``visits.csv``). Everything is written into a hidden folder ``.partial-<name>`` beside it and
renamed into place at the end, so a crash, Ctrl-C or SIGTERM leaves no half-written run; an
existing run is never overwritten.

Claiming a name is race-free between simultaneous runs: a run owns ``<name>`` once it has
created ``.partial-<name>`` (``mkdir`` is atomic) and seen that ``<name>`` does not exist;
only the owner renames into ``<name>``, so two runs of the same protocol in the same second
end in ``<name>`` and ``<name>-2``. The final path is therefore known before anything is
written (``summary.json`` records it).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from trialsim.errors import OutputError
from trialsim.interrupts import deferred
from trialsim.messages import show_path
from trialsim.protocol import Protocol, protocol_to_toml

PARTIAL_PREFIX = ".partial-"
_MAX_SUFFIX = 10_000


def run_folder_name(protocol: Protocol, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{protocol.digest()}"


@dataclass(frozen=True)
class RunFolder:
    """A run folder being written: files go into ``tmp``; ``path`` is where it will land."""

    tmp: Path
    path: Path

    def write_json(self, name: str, doc: Any) -> None:
        (self.tmp / name).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")

    def write_protocol(self, protocol: Protocol, protocol_file: Path | None) -> None:
        """The protocol as run and, when it is a regular file, the file as given."""
        (self.tmp / "protocol.toml").write_text(protocol_to_toml(protocol), encoding="utf-8")
        if protocol_file is not None and protocol_file.is_file():
            shutil.copyfile(protocol_file, self.tmp / "protocol.original.toml")


def _claim(parent: Path, base: str) -> tuple[Path, Path]:
    """Create ``parent/.partial-<name>`` for the first free ``name`` of ``base``,
    ``base-2``, …; return it and the final path it will be renamed to."""
    for k in range(1, _MAX_SUFFIX + 1):
        name = base if k == 1 else f"{base}-{k}"
        final = parent / name
        if os.path.lexists(final):
            continue
        tmp = parent / f"{PARTIAL_PREFIX}{name}"
        try:
            os.mkdir(tmp)
        except FileExistsError:
            continue                       # another run is writing this name
        except OSError as exc:
            raise OutputError(f"{show_path(parent)}: cannot write a run folder "
                              f"({exc.strerror}).") from None
        if os.path.lexists(final):         # another run finished it since we looked
            os.rmdir(tmp)
            continue
        return tmp, final
    raise OutputError(f"{show_path(parent)}: {_MAX_SUFFIX} run folders named {base}* "
                      "already exist.")


def run_folder(out_root: Path, protocol: Protocol) -> Any:
    """Yield a :class:`RunFolder` for ``protocol`` in ``out_root/<trial name>/``; on normal
    exit rename it into place, else remove it."""
    return named_run_folder(out_root, protocol.trial.name, run_folder_name(protocol))


@contextmanager
def named_run_folder(out_root: Path, group: str, base: str) -> Iterator[RunFolder]:
    """Yield a :class:`RunFolder` ``out_root/group/base``; on normal exit rename it into
    place, else remove it.

    Signals (see :mod:`trialsim.interrupts`) are held while the name is claimed, while the
    folder is renamed into place and while a temporary folder is removed.
    """
    parent = Path(out_root) / group
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{show_path(parent)}: cannot create the output folder "
                          f"({exc.strerror}).") from None
    tmp: Path | None = None
    published = False
    try:
        with deferred():
            tmp, final = _claim(parent, base)
        try:
            yield RunFolder(tmp, final)
            with deferred():
                os.rename(tmp, final)
                published = True
        except OSError as exc:
            raise OutputError(f"{show_path(final)}: writing the run failed "
                              f"({exc.strerror or exc}).") from None
    except BaseException:
        if tmp is not None and not published:
            with deferred():
                shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_run(out_root: Path, protocol: Protocol, result: Any,
              summary: dict[str, Any], protocol_file: Path | None = None,
              replicates: Any = None, latent: bool = False) -> Path:
    """Write a complete ``run`` folder atomically and return its path.

    ``result`` is a :class:`~trialsim.design.DesignResult`; ``summary['run_dir']`` is filled
    in with the final path before it is written. ``replicates`` (a DataFrame of the
    per-replicate effects) is written as ``replicates.csv`` when there are several;
    ``latent`` adds ``latent.csv`` (every visit, values after dropout and the model's latent
    activity included: what no trial records). The folder ends with ``report.html`` built
    from its own files.
    """
    from trialsim.reports import write_run_report

    with run_folder(out_root, protocol) as run:
        run.write_protocol(protocol, protocol_file)
        run.write_json("summary.json", {**summary, "run_dir": str(run.path)})
        result.first.patient_table().to_csv(run.tmp / "patients.csv", index=False)
        visits = result.first.visit_table()
        if visits is not None:
            visits.to_csv(run.tmp / "visits.csv", index=False)
        del visits                         # the report reads what it needs back
        hidden = result.first.visit_table(latent=True) if latent else None
        if hidden is not None:
            hidden.to_csv(run.tmp / "latent.csv", index=False)
        del hidden
        if replicates is not None and protocol.trial.replicates > 1:
            replicates.to_csv(run.tmp / "replicates.csv", index=False)
        write_run_report(run.tmp)
    return run.path


def write_power(out_root: Path, curve: Any, protocol_file: Path | None = None) -> Path:
    """Write a ``power`` run folder: the protocol, ``power.json``, ``power.csv`` (one row per
    size, the confirming run last) and ``power_curve.png``; return its path."""
    import pandas as pd

    from trialsim.plots import power_curve_png
    from trialsim.reports.others import power_report_html

    protocol = curve.protocol
    with run_folder(out_root, protocol) as run:
        run.write_protocol(protocol, protocol_file)
        run.write_json("power.json", {**curve.to_dict(), "run_dir": str(run.path)})
        rows = [*curve.rows, *([curve.confirm] if curve.confirm is not None else [])]
        table = pd.DataFrame([{
            "n": r.n, "n_per_arm": "/".join(map(str, r.n_per_arm)), "power": r.power,
            "power_se": r.power_se, "ci95_low": r.ci95[0], "ci95_high": r.ci95[1],
            "analytic_power": r.analytic_power,
            **{f"rate_{k}": v for k, v in r.mean_rates.items()},
            "mean_difference": r.mean_difference, "expected_screened": r.expected_screened,
            "confirm": i >= len(curve.rows)} for i, r in enumerate(rows)])
        table.to_csv(run.tmp / "power.csv", index=False)
        power_curve_png(curve, run.tmp / "power_curve.png")
        png = (run.tmp / "power_curve.png").read_bytes()
        (run.tmp / "report.html").write_text(power_report_html(curve, png, run.path),
                                             encoding="utf-8")
    return run.path


def write_compare(out_root: Path, comparison: Any, designs: Any) -> Path:
    """Write a ``compare`` run folder: ``compare.json``, ``compare.csv`` (one row per design,
    ranked), ``compare.png`` and each design's protocol under ``designs/``."""
    import pandas as pd

    from trialsim.plots import compare_png
    from trialsim.reports.others import compare_report_html

    base = designs[0].protocol
    with run_folder(out_root, base) as run:
        run.write_json("compare.json", {**comparison.to_dict(), "run_dir": str(run.path)})
        flat = []
        for r in comparison.rows:
            row = {k: v for k, v in vars(r).items()
                   if not isinstance(v, dict | list) or k == "ci95"}
            row["ci95"] = "–".join(f"{x:.4f}" for x in r.ci95)
            row.update({f"rate_{k}": v for k, v in r.mean_rates.items()})
            flat.append(row)
        pd.DataFrame(flat).to_csv(run.tmp / "compare.csv", index=False)
        compare_png(comparison, run.tmp / "compare.png")
        png = (run.tmp / "compare.png").read_bytes()
        digests = ", ".join(f"{d.name} {d.protocol.digest()}" for d in designs)
        (run.tmp / "report.html").write_text(
            compare_report_html(comparison, png, run.path, digests), encoding="utf-8")
        folder = run.tmp / "designs"
        folder.mkdir()
        for d in designs:
            (folder / f"{d.name}.toml").write_text(protocol_to_toml(d.protocol),
                                                   encoding="utf-8")
    return run.path


def write_calibrate(out_root: Path, checks: list[Any], replicates: int) -> Path:
    """Write a ``calibrate`` run folder in ``out_root/calibrate/``: ``calibrate.json``,
    ``calibrate.csv`` (one row per target), ``calibrate.png`` (forest-style plot) and
    ``report.html``; return its path."""
    import pandas as pd

    from trialsim.reports.others import calibrate_png, calibrate_report_html

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    with named_run_folder(out_root, "calibrate", f"{stamp}-r{replicates}") as run:
        passed = sum(1 for c in checks if c.passed)
        run.write_json("calibrate.json", {"replicates": replicates, "passed": passed,
                                          "total": len(checks),
                                          "targets": [c.to_dict() for c in checks],
                                          "run_dir": str(run.path)})
        rows = []
        for c in checks:
            d = c.to_dict()
            iv = d.pop("interval")
            rows.append({**d, "interval_low": iv[0] if iv else None,
                         "interval_high": iv[1] if iv else None})
        pd.DataFrame(rows).to_csv(run.tmp / "calibrate.csv", index=False)
        png = calibrate_png(checks)
        (run.tmp / "calibrate.png").write_bytes(png)
        (run.tmp / "report.html").write_text(
            calibrate_report_html(checks, replicates, png, run.path), encoding="utf-8")
    return run.path
