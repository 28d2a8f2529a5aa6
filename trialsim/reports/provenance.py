"""Where a result came from: trialsim version, git commit, protocol digest, seed, date,
run time and machine (recorded in ``summary.json`` and shown in every report)."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any


def version() -> str:
    try:
        return metadata.version("trialsim")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "unknown"


@cache
def git_commit() -> str | None:
    """The commit of the source checkout trialsim runs from (``+dirty`` with local edits),
    or ``None`` outside a git checkout."""
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return None
    try:
        sha = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain",
                                "--untracked-files=no"], capture_output=True, text=True,
                               timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{sha}+dirty" if dirty else sha or None


def provenance(digest: str, seed: int, started: datetime, seconds: float) -> dict[str, Any]:
    """The provenance block of a result document."""
    return {
        "trialsim_version": version(),
        "git_commit": git_commit(),
        "protocol_digest": digest,
        "seed": seed,
        "started_utc": started.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "run_seconds": round(seconds, 2),
        "machine": {"host": platform.node(), "platform": platform.platform(),
                    "python": platform.python_version(), "cpus": os.cpu_count()},
    }
