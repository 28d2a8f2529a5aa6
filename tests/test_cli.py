"""End-to-end tests of the ``trialsim`` command, run as a subprocess like a user would."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import PROTOCOLS, ROOT, run_cli

SUMMARY_KEYS = {"protocol", "seed", "arms", "comparisons", "run_dir", "cohort"}


def _small_args(path: Path) -> list[str]:
    """Each example protocol with a small cohort and two replicates (fast, still exercises
    power and the per-replicate chunking)."""
    n_arms = len(tomllib.loads(path.read_text())["arm"])
    return ["--n", str(max(12, 4 * n_arms)), "--replicates", "2"]


@pytest.mark.parametrize("path", PROTOCOLS, ids=[p.stem for p in PROTOCOLS])
def test_every_example_protocol_runs(path: Path, tmp_path: Path) -> None:
    res = run_cli("run", str(path), *_small_args(path), "--out", str(tmp_path), "--json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert SUMMARY_KEYS | {"power", "power_se"} <= doc.keys()
    run_dir = Path(doc["run_dir"])
    assert run_dir.parent.parent == tmp_path
    mechanistic = "fixed-rates" not in path.read_text()
    for name in ("summary.json", "patients.csv", "protocol.toml"):
        assert (run_dir / name).is_file(), name
    # Visits exist only where a model produces them.
    assert (run_dir / "visits.csv").is_file() == mechanistic
    assert json.loads((run_dir / "summary.json").read_text()) == doc
    patients = pd.read_csv(run_dir / "patients.csv")
    assert len(patients) == doc["cohort"]["enrolled"]
    assert {"id", "arm", "sex", "age", "sledai_baseline", "dropout"} <= set(patients.columns)
    # The protocol as run is itself a valid protocol.
    assert run_cli("validate", str(run_dir / "protocol.toml")).returncode == 0


@pytest.mark.parametrize("path", PROTOCOLS, ids=[p.stem for p in PROTOCOLS])
def test_validate_accepts_examples(path: Path) -> None:
    res = run_cli("validate", str(path))
    assert res.returncode == 0, res.stderr
    assert "valid" in res.stdout


def test_run_prints_tables_and_writes_folder(tmp_path: Path) -> None:
    res = run_cli("run", "protocols/ld-il2-vs-placebo.toml", "--out", str(tmp_path))
    assert res.returncode == 0, res.stderr
    assert "SRI4 at week 24 by arm" in res.stdout
    assert "il2-1miu vs placebo" in res.stdout
    assert len(list((tmp_path / "ld-il2-vs-placebo").iterdir())) == 1


def test_default_protocol_power_json(tmp_path: Path) -> None:
    """Acceptance: 200 replicates → JSON with power; IL-2 mean rate above placebo's."""
    res = run_cli("run", "protocols/ld-il2-vs-placebo.toml", "--replicates", "200", "--json",
                  "--out", str(tmp_path))
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert 0.0 <= doc["power"] <= 1.0
    assert doc["power_se"] == pytest.approx((doc["power"] * (1 - doc["power"]) / 200) ** 0.5)
    rates = {a["name"]: a for a in doc["operating_characteristics"]["arms"]}
    gap = rates["il2-1miu"]["mean_rate"] - rates["placebo"]["mean_rate"]
    se = (rates["il2-1miu"]["mean_rate_se"] ** 2 + rates["placebo"]["mean_rate_se"] ** 2) ** 0.5
    assert gap > 4 * se
    for arm in doc["arms"]:
        assert arm["ci"][0] <= arm["rate"] <= arm["ci"][1] and arm["ci_level"] == 0.95


def test_same_seed_same_results_other_seed_other_patients(tmp_path: Path) -> None:
    args = ["run", "protocols/ld-il2-vs-placebo.toml", "--replicates", "20", "--json"]
    a = json.loads(run_cli(*args, "--out", str(tmp_path / "a")).stdout)
    b = json.loads(run_cli(*args, "--out", str(tmp_path / "b")).stdout)
    for key in ("arms", "comparisons", "power", "operating_characteristics"):
        assert a[key] == b[key]
    c = json.loads(run_cli(*args, "--seed", "99", "--out", str(tmp_path / "c")).stdout)
    pa = pd.read_csv(Path(a["run_dir"]) / "patients.csv")
    pc = pd.read_csv(Path(c["run_dir"]) / "patients.csv")
    assert not pa[["age", "sledai_baseline"]].equals(pc[["age", "sledai_baseline"]])
    assert c["seed"] == 99


def test_chunk_size_does_not_change_results(tmp_path: Path) -> None:
    args = ["run", "protocols/ld-il2-vs-placebo.toml", "--replicates", "12", "--json"]
    a = json.loads(run_cli(*args, "--chunk", "12", "--out", str(tmp_path / "a")).stdout)
    b = json.loads(run_cli(*args, "--chunk", "5", "--out", str(tmp_path / "b")).stdout)
    assert a["operating_characteristics"] == b["operating_characteristics"]


def _broken(tmp_path: Path, edit) -> Path:
    text = (ROOT / "protocols" / "ld-il2-vs-placebo.toml").read_text()
    path = tmp_path / "broken.toml"
    path.write_text(edit(text))
    return path


