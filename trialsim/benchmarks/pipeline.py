"""Speed and scale of the whole pipeline (issue 9): what ``make bench`` reports beyond the model.

Every figure is measured on the ``trialsim`` command in a fresh subprocess (as a user runs
it: start-up, imports, simulation, the run folder and its report all included), on the
default protocol (``protocols/ld-il2-vs-placebo.toml``: He 2020 design, 60 patients,
168 days to week 24), with ``--quiet --json`` and a temporary ``--out``:

* ``pipeline_patient_days_per_s``: ``run --replicates 1000 --workers 2``; patient-days =
  1,000 replicates × 60 patients × 168 days (each replicate is also simulated a second time
  with the typical trial effect for conditional power; that pass is in the time, not in the
  count), over the simulation's time as the command records it in ``provenance.run_seconds``:
  every stage of every replicate (enrolment, randomisation, model, visits, adverse events,
  analysis, operating characteristics) on 2 worker processes, without the interpreter's
  start-up and imports and without writing the run folder and its report
  (``pipeline_startup_included`` says so). ``pipeline_command_patient_days_per_s`` is the
  same count over the wall time of the whole command (``pipeline_wall_s``: start-up, the
  run folder and report.html included).
* ``power_sweep_s``: wall time of ``power --n 24:240:24 --replicates 1000 --workers 2``
  (10 sizes, predictive and conditional power, the confirming run, the folder and plot).
* ``peak_rss_mb_1m`` and ``wall_s_1m``: ``run --n 1000000`` (one trial of a million
  patients, simulated in patient chunks with its tables streamed to Parquet); peak resident
  memory of the process from ``os.wait4`` (the kernel's high-water mark, MB = 10⁶ bytes)
  and wall time, start-up included.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TARGETS = {   # issue 9 acceptance: (comparison, value)
    "pipeline_patient_days_per_s": (">=", 2_000_000),
    "power_sweep_s": ("<=", 60),
    "peak_rss_mb_1m": ("<=", 4_000),
    "wall_s_1m": ("<=", 120),
}
PROTOCOL = "ld-il2-vs-placebo.toml"
REPLICATES = 1000
WORKERS = 2
MILLION = 1_000_000


def _protocol_path() -> Path:
    from trialsim.calibration import protocol_dir

    return protocol_dir() / PROTOCOL


def run_command(args: list[str], timeout: float = 1800) -> tuple[dict[str, Any], float, float]:
    """Run ``python -m trialsim ARGS`` and return (its JSON document, wall seconds, peak RSS
    in MB). ``os.wait4`` gives this child's own high-water mark, not that of earlier ones."""
    env = {**os.environ, "CI": "1"}      # no progress bar
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([sys.executable, "-m", "trialsim", *args], stdout=out,
                                stderr=err, env=env)
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            proc.kill()
            raise
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise RuntimeError(f"trialsim {' '.join(args)} failed ({proc.returncode}): "
                               f"{err.read().decode(errors='replace')[-2000:]}")
        doc = json.loads(out.read())
    return doc, wall, usage.ru_maxrss * 1024 / 1e6     # ru_maxrss is in KiB on Linux


def measure(million: bool = True) -> dict[str, Any]:
    """The pipeline figures above (``million=False`` skips the million-patient run)."""
    from trialsim.protocol import load_protocol

    path = _protocol_path()
    p = load_protocol(path)
    patient_days = REPLICATES * p.population.n * p.horizon_days
    result: dict[str, Any] = {"pipeline_workers": WORKERS,
                              "pipeline_startup_included": False}
    with tempfile.TemporaryDirectory(prefix="trialsim-bench-") as tmp:
        doc, wall, _ = run_command(["run", str(path), "--replicates", str(REPLICATES),
                                    "--workers", str(WORKERS), "--quiet", "--json",
                                    "--out", tmp])
        sim = float(doc["provenance"]["run_seconds"])
        result.update(
            pipeline_patient_days=patient_days,
            pipeline_wall_s=round(wall, 2),
            pipeline_command_patient_days_per_s=round(patient_days / wall),
            pipeline_simulation_s=round(sim, 2),
            pipeline_patient_days_per_s=round(patient_days / sim))
        _, wall, _ = run_command(["power", str(path), "--n", "24:240:24", "--replicates",
                                  str(REPLICATES), "--workers", str(WORKERS), "--quiet",
                                  "--json", "--out", tmp])
        result["power_sweep_s"] = round(wall, 2)
        if million:
            doc, wall, rss = run_command(["run", str(path), "--n", str(MILLION), "--quiet",
                                          "--json", "--out", tmp])
            assert doc["cohort"]["enrolled"] == MILLION
            result.update(wall_s_1m=round(wall, 2), peak_rss_mb_1m=round(rss))
    return result


if __name__ == "__main__":
    print(json.dumps(measure("--no-million" not in sys.argv), indent=2))
