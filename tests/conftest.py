"""Shared fixtures: paths to the shipped protocols and a runner for the real CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROTOCOLS = sorted((ROOT / "protocols").glob("*.toml"))


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m trialsim ARGS`` as a user would, capturing stdout and stderr."""
    return subprocess.run([sys.executable, "-m", "trialsim", *args], capture_output=True,
                          text=True, cwd=cwd or ROOT, timeout=600)


@pytest.fixture
def cli():
    return run_cli


# Property tests explore new examples on developers' machines; CI (CI=1, set by .ci/run)
# replays a fixed set so a landing never depends on the luck of the draw.
try:
    import os

    from hypothesis import settings

    settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
    settings.register_profile("dev", deadline=None)
    settings.load_profile("ci" if os.environ.get("CI") else "dev")
except ImportError:  # pragma: no cover - hypothesis is a test extra
    pass
