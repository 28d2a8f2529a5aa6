"""Re-run a run folder and check that it reproduces what it recorded.

A run folder holds ``protocol.toml`` (the protocol as run, overrides included) and
``summary.json`` (its results and seed). :func:`rerun_run` simulates the protocol copy
again with the recorded seed and compares every recorded result (the whole summary but
``run_dir`` and ``protocol_file``, which name places, not results). Replicate r always
draws from the r-th child of the seed, so an untouched folder reproduces exactly; an
edited protocol copy shows up as a different ``protocol_digest`` and, usually, results.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trialsim.errors import OutputError
from trialsim.files import read_small_text
from trialsim.messages import show_path
from trialsim.protocol import Protocol, load_protocol

MAX_SUMMARY_BYTES = 50_000_000
NOT_RESULTS = ("run_dir", "protocol_file", "provenance")


@dataclass(frozen=True)
class RecordedRun:
    """A run folder as found on disk."""

    path: Path
    protocol: Protocol          # protocol.toml, with the recorded seed
    summary: dict[str, Any]     # summary.json


def _read_summary(path: Path) -> dict[str, Any]:
    text = read_small_text(path, limit=MAX_SUMMARY_BYTES, error=OutputError, noun="summary",
                           kind="JSON",
                           missing="missing; is this a folder written by trialsim run?")
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        raise OutputError(f"{show_path(path)}: is not valid JSON.") from None
    if not isinstance(doc, dict):
        raise OutputError(f"{show_path(path)}: is not a summary written by trialsim run.")
    return doc


def load_run(run_dir: str | Path) -> RecordedRun:
    """Read a run folder's protocol copy and summary; the protocol gets the recorded seed."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise OutputError(f"{show_path(run_dir)}: no such run folder.")
    summary = _read_summary(run_dir / "summary.json")
    protocol = load_protocol(run_dir / "protocol.toml")
    seed = summary.get("seed", protocol.trial.seed)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise OutputError(f"{show_path(run_dir / 'summary.json')}: seed must be an integer "
                          ">= 0.")
    if seed != protocol.trial.seed:
        protocol = protocol.with_overrides(seed=seed, source=str(run_dir / "protocol.toml"))
    return RecordedRun(run_dir, protocol, summary)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


@dataclass(frozen=True)
class RerunReport:
    """Whether re-running reproduced the recorded summary, and which entries differ."""

    run_dir: Path
    seed: int
    compared: tuple[str, ...]
    differing: tuple[str, ...]
    recorded_digest: str | None
    rerun_digest: str
    rerun_summary: dict[str, Any] = field(repr=False)

    @property
    def match(self) -> bool:
        return not self.differing

    def describe(self) -> str:
        where = show_path(self.run_dir)
        if self.match:
            return (f"{where}: match — re-running protocol.toml with seed {self.seed} "
                    f"reproduced all {len(self.compared)} recorded entries of summary.json.")
        why = ""
        if self.recorded_digest != self.rerun_digest:
            why = (f" (protocol.toml is not the protocol that was run: digest "
                   f"{self.rerun_digest}, recorded {self.recorded_digest})")
        return (f"{where}: MISMATCH — re-running protocol.toml with seed {self.seed} differs "
                f"from summary.json in {', '.join(self.differing)}{why}.")

    def to_dict(self) -> dict[str, Any]:
        return {"run_dir": str(self.run_dir), "seed": self.seed, "match": self.match,
                "compared": list(self.compared), "differing": list(self.differing),
                "recorded_digest": self.recorded_digest, "rerun_digest": self.rerun_digest}


def rerun_run(recorded: RecordedRun, chunk: int = 50,
              progress: Any = None) -> RerunReport:
    """Simulate the recorded protocol again and compare with the recorded summary."""
    from trialsim.design import run_design
    from trialsim.summary import summary_document

    p = recorded.protocol
    result = run_design(p, chunk=chunk, source=str(recorded.path / "protocol.toml"),
                        conditional=True, progress=progress)   # as trialsim run does
    # Through JSON, as summary.json was written: tuples become lists, floats round-trip.
    again = json.loads(json.dumps(summary_document(p, result)))
    keys = sorted((set(again) | set(recorded.summary)) - set(NOT_RESULTS))
    differing = tuple(k for k in keys
                      if _canonical(again.get(k)) != _canonical(recorded.summary.get(k)))
    digest = recorded.summary.get("protocol_digest")
    return RerunReport(recorded.path, p.trial.seed, tuple(keys), differing,
                       digest if isinstance(digest, str) else None, p.digest(), again)
