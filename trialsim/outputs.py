"""Run folders in ``outputs/``: written whole or not at all.

``outputs/<trial>/<UTC time>-<protocol digest>/`` holds the protocol as run, the original
protocol file, ``summary.json``, ``patients.csv`` and ``visits.csv``. Everything is written
into a hidden temporary folder beside it and renamed into place at the end, so a crash or
Ctrl-C leaves no half-written run; an existing run is never overwritten.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from trialsim.design import DesignResult
from trialsim.errors import OutputError
from trialsim.protocol import Protocol, protocol_to_toml


def run_folder_name(protocol: Protocol, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{protocol.digest()}"


def write_run(out_root: Path, protocol: Protocol, result: DesignResult,
              summary: dict[str, Any], protocol_file: Path | None = None) -> Path:
    """Write a complete run folder atomically and return its path.

    ``summary['run_dir']`` is filled in with the final path before it is written.
    """
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
        summary = {**summary, "run_dir": str(final)}
        (tmp / "protocol.toml").write_text(protocol_to_toml(protocol), encoding="utf-8")
        if protocol_file is not None and protocol_file.is_file():
            shutil.copyfile(protocol_file, tmp / "protocol.original.toml")
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2) + "\n",
                                          encoding="utf-8")
        result.first.patient_table().to_csv(tmp / "patients.csv", index=False)
        result.first.visit_table().to_csv(tmp / "visits.csv", index=False)
        tmp.rename(final)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise OutputError(f"{final}: writing the run failed ({exc}).") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final