BROKEN = {
    "unknown-key": (lambda t: t.replace("[population]\n", "[population]\nsexratio = 1\n"),
                    "population.sexratio"),
    "negative-dose": (lambda t: t.replace("dose_miu = 1.0", "dose_miu = -1.0"),
                      "arm[1].regimen.dose_miu"),
    "week-after-last-visit": (lambda t: t.replace("week = 24\n", "week = 30\n"),
                              "endpoint.week"),
    "not-toml": (lambda t: t.replace("[trial]", "[trial"), "not valid TOML"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
@pytest.mark.parametrize("command", ["validate", "run"])
def test_bad_protocol_one_message_exit_2(case: str, command: str, tmp_path: Path) -> None:
    edit, key = BROKEN[case]
    path = _broken(tmp_path, edit)
    out = tmp_path / "outputs"
    args = [command, str(path)] + (["--out", str(out)] if command == "run" else [])
    res = run_cli(*args)
    assert res.returncode == 2
    assert "Traceback" not in res.stderr + res.stdout
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert str(path) in lines[0] and key in lines[0]
    assert not out.exists() or not any(out.rglob("*"))


def test_missing_file_exit_2(tmp_path: Path) -> None:
    res = run_cli("validate", str(tmp_path / "nope.toml"))
    assert res.returncode == 2
    assert "nope.toml" in res.stderr and "Traceback" not in res.stderr


def test_unwritable_output_is_one_line_exit_2(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    res = run_cli("run", "protocols/ld-il2-vs-placebo.toml", "--out", str(blocker))
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert str(blocker) in res.stderr and len(res.stderr.strip().splitlines()) == 1


POWER_ROW_KEYS = {"n", "n_per_arm", "power", "power_se", "ci95", "analytic_power"}


def test_power_command_json_files_and_reproducibility(tmp_path: Path) -> None:
    """Acceptance of `trialsim power` (at fewer replicates than the issue's 1,000)."""
    args = ("power", "protocols/ld-il2-vs-placebo.toml", "--n", "40:240:40",
            "--replicates", "24", "--json", "--out", str(tmp_path))
    first, second = run_cli(*args), run_cli(*args)
    assert first.returncode == 0, first.stderr
    doc = json.loads(first.stdout)          # nothing but JSON on stdout
    assert [r["n"] for r in doc["rows"]] == [40, 80, 120, 160, 200, 240]
    for row in doc["rows"]:
        assert row.keys() >= POWER_ROW_KEYS
        assert row["n_per_arm"] == [row["n"] // 2] * 2
    assert "required_n" in doc and "confirm" in doc
    run_dir = Path(doc["run_dir"])
    for name in ("power.json", "power.csv", "power_curve.png", "protocol.toml"):
        assert (run_dir / name).is_file(), name
    assert (run_dir / "power_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = pd.read_csv(run_dir / "power.csv")
    assert len(table) == len(doc["rows"]) + (doc["confirm"] is not None)
    other = json.loads(second.stdout)
    assert other.pop("run_dir") != doc.pop("run_dir")
    assert other == doc


def test_power_rejects_bad_sizes(tmp_path: Path) -> None:
    res = run_cli("power", "protocols/fixed-rates.toml", "--n", "240:40", "--out", str(tmp_path))
    assert res.returncode == 2
    assert "--n" in res.stderr and "Traceback" not in res.stderr
    assert not any(tmp_path.iterdir())


def test_power_terminal_output_group_sequential(tmp_path: Path) -> None:
    res = run_cli("power", "protocols/group-sequential.toml", "--n", "100,200",
                  "--replicates", "8", "--out", str(tmp_path))
    assert res.returncode == 0, res.stderr
    assert "Efficacy bounds" in res.stdout and "E[n] enrolled" in res.stdout


def test_fixed_rates_run_prints_tables_without_immunology(tmp_path: Path) -> None:
    res = run_cli("run", "protocols/fixed-rates.toml", "--replicates", "5", "--out",
                  str(tmp_path))
    assert res.returncode == 0, res.stderr
    assert "il2-1miu vs placebo" in res.stdout and "Immunology" not in res.stdout


@pytest.mark.parametrize("command", ["run", "power", "compare", "calibrate", "report"])
def test_help_is_literal_and_flags_have_no_value(command: str) -> None:
    res = run_cli(command, "--help")
    assert res.returncode == 0, res.stderr
    if command == "run":
        assert "override [trial].seed" in res.stdout and "[population].n" in res.stdout
    assert "<bool>" not in res.stdout
    if command != "report":
        assert re.search(r"^\s+--json\s+print one JSON document", res.stdout, re.M), res.stdout


def _on_terminal(*args: str) -> str:
    """Run the CLI with stdout and stderr on a pseudo-terminal; return all it wrote."""
    import os
    import pty
    import subprocess
    import sys

    main, child = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    proc = subprocess.Popen([sys.executable, "-m", "trialsim", *args], stdout=child,
                            stderr=child, cwd=ROOT, env={**env, "COLUMNS": "120"})
    os.close(child)
    chunks = []
    while True:
        try:
            data = os.read(main, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=300)
    os.close(main)
    return b"".join(chunks).decode("utf-8", "replace")


def test_progress_bar_on_a_terminal_only(tmp_path: Path) -> None:
    args = ("run", "protocols/fixed-rates.toml", "--replicates", "400", "--out", str(tmp_path))
    assert "simulating trials" in _on_terminal(*args)
    assert "simulating trials" not in _on_terminal(*args, "--quiet")
    res = run_cli(*args, "--json")          # pipes, as in CI logs
    assert "simulating" not in res.stderr + res.stdout
    json.loads(res.stdout)


def test_validate_json() -> None:
    res = run_cli("validate", "protocols/ld-il2-vs-placebo.toml", "--json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["valid"] is True and doc["protocol"] == "ld-il2-vs-placebo"
    assert [a["name"] for a in doc["arms"]] == ["placebo", "il2-1miu"]
