"""Execution backends: every backend gives the same results for the same seed.

Chunks of replicates are independent tasks with keyed seeds, so in-process, local worker
processes and a Dask cluster (on loopback) must print identical ``--json`` documents; the
chunk size must not matter either.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import PROTOCOLS, run_cli
from trialsim.execution import ExecutionError, InProcess, check_options, chunks, open_backend

PROTOCOL = next(p for p in PROTOCOLS if p.stem == "ld-il2-vs-placebo")
FIXED = next(p for p in PROTOCOLS if p.stem == "fixed-rates")


def _results(res) -> dict:
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    doc.pop("run_dir")
    doc.pop("provenance", None)   # start time and run time differ by nature
    return doc


def _square(x: int) -> int:
    return x * x


def test_inprocess_map_is_ordered_and_reports_progress() -> None:
    seen: list[int] = []
    with open_backend() as b:
        assert isinstance(b, InProcess)
        assert list(b.map(_square, [(k,) for k in range(5)], seen.append)) == [0, 1, 4, 9, 16]
    assert seen == [0, 1, 4, 9, 16]
    assert chunks(3, 10, 4) == [range(3, 7), range(7, 10)]


def test_process_pool_keeps_order_with_a_bounded_window() -> None:
    seen: list[int] = []
    with open_backend(workers=2) as b:
        assert b.name == "processes"
        out = list(b.map(_square, [(k,) for k in range(9)], seen.append))
    assert out == [k * k for k in range(9)]
    assert sorted(seen) == out          # every chunk ticked once, in completion order


@pytest.mark.parametrize("args, message", [
    (("nope", 1, None), "--backend must be one of"),
    ((None, 0, None), "--workers must be in"),
    (("processes", 2, "tcp://127.0.0.1:1"), "--scheduler joins a Dask cluster"),
    (("dask", 1, "127.0.0.1:8786"), "--scheduler must be an address"),
])
def test_bad_backend_options_are_named(args, message) -> None:
    with pytest.raises(ExecutionError, match=message):
        check_options(*args)


def test_bad_backend_option_is_one_line_exit_2(tmp_path: Path) -> None:
    res = run_cli("run", str(FIXED), "--backend", "mpi", "--out", str(tmp_path))
    assert res.returncode == 2
    assert res.stderr.startswith("error: --backend must be one of") and res.stderr.count("\n") == 1
    assert not any(tmp_path.iterdir())


def test_backends_give_identical_json(tmp_path: Path) -> None:
    """The acceptance check: in-process, --workers 2 and --backend dask --workers 2."""
    pytest.importorskip("distributed")
    base = ["run", str(PROTOCOL), "--n", "24", "--replicates", "6", "--chunk", "2",
            "--seed", "7", "--json", "--out", str(tmp_path)]
    inprocess = _results(run_cli(*base))
    assert inprocess["replicates"] == 6 and "power_conditional" in inprocess
    assert _results(run_cli(*base, "--workers", "2")) == inprocess
    assert _results(run_cli(*base, "--backend", "dask", "--workers", "2")) == inprocess


def test_power_curve_does_not_depend_on_workers_or_chunks() -> None:
    from trialsim.design.sizes import power_curve
    from trialsim.protocol import load_protocol

    p = load_protocol(FIXED)
    one = power_curve(p, [40, 60, 80], replicates=30, chunk=7).to_dict()
    with open_backend(workers=2) as b:
        two = power_curve(p, [40, 60, 80], replicates=30, chunk=4, backend=b).to_dict()
    assert two == one
    assert one["confirm"] is not None     # the confirming run is part of what must match


def test_patient_chunks_and_parquet_tables_match_one_array_system(monkeypatch,
                                                                  tmp_path: Path) -> None:
    """A replicate simulated in patient chunks (tables streamed to Parquet) is the replicate
    simulated at once: same summary, same patient and visit tables."""
    import pandas as pd

    from trialsim import trial
    from trialsim.api import simulate_protocol
    from trialsim.outputs import write_run
    from trialsim.protocol import load_protocol

    p = load_protocol(PROTOCOL).with_overrides(n=40, replicates=3)
    whole = simulate_protocol(p)
    monkeypatch.setattr(trial, "PATIENT_CHUNK", 16)
    chunked = simulate_protocol(p, spool=tmp_path)
    assert chunked.design.first.detail is None and chunked.design.first.tables
    strip = ("provenance", "run_dir")
    assert ({k: v for k, v in chunked.document.items() if k not in strip}
            == {k: v for k, v in whole.document.items() if k not in strip})
    run_dir = write_run(tmp_path / "out", p, chunked.design, chunked.document)
    assert (run_dir / "visits.parquet").is_file() and not (run_dir / "visits.csv").exists()
    assert (run_dir / "report.html").is_file()
    assert not list(tmp_path.glob(".trialsim-tables-*"))      # moved into the run folder
    for name, table in (("patients", whole.patients), ("visits", whole.visits)):
        got = pd.read_parquet(run_dir / f"{name}.parquet")
        pd.testing.assert_frame_equal(got, table, check_dtype=False)


def test_a_million_patients_fit_the_default_memory_budget(monkeypatch) -> None:
    """Patient chunks and streamed tables make memory grow slowly with n: a million fit
    4 GB (measured by the pipeline benchmark), two million are still refused."""
    from trialsim.errors import ResourceError
    from trialsim.limits import check_resources
    from trialsim.protocol import load_protocol

    monkeypatch.delenv("TRIALSIM_MEMORY_GB", raising=False)
    p = load_protocol(PROTOCOL)
    check_resources(p.with_overrides(n=1_000_000))
    with pytest.raises(ResourceError, match="population.n = 2000000"):
        check_resources(p.with_overrides(n=2_000_000))
