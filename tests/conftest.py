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
