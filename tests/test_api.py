"""The Python API re-exported from ``trialsim``: load_protocol, simulate, power, compare."""

from __future__ import annotations

import pandas as pd

import trialsim
from tests.conftest import ROOT

DEFAULT = ROOT / "protocols" / "ld-il2-vs-placebo.toml"


def test_simulate_returns_tables_and_renders() -> None:
    p = trialsim.load_protocol(DEFAULT)
    r = trialsim.simulate(p, replicates=3, seed=1, n=20)
    assert isinstance(r.summary, pd.DataFrame)
    assert list(r.summary.index) == [a.name for a in p.arms]
    assert r.summary["n"].sum() == 20 == len(r.patients)
    assert {"mean_rate", "ci_low", "ci_high"} <= set(r.summary.columns)
    assert sorted(r.replicates["replicate"]) == [0, 1, 2]
    assert set(r.visits["id"]) == set(r.patients["id"])
    assert r.document["seed"] == 1 and r.document["replicates"] == 3
    assert 0 <= r.power <= 1 and r.power == r.comparisons["power"].iloc[0]
    html = r._repr_html_()
    assert "<table" in html and "ld-il2-vs-placebo" in html
    # Same seed, same trial; the API and the CLI share one path.
    again = trialsim.simulate(DEFAULT, replicates=3, seed=1, n=20)
    pd.testing.assert_frame_equal(again.summary, r.summary)


def test_power_and_compare_from_the_api() -> None:
    curve = trialsim.power(DEFAULT, [40, 80], replicates=4, seed=3)
    assert [row.n for row in curve.rows] == [40, 80]
    comparison = trialsim.compare([ROOT / "protocols" / "dose-schedules.toml"], replicates=2)
    assert len(comparison.rows) >= 2 and comparison.rows[0].rank == 1
