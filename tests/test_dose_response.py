"""The receptor window (Trotta E et al., Nat Med 2018): across protocols/dose-ranging.toml,
Treg expansion rises with dose, NK/CD8 expansion appears only at high doses, adverse events
rise with dose, and SRI-4 does not keep rising to the cancer dose."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import ROOT
from trialsim.protocol import load_protocol
from trialsim.trial import simulate_trials

SC_ARMS = ["il2-0.2miu", "il2-0.5miu", "il2-1miu", "il2-3miu"]


@pytest.fixture(scope="module")
def by_arm():
    p = load_protocol(ROOT / "protocols" / "dose-ranging.toml")
    results = simulate_trials(p, range(4))   # 4 × 600 patients, 400 per arm
    def pooled(k: int, field) -> np.ndarray:
        return np.concatenate([field(r)[r.arm == k] for r in results])

    return {
        arm.name: {
            "treg": np.median(pooled(k, lambda r: r.trajectory.extremes["R_max"])),
            "nk": np.median(pooled(k, lambda r: r.trajectory.extremes["K_max"])),
            "sri4": pooled(k, lambda r: r.responder).mean(),
            "fever": pooled(k, lambda r: r.adverse["fever"].to_numpy()).mean(),
        }
        for k, arm in enumerate(p.arms)
    }


def test_treg_rises_with_dose(by_arm) -> None:
    tregs = [by_arm[a]["treg"] for a in SC_ARMS]
    assert tregs == sorted(tregs) and tregs[0] > 1.1
    assert by_arm["placebo"]["treg"] == pytest.approx(1.0)
    assert by_arm["high-dose-iv"]["treg"] > by_arm["il2-3miu"]["treg"]


def test_effectors_expand_only_at_high_dose(by_arm) -> None:
    for arm in ("placebo", "il2-0.2miu", "il2-0.5miu", "il2-1miu"):
        assert by_arm[arm]["nk"] < 1.03, arm
    assert by_arm["high-dose-iv"]["nk"] > 1.5


def test_adverse_events_rise_with_dose(by_arm) -> None:
    fever = [by_arm[a]["fever"] for a in ["placebo", *SC_ARMS, "high-dose-iv"]]
    assert fever == sorted(fever)
    assert fever[-1] > 0.9


def test_sri4_does_not_keep_rising_to_the_cancer_dose(by_arm) -> None:
    """Binomial SE per arm ≤ 0.025 (n = 400): a 0.1 margin is 4 SE of the difference."""
    best_low = max(by_arm[a]["sri4"] for a in SC_ARMS)
    assert by_arm["high-dose-iv"]["sri4"] < best_low - 0.1
    assert by_arm["il2-1miu"]["sri4"] > by_arm["placebo"]["sri4"] + 0.1
