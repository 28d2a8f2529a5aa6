"""Design comparison on common virtual patients (trialsim.design.compare, trialsim.variants)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT, run_cli
from trialsim.design.compare import compare_designs
from trialsim.errors import ProtocolError
from trialsim.protocol import load_protocol, parse_protocol
from trialsim.trial import simulate_trial, simulate_trials
from trialsim.variants import Design, expand_designs

DEFAULT = ROOT / "protocols" / "ld-il2-vs-placebo.toml"


@pytest.fixture(scope="module")
def base():
    return load_protocol(DEFAULT)


def test_identical_designs_give_identical_replicates(base) -> None:
    p = base.with_overrides(n=40)
    designs = [Design("a", p, "x"), Design("b", p, "x")]
    c = compare_designs(designs, replicates=12)
    a, b = c.rows
    assert a.power == b.power and a.paired_difference == 0.0 and a.paired_se == 0.0
    assert b.p_beats_reference == b.p_reference_beats == 0.0
    for ra, rb in zip(simulate_trials(p, range(3)), simulate_trials(p, range(3)), strict=True):
        np.testing.assert_array_equal(ra.responder, rb.responder)


def test_paired_se_at_least_half_the_unpaired_for_a_dose_change(base) -> None:
    """Acceptance: designs differing only in dose (1 vs 1.5 MIU), 200 replicates each. On
    the seed below the ratio is 3.1 (measured); the claim tested is ≥ 2."""
    designs = expand_designs(base, [{"grid": {"dose_miu": [1.0, 1.5]}}], "test")
    c = compare_designs(designs, replicates=200)
    row = next(r for r in c.rows if r.name == "1.5miu")
    assert row.unpaired_se >= 2 * row.paired_se > 0
    assert row.paired_difference == pytest.approx(row.p_beats_reference
                                                  - row.p_reference_beats)


def test_a_candidate_is_the_same_person_across_n_arms_regimens_and_inclusion(base) -> None:
    data = base.model_dump(mode="json")
    data["arm"].append({"name": "daily", "regimen": {"dose_miu": 0.5, "every_days": 1}})
    data["population"]["n"] = 90
    three_arms = parse_protocol(data)
    data["population"]["min_sledai"] = 10          # stricter inclusion, same candidate pool
    stricter = parse_protocol(data)
    a, b, c = (simulate_trial(p, 4) for p in (base, three_arms, stricter))

    def by_candidate(res):
        ids = res.cohort.patients["screen_order"].to_numpy()
        return dict(zip(ids, range(ids.size), strict=True))

    for other in (b, c):
        ia, io = by_candidate(a), by_candidate(other)
        shared = sorted(set(ia) & set(io))
        assert len(shared) >= 20
        ka, ko = [ia[s] for s in shared], [io[s] for s in shared]
        cols = ["sex", "age", "sledai0", "anti_dsdna0", "c3_0", "pga0", "severity"]
        assert a.cohort.patients.iloc[ka][cols].reset_index(drop=True).equals(
            other.cohort.patients.iloc[ko][cols].reset_index(drop=True))
        for name in a.parameters.__dataclass_fields__:
            if name != "site":
                np.testing.assert_array_equal(getattr(a.parameters, name)[ka],
                                              getattr(other.parameters, name)[ko])
        np.testing.assert_array_equal(a.dropout_day[ka], other.dropout_day[ko])


def test_grid_expands_to_named_designs(base) -> None:
    entries = [{"name": "ref"},
               {"grid": {"dose_miu": [0.5, 1.0, 2.0], "every_days": [1, 2, 7]}}]
    designs = expand_designs(base, entries, "grid.toml")
    names = [d.name for d in designs]
    assert len(designs) == 10 and names[0] == "ref"
    assert names[1:4] == ["0.5miu-q1d", "0.5miu-q2d", "0.5miu-q7d"]
    weekly = designs[names.index("2miu-q7d")].protocol.arms[1].regimen
    assert (weekly.dose_miu, weekly.every_days) == (2.0, 7.0)
    assert designs[0].protocol == base  # a design without overrides is the base protocol


def test_enrichment_and_rule_holds_for_every_enrolled_patient(base) -> None:
    data = base.model_dump(mode="json")
    data["population"]["require_all"] = ["anti_dsdna", "low_complement"]
    res = simulate_trial(parse_protocol(data), 1)
    pts = res.cohort.patients
    assert pts["d_increased_dna_binding"].all() and pts["d_low_complement"].all()
    assert (pts["anti_dsdna0"] >= 20).all() and (pts["c3_0"] < 0.9).all()
    fails = res.cohort.screen_failures
    assert fails["anti_dsdna"] > 0 and fails["low_complement"] > 0
    assert sum(fails.values()) + len(pts) == res.cohort.screened
    data["population"]["require_all"] = []
    data["population"]["require_any"] = ["renal", "low_complement"]
    pts = simulate_trial(parse_protocol(data), 1).cohort.patients
    assert (pts["renal"] | pts["d_low_complement"]).all()


@pytest.mark.parametrize("entries, fragment", [
    ([{"dose_mg": 1.0}], "design[0].dose_mg is not a known design field"),
    ([{"grid": {"dose_miu": [1.0, 1.0]}}], "design names must be unique"),
    ([{"dose_miu": -1.0}], "arm[1].regimen.dose_miu must be > 0"),
    ([{"week": 30}], "endpoint.week must be one of the visit weeks"),
    ([{"grid": {"dose_miu": []}}], "grid must map fields to non-empty lists"),
    ([{"name": "a b"}], "design[0].name must be a name"),
])
def test_bad_variants_are_refused(base, entries, fragment) -> None:
    with pytest.raises(ProtocolError, match=None) as info:
        expand_designs(base, entries, "p.toml")
    assert fragment in str(info.value) and str(info.value).startswith("p.toml")


def test_bad_variant_cli_exit_2_nothing_written(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(DEFAULT.read_text() + '\n[[design]]\nname = "x"\nevery_dayz = 7\n')
    out = tmp_path / "out"
    for cmd in ("compare", "validate", "run"):
        res = run_cli(cmd, str(bad), "--out", str(out)) if cmd != "validate" else \
            run_cli(cmd, str(bad))
        assert res.returncode == 2, (cmd, res.stderr)
        lines = [x for x in res.stderr.splitlines() if x.strip()]
        assert len(lines) == 1 and "Traceback" not in res.stderr
        assert "bad.toml" in lines[0] and "design[0].every_dayz" in lines[0]
    assert not out.exists()


def test_compare_cli_json_and_files(tmp_path: Path) -> None:
    res = run_cli("compare", "protocols/dose-schedules.toml", "--replicates", "6", "--json",
                  "--out", str(tmp_path))
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert len(doc["designs"]) == 10 and doc["reference"] == "he2020"
    assert [d["rank"] for d in doc["designs"]] == list(range(1, 11))
    powers = [d["power"] for d in doc["designs"]]
    assert powers == sorted(powers, reverse=True)
    run_dir = Path(doc["run_dir"])
    for name in ("compare.json", "compare.csv", "compare.png", "designs/2miu-q7d.toml"):
        assert (run_dir / name).is_file(), name
    assert run_cli("validate", str(run_dir / "designs" / "2miu-q7d.toml")).returncode == 0


def test_dose_selection_against_known_truth() -> None:
    """Fixed rates placebo 0.30, low 0.35, high 0.70 (30 per arm): the high dose is best and
    the minimum effective dose for delta 0.1; with a 40-point effect it is picked nearly
    always (P(low beats high) per trial < 1e-4 by a normal approximation)."""
    data = {
        "trial": {"name": "ds", "seed": 3, "replicates": 200},
        "population": {"n": 90},
        "arm": [{"name": "placebo"},
                {"name": "low", "regimen": {"dose_miu": 0.5, "every_days": 2}},
                {"name": "high", "regimen": {"dose_miu": 2.0, "every_days": 2}}],
        "visits": {"weeks": [0, 24]},
        "endpoint": {"primary": "sri4", "week": 24},
        # each arm tested at alpha (no multiplicity rule), as the expectation below assumes
        "analysis": {"dropout_per_year": 0.0, "test": "chisq", "multiplicity": "none"},
        "randomization": {"block_size": 3, "stratify_by": []},
        "outcome": {"model": "fixed-rates",
                    "rates": {"placebo": 0.30, "low": 0.35, "high": 0.70}},
    }
    c = compare_designs([Design("ds", parse_protocol(data), "x")], replicates=200)
    ds = c.rows[0].dose_selection
    assert ds["best"] == "high" and ds["minimum_effective_dose"] == "high"
    assert sum(ds["p_selected"].values()) == pytest.approx(1.0)
    assert ds["p_correct_selection"] >= 0.98
    # MED identified = high significant with a difference ≥ 0.1 (normal-approximation power
    # 0.89) and low not (P ≈ 0.94): expected ≈ 0.84; 3 MC SE of 200 replicates = 0.078.
    assert ds["p_med_identified"] >= 0.84 - 3 * (0.84 * 0.16 / 200) ** 0.5
