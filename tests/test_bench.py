"""``make bench`` plumbing: results merge into bench/results.json, and the model's accuracy
figures are computed from kernel and reference runs of the same patients. Speed itself is
shown by the benchmark, never asserted here."""

from __future__ import annotations

import json

import numpy as np

from trialsim.bench import merge_results
from trialsim.benchmarks import model as model_bench


def test_results_merge_into_the_existing_file(tmp_path) -> None:
    path = tmp_path / "bench" / "results.json"
    merge_results(path, {"pipeline_patient_days_per_s": 1.0, "patient_days_per_s": 2.0})
    merged = merge_results(path, {"patient_days_per_s": 3.0, "cores": 2})
    assert json.loads(path.read_text()) == merged == {
        "pipeline_patient_days_per_s": 1.0, "patient_days_per_s": 3.0, "cores": 2}


def test_agreement_compares_kernel_and_reference_on_the_same_patients() -> None:
    """One 12-patient replicate of the default protocol: the endpoints agree and no state is
    off by 1% (issue 9's accuracy target, here on a smaller sample than the benchmark's)."""
    protocol = model_bench._default_protocol().with_overrides(n=12)
    r = model_bench.agreement(protocol, replicates=(0,))
    assert r["agreement_patients"] == 12
    assert r["sledai_visits_compared"] == 12 * len(protocol.visits.days)
    assert r["max_relative_state_error"] < 0.01, r["relative_state_error_by_state"]
    assert r["max_relative_state_error"] > 0   # two integrators, so not bit-identical
    assert r["sri4_agreement"] == 1.0
    assert np.isclose(r["max_relative_state_error"],
                      max(r["relative_state_error_by_state"].values()), rtol=1e-4)
