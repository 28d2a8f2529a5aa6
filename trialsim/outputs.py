"""Run folders in ``outputs/``: written whole or not at all.

``outputs/<trial>/<UTC time>-<protocol digest>/`` holds what a command produced (for ``run``:
the protocol as run, the original protocol file, ``summary.json``, ``patients.csv`` and
``visits.csv``). Everything is written into a hidden temporary folder beside it and renamed
into place at the end, so a crash or Ctrl-C leaves no half-written run; an existing run is
never overwritten.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from trialsim.errors import OutputError
from trialsim.protocol import Protocol, protocol_to_toml


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


@contextmanager
def run_folder(out_root: Path, protocol: Protocol) -> Iterator[RunFolder]:
    """Yield a :class:`RunFolder`; on normal exit rename it into place, else remove it."""
    parent = Path(out_root) / protocol.trial.name
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{parent}: cannot create the output folder ({exc.strerror}).") \
            from None
    base = run_folder_name(protocol)
    final = parent / base
    k = 1
    while final.exists():
        k += 1
        final = parent / f"{base}-{k}"
    try:
        tmp = Path(tempfile.mkdtemp(prefix=".partial-", dir=parent))
    except OSError as exc:
        raise OutputError(f"{parent}: cannot write a run folder ({exc.strerror}).") from None
    try:
        yield RunFolder(tmp, final)
        tmp.rename(final)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise OutputError(f"{final}: writing the run failed ({exc}).") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_run(out_root: Path, protocol: Protocol, result: Any,
              summary: dict[str, Any], protocol_file: Path | None = None) -> Path:
    """Write a complete ``run`` folder atomically and return its path.

    ``result`` is a :class:`~trialsim.design.DesignResult`; ``summary['run_dir']`` is filled
    in with the final path before it is written.
    """
    with run_folder(out_root, protocol) as run:
        run.write_protocol(protocol, protocol_file)
        run.write_json("summary.json", {**summary, "run_dir": str(run.path)})
        result.first.patient_table().to_csv(run.tmp / "patients.csv", index=False)
        visits = result.first.visit_table()
        if visits is not None:
            visits.to_csv(run.tmp / "visits.csv", index=False)
    return run.path


def write_power(out_root: Path, curve: Any, protocol_file: Path | None = None) -> Path:
    """Write a ``power`` run folder: the protocol, ``power.json``, ``power.csv`` (one row per
    size, the confirming run last) and ``power_curve.png``; return its path."""
    import pandas as pd

    from trialsim.plots import power_curve_png

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
    return run.path


def write_compare(out_root: Path, comparison: Any, designs: Any) -> Path:
    """Write a ``compare`` run folder: ``compare.json``, ``compare.csv`` (one row per design,
    ranked), ``compare.png`` and each design's protocol under ``designs/``."""
    import pandas as pd

    from trialsim.plots import compare_png

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
        folder = run.tmp / "designs"
        folder.mkdir()
        for d in designs:
            (folder / f"{d.name}.toml").write_text(protocol_to_toml(d.protocol),
                                                   encoding="utf-8")
    return run.path
