"""Reliability: literal output, simultaneous runs, signals, special files, resource limits,
and ``trialsim rerun``. Most tests run the real command in subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import ROOT, run_cli
from tests.test_protocol import regimens
from trialsim import interrupts, outputs
from trialsim.errors import OutputError, ProtocolError
from trialsim.limits import dose_counts, estimate
from trialsim.protocol import load_protocol
from trialsim.regimen import dose_schedule

GOOD = ROOT / "protocols" / "ld-il2-vs-placebo.toml"
RUN_FILES = ("protocol.toml", "summary.json", "patients.csv", "visits.csv")


def _cli(*args: str, cwd: Path | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "trialsim", *args], cwd=cwd or ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _partials(root: Path) -> list[Path]:
    return list(root.rglob(".partial-*"))


def _complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in RUN_FILES)


# ------------------------------------------------------------- 1. messages are never markup


def test_out_folder_with_markup_characters_runs(tmp_path: Path) -> None:
    out = tmp_path / "o[/x]" / "[bold]y"
    res = run_cli("run", str(GOOD), "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    (folder,) = (out / "ld-il2-vs-placebo").iterdir()
    assert _complete(folder)
    assert f"written to {folder}" in res.stdout.replace("\n", "")


def test_validate_prints_a_bracketed_path_literally(tmp_path: Path) -> None:
    (tmp_path / "[bold]d[").mkdir()
    path = tmp_path / "[bold]d[" / "b].toml"
    path.write_text(GOOD.read_text())
    res = run_cli("validate", str(path))
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith(f"{path}: valid — ld-il2-vs-placebo: n = 60")


# ------------------------------------------------------------- 3. simultaneous runs


def test_four_identical_runs_started_together_all_succeed(tmp_path: Path) -> None:
    procs = [_cli("run", str(GOOD), "--out", str(tmp_path), "--json") for _ in range(4)]
    results = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    for code, _, stderr in results:
        assert code == 0, stderr
    folders = {Path(json.loads(stdout)["run_dir"]) for _, stdout, _ in results}
    assert len(folders) == 4
    assert set((tmp_path / "ld-il2-vs-placebo").iterdir()) == folders
    for folder in folders:
        assert _complete(folder)
        assert json.loads((folder / "summary.json").read_text())["run_dir"] == str(folder)
    assert not _partials(tmp_path)


def test_simultaneous_writers_of_one_name_get_two_folders(tmp_path: Path,
                                                          monkeypatch) -> None:
    """Two run folders open at once for the same name (as two processes in one second)."""
    monkeypatch.setattr(outputs, "run_folder_name", lambda protocol: "same")
    protocol = load_protocol(GOOD)
    with outputs.run_folder(tmp_path, protocol) as a, outputs.run_folder(tmp_path,
                                                                          protocol) as b:
        (a.tmp / "x").write_text("a")
        (b.tmp / "x").write_text("b")
        assert a.path != b.path
    assert (a.path / "x").read_text() == "a" and (b.path / "x").read_text() == "b"
    assert {a.path.name, b.path.name} == {"same", "same-2"}
    assert not _partials(tmp_path)


def test_a_name_being_written_elsewhere_is_skipped(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(outputs, "run_folder_name", lambda protocol: "same")
    protocol = load_protocol(GOOD)
    parent = tmp_path / protocol.trial.name
    (parent / ".partial-same").mkdir(parents=True)     # another run is writing "same"
    (parent / "same-2").mkdir()                        # and "same-2" is finished
    with outputs.run_folder(tmp_path, protocol) as run:
        assert run.path.name == "same-3"
        assert run.tmp.name == ".partial-same-3"
    assert run.path.is_dir()


def test_a_failed_write_leaves_nothing(tmp_path: Path) -> None:
    protocol = load_protocol(GOOD)
    with pytest.raises(RuntimeError), outputs.run_folder(tmp_path, protocol) as run:
        (run.tmp / "half").write_text("x")
        raise RuntimeError("boom")
    assert not any(tmp_path.rglob("*.csv")) and not _partials(tmp_path)
    assert not run.path.exists()


def test_write_errors_become_output_errors(tmp_path: Path) -> None:
    protocol = load_protocol(GOOD)
    with pytest.raises(OutputError, match="writing the run failed"), \
            outputs.run_folder(tmp_path, protocol) as run:
        (run.tmp / "missing-dir" / "x").write_text("x")
    assert not _partials(tmp_path)


# ------------------------------------------------------------- 4. signals


def _wait_for_partial(root: Path, proc: subprocess.Popen, timeout: float = 60) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        if _partials(root):
            return True
        time.sleep(0.002)
    return False


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("moment", ["simulating", "claimed", "writing"])
def test_signals_leave_no_partial_folder(sig: signal.Signals, moment: str,
                                         tmp_path: Path) -> None:
    """A run of 8,000 patients takes ~2 s to simulate (4,000: ~1 s, and ~0.3 s to write);
    the signal arrives mid-simulation, right after the folder name is claimed, or while
    the files are being written."""
    proc = _cli("run", str(GOOD), "--n", "8000" if moment == "simulating" else "4000",
                "--out", str(tmp_path))
    if moment == "simulating":
        time.sleep(1.5)
    else:
        assert _wait_for_partial(tmp_path, proc), "the run never started writing"
        if moment == "writing":
            time.sleep(0.15)
    writing = bool(_partials(tmp_path))    # False: still simulating, nothing claimed yet
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert not _partials(tmp_path), list(tmp_path.rglob("*"))
    assert "Traceback" not in stderr
    trial = tmp_path / "ld-il2-vs-placebo"
    folders = list(trial.iterdir()) if trial.exists() else []
    if proc.returncode == 0:   # the signal came after the rename: a complete run stays
        assert writing and len(folders) == 1 and _complete(folders[0])
    else:
        assert proc.returncode == 128 + sig, (proc.returncode, stderr)
        assert stderr.strip() == (f"error: interrupted by {sig.name}; no run folder was "
                                  "left half-written.")
        assert folders == []
    if not writing:
        assert not trial.exists()


def test_deferred_holds_a_signal_until_the_block_ends() -> None:
    old = {s: signal.getsignal(s) for s in interrupts.SIGNALS}
    try:
        interrupts.install()
        reached_end = False
        with pytest.raises(interrupts.Interrupted) as info, interrupts.deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.01)
            reached_end = True
        assert reached_end and info.value.exit_code == 143
        os.kill(os.getpid(), signal.SIGTERM)        # a second signal is ignored
        time.sleep(0.01)
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


# ------------------------------------------------------------- 5, 6. refused in under a second


def _timed(*args: str, attempts: int = 3) -> tuple[float, subprocess.CompletedProcess]:
    """The fastest of a few attempts (the machine may be busy with other tests)."""
    best: tuple[float, subprocess.CompletedProcess] | None = None
    for _ in range(attempts):
        t0 = time.perf_counter()
        res = subprocess.run([sys.executable, "-m", "trialsim", *args], capture_output=True,
                             text=True, cwd=ROOT, timeout=30)
        elapsed = time.perf_counter() - t0
        if best is None or elapsed < best[0]:
            best = (elapsed, res)
        if elapsed < 1.0:
            break
    assert best is not None
    return best


def test_two_million_patients_refused_in_under_a_second(tmp_path: Path) -> None:
    elapsed, res = _timed("run", str(GOOD), "--n", "2000000", "--out", str(tmp_path))
    assert res.returncode == 2
    assert "population.n = 2000000" in res.stderr and "GB of memory" in res.stderr
    assert elapsed < 1.0, elapsed
    assert not any(tmp_path.iterdir())


def test_fifo_refused_in_under_a_second(tmp_path: Path) -> None:
    fifo = tmp_path / "p.toml"
    os.mkfifo(fifo)
    elapsed, res = _timed("run", str(fifo), "--out", str(tmp_path / "out"))
    assert res.returncode == 2 and "is a FIFO" in res.stderr
    assert elapsed < 1.0, elapsed


def test_dev_zero_refused_in_under_a_second(tmp_path: Path) -> None:
    elapsed, res = _timed("validate", "/dev/zero")
    assert res.returncode == 2 and "/dev/zero: is a device" in res.stderr
    assert elapsed < 1.0, elapsed


def test_memory_estimate_covers_a_measured_run(tmp_path: Path) -> None:
    """The estimate is an upper bound of the peak resident memory of a real run (20,000
    patients, 10 visits: ~0.3 GB measured), and not wildly above it (< 2×).

    The peak is the child's own VmHWM after exec, read at exit: ``ru_maxrss`` of a forked
    child also counts the parent's pages before exec, so it grows with whatever the test
    process had allocated earlier in the suite."""
    code = ("import atexit, sys\n"
            "from trialsim.cli import main\n"
            "atexit.register(lambda: sys.stderr.write(open('/proc/self/status').read()))\n"
            "main(sys.argv[1:])\n")
    res = subprocess.run([sys.executable, "-c", code, "run", str(GOOD), "--n", "20000",
                          "--out", str(tmp_path), "--json"], cwd=ROOT, capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    hwm = next(line for line in res.stderr.splitlines() if line.startswith("VmHWM:"))
    peak = int(hwm.split()[1]) * 1024        # kB
    est = estimate(load_protocol(GOOD).with_overrides(n=20000)).memory_bytes
    assert peak < est < 2 * peak, (peak / 1e9, est / 1e9)


@settings(max_examples=300, deadline=None)
@given(regimen=regimens(), horizon=st.floats(1.0, 3640.0))
def test_dose_counts_match_the_expanded_schedule(regimen: dict, horizon: float) -> None:
    from trialsim.protocol import Regimen

    reg = Regimen.model_validate(regimen)
    doses, cycles = dose_counts(reg, horizon)
    if cycles <= 20_000:                   # expanding more cycles is what limits prevents
        assert doses == len(dose_schedule(reg, horizon))


def test_the_chunk_is_lowered_to_fit_memory() -> None:
    p = load_protocol(GOOD).with_overrides(n=20000, replicates=200)
    assert estimate(p, chunk=50, memory_budget=4e9).chunk < 50
    assert estimate(p, chunk=50, memory_budget=1e12).chunk == 50


# ------------------------------------------------------------- 9. unreadable files


def test_unreadable_file_is_one_message(tmp_path: Path, monkeypatch) -> None:
    """Permission denied (simulated: the tests may run as root, who can read anything)."""
    path = tmp_path / "p.toml"
    path.write_text(GOOD.read_text())

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "open", denied)
    with pytest.raises(ProtocolError) as info:
        load_protocol(path)
    assert str(info.value) == f"{path}: cannot be read (Permission denied)."


# ------------------------------------------------------------- trialsim rerun


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("rerun")
    res = run_cli("run", str(GOOD), "--replicates", "3", "--seed", "7", "--out", str(out),
                  "--json")
    assert res.returncode == 0, res.stderr
    return Path(json.loads(res.stdout)["run_dir"])


def test_rerun_reports_a_match_on_a_fresh_run(run_dir: Path) -> None:
    res = run_cli("rerun", str(run_dir))
    assert res.returncode == 0, res.stderr
    assert "match" in res.stdout and "seed 7" in res.stdout
    doc = json.loads(run_cli("rerun", str(run_dir), "--json").stdout)
    assert doc["match"] is True and doc["differing"] == []
    assert {"arms", "comparisons", "cohort", "power"} <= set(doc["compared"])


def test_rerun_reports_a_mismatch_when_the_protocol_copy_was_edited(run_dir: Path,
                                                                     tmp_path: Path) -> None:
    edited = tmp_path / "edited"
    edited.mkdir()
    for f in run_dir.iterdir():
        (edited / f.name).write_bytes(f.read_bytes())
    text = (edited / "protocol.toml").read_text()
    assert "dose_miu = 1.0" in text
    (edited / "protocol.toml").write_text(text.replace("dose_miu = 1.0", "dose_miu = 3.0"))
    res = run_cli("rerun", str(edited), "--json")
    assert res.returncode == 1, res.stderr
    doc = json.loads(res.stdout)
    assert doc["match"] is False and "protocol_digest" in doc["differing"]
    assert doc["recorded_digest"] != doc["rerun_digest"]
    res = run_cli("rerun", str(edited))
    (line,) = res.stdout.splitlines()
    assert "MISMATCH" in line and "protocol.toml is not the protocol that was run" in line


def test_rerun_notices_edited_results(run_dir: Path, tmp_path: Path) -> None:
    edited = tmp_path / "edited"
    edited.mkdir()
    for f in run_dir.iterdir():
        (edited / f.name).write_bytes(f.read_bytes())
    summary = json.loads((edited / "summary.json").read_text())
    summary["arms"][0]["responders"] += 1
    (edited / "summary.json").write_text(json.dumps(summary))
    doc = json.loads(run_cli("rerun", str(edited), "--json").stdout)
    assert doc["match"] is False and doc["differing"] == ["arms"]
