"""Regression against published trials (../shared/calibration/targets.toml).

With 200 simulated trials of 29 + 30 patients, a simulated mean response rate has a
Monte-Carlo SE of about 0.007, so a model whose true mean lies 0.03 outside a target's
interval fails this test with probability > 99.99%: a false pass is unlikely. The full
500-replicate run is ``make calibrate``.
"""

from __future__ import annotations

import pytest

from trialsim.calibration import load_targets, run_calibration


@pytest.fixture(scope="module")
def checks():
    return {c.id: c for c in run_calibration(replicates=200)}


def test_targets_are_shipped_with_the_package() -> None:
    ids = {t["id"] for t in load_targets()}
    assert {"he2020.sri4.week12.il2", "he2020.sri4.week24.placebo",
            "soc.sri4.week52.placebo"} <= ids


@pytest.mark.parametrize("target", [
    "he2020.sri4.week12.il2",      # He 2020: 16/29 = 55.2% (37.5-71.6%)
    "he2020.sri4.week12.placebo",  # He 2020: 9/30 = 30.0% (16.7-47.9%)
    "he2020.sri4.week24.il2",      # He 2020: 19/29 = 65.5% (47.3-80.1%)
    "he2020.sri4.week24.placebo",  # He 2020: 11/30 = 36.7% (21.9-54.5%)
])
def test_he2020_sri4_inside_published_ci(checks, target: str) -> None:
    c = checks[target]
    assert c.passed, (c.simulated, c.interval)


@pytest.mark.parametrize("arm,weeks", [("il2", (0, 12, 24)), ("placebo", (0, 12, 24))])
def test_he2020_median_sledai_within_two_points(checks, arm: str, weeks) -> None:
    """He 2020 Table 2 medians: IL-2 12/6/4, placebo 11/6/8 at weeks 0/12/24."""
    for wk in weeks:
        c = checks[f"he2020.sledai.median.{arm}.week{wk}"]
        assert abs(c.simulated - c.published) <= 2, (wk, c.simulated)


def test_week52_placebo_sri4_in_large_trial_range(checks) -> None:
    """BLISS-52 43.6%, BLISS-76 33.5%, TULIP pooled 40.1%: range 0.33-0.44."""
    assert checks["soc.sri4.week52.placebo"].passed, checks["soc.sri4.week52.placebo"]


def test_he2016_immunology_directions(checks) -> None:
    """He 2016: Treg up, Tfh and Th17 down, Th1 unchanged, anti-dsDNA down, C3 up."""
    for name in ("treg", "tfh", "th17", "th1", "anti_dsdna", "complement"):
        c = checks[f"he2016.immunology.direction.{name}"]
        assert c.passed, (name, c.simulated)


def test_he2020_adverse_events(checks) -> None:
    for key, c in checks.items():
        if key.startswith("he2020.safety."):
            assert c.passed, (key, c.simulated, c.interval)
