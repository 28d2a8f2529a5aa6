"""Run, summary, terminal report, power and compare work for any endpoint kind.

An outcome model that reports a continuous primary endpoint and a time-to-event secondary
(as the endpoint registry will) is plugged in; everything downstream must take them
without knowing how they were measured.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import pytest
from rich.console import Console

import trialsim.trial as trial_module
from trialsim.design import run_design
from trialsim.design.sizes import power_curve
from trialsim.outcome.base import Enrolled, OutcomeModel, Outcomes
from trialsim.protocol import parse_protocol
from trialsim.report import render_run
from trialsim.stats.endpoint_data import EndpointData
from trialsim.streams import Stage
from trialsim.summary import summary_document


class _Synthetic(OutcomeModel):
    """SLEDAI-2K change (lower is better) falling by ``effect`` per arm index, and time to
    flare (longer is better), from patient-keyed streams."""

    name = "synthetic"

    def __init__(self, effect: float) -> None:
        self.effect = effect

    def simulate(self, protocol, batch: Sequence[Enrolled]) -> list[Outcomes]:
        out = []
        for e in batch:
            g = e.streams.patients(Stage.OUTCOME, e.ids)
            noise = g.normal(0, 3, (e.n, 3))
            u = g.random(e.n)
            base = e.cohort.patients["sledai0"].to_numpy(dtype=float)
            rep = -2.0 - self.effect * e.arm[:, None] - 0.3 * (base[:, None] - 10) + noise
            t = -np.log(u) * 200 * (1 + 0.5 * self.effect * e.arm)
            change = EndpointData("sledai_change", "continuous", rep[:, -1], baseline=base,
                                  repeated=rep, weeks=np.array([8.0, 16.0, 24.0]),
                                  higher_is_better=False)
            flare = EndpointData("time_to_flare", "time-to-event", np.minimum(t, 168),
                                 event=t < 168)
            out.append(Outcomes(responder=np.zeros(e.n, bool),
                                endpoints={"sledai_change": change, "time_to_flare": flare}))
        return out


@pytest.fixture
def synthetic(monkeypatch: pytest.MonkeyPatch):
    def install(effect: float) -> None:
        monkeypatch.setattr(trial_module, "outcome_model",
                            lambda *a, **k: _Synthetic(effect))
    return install


def _protocol(arms: int = 3, **analysis):
    return parse_protocol({
        "trial": {"name": "any-kind", "seed": 3, "replicates": 30},
        "population": {"n": 60 * arms},
        "arm": [{"name": "placebo"}] + [{"name": f"dose{k}", "regimen": {
            "dose_miu": float(k), "every_days": 2.0}} for k in range(1, arms)],
        "visits": {"weeks": [0, 8, 16, 24]},
        "endpoint": {"primary": "sri4", "week": 24},
        "analysis": {"dropout_per_year": 0.0, **analysis},
        "model": {"between_trial": False},
    })


def test_run_summary_and_report_for_continuous_and_time_to_event(synthetic) -> None:
    synthetic(1.0)
    p = _protocol(continuous="ancova", time_to_event="cox")
    result = run_design(p)
    doc = json.loads(json.dumps(summary_document(p, result), allow_nan=False))
    assert doc["primary"] == {"endpoint": "sledai_change", "kind": "continuous",
                              "method": "ancova"}
    assert [a["statistic"] for a in doc["arms"]] == ["mean"] * 3
    c = doc["comparisons"]
    assert all(x["estimate"] < 0 and x["p_adjusted"] >= x["p_value"] for x in c)
    assert doc["secondary"][0]["endpoint"] == "time_to_flare"
    assert doc["secondary"][0]["role"] == "descriptive"
    assert doc["secondary"][0]["comparisons"][0]["scale"] == "ratio"
    oc = doc["operating_characteristics"]
    assert oc["multiplicity"] == "holm" and oc["family"]["any_significant"] > 0.5
    assert oc["arms"][0]["statistic"] == "mean" and "mean_rate" not in oc["arms"][0]
    console = Console(record=True, width=200)
    render_run(console, p, result, doc)
    text = console.export_text()
    assert "difference" in text and "adjusted p (holm)" in text and "time_to_flare" in text


def test_power_for_a_continuous_endpoint_with_gee_and_dunnett(synthetic) -> None:
    synthetic(0.8)
    p = _protocol(arms=3, continuous="gee", multiplicity="dunnett")
    curve = power_curve(p, [60, 120, 180], replicates=20, confirm=False)
    assert curve.kind == "continuous" and curve.method == "gee"
    powers = [r.power for r in curve.rows]
    assert powers[-1] > powers[0]
    row = curve.rows[-1]
    assert row.analytic_power is None and row.mean_estimate < 0
    assert row.any_power <= row.any_power_unadjusted
    d = curve.to_dict()
    assert d["analysis"]["method"] == "gee" and d["analysis"]["multiplicity"] == "dunnett"


def test_null_multi_arm_family_error_is_reported(synthetic) -> None:
    """No arm works: the family-wise rejection rate with Holm stays near alpha while the
    unadjusted one is larger; both reach the summary."""
    synthetic(0.0)
    p = _protocol(arms=4, continuous="ancova").with_overrides(replicates=60)
    result = run_design(p)
    doc = summary_document(p, result)
    fam = doc["operating_characteristics"]["family"]
    assert fam["any_significant"] <= 0.05 + 3 * (0.05 * 0.95 / 60) ** 0.5
    assert fam["any_significant"] <= fam["any_significant_unadjusted"]
    console = Console(record=True, width=200)
    render_run(console, p, result, doc)
    assert "without adjustment" in console.export_text()
