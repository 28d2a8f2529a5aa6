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


FITTED_ARMS = ["bliss52", "bliss76", "bliss_nea", "tulip_pooled", "lotus", "ustekinumab_ph2",
               "address2", "embrace", "illuminate1", "illuminate2"]


@pytest.mark.parametrize("arm", [*FITTED_ARMS, "he2020", "tulip_pooled_bicla", "lupil2"])
def test_published_placebo_arm_inside_central_95_of_simulated_trials(checks, arm: str) -> None:
    """Issue 12: each published placebo arm (trialsim/data/targets.toml [[placebo_trial]],
    sources there) lies in the central 95% of simulated placebo arms of its design (n, week,
    endpoint, inclusion threshold, ancestry) under the between-trial model. LUPIL-2 (a
    low-dose IL-2 trial) is outside the fit; its placebo arm (58%) sits at the upper edge
    of its interval (upper bound 0.58, percentile 0.976: docs/model.md §9.2)."""
    c = checks[f"placebo.{arm}"]
    assert c.passed, (c.published, c.interval, c.percentile)


def test_fifty_patient_placebo_arm_spread_is_bounded(checks) -> None:
    """Issue 12: central 95% of a 50-patient placebo arm (SRI-4 week 12, SLEDAI-2K >= 6) no
    wider than 0.40 — and wider than pure binomial noise (0.27 without trial effects)."""
    c = checks["placebo.width.n50.week12"]
    assert c.passed and c.simulated > 0.28, (c.interval, c.simulated)


@pytest.mark.parametrize("target", [
    "treg.he2020_regimen.day14",   # 1 MIU every other day: ~2x at the end of the on-phase
    "treg.dilt1d.single_dose",     # one 0.1 MIU/m2 dose: +10% (Todd 2016)
    "treg.dilfrequency.q3d",       # 0.26 MIU/m2 every 3 days: steady +30% (Seelig 2018)
    "treg.vonspeemayer.daily5",    # 1.5 MIU daily x 5 (SLE): expansion (direction only)
    # Koreth 2011 (daily 1 MIU/m2, chronic GVHD): > 8x at week 4, simulated in the cGVHD host
    # (a Treg-deficient pool, trialsim/model/hosts.py; its size is fitted to this target)
    "treg.koreth2011.daily.week4",
])
def test_treg_fold_change_by_regimen(checks, target: str) -> None:
    """Issue 12 item 4: Treg fold change by regimen within each source's stated tolerance
    (trialsim/data/targets.toml [[treg_target]])."""
    c = checks[target]
    assert c.passed, (c.simulated, c.interval)


def test_cgvhd_host_only_changes_the_cgvhd_target(checks) -> None:
    """The Koreth regimen in the SLE host stays where the SLE model puts it (about 3.4x,
    far below 8x): the cGVHD figure is reached by the host, not by the SLE parameters."""
    c = checks["treg.koreth2011.daily.week4"]
    sle = float(c.what.split("the SLE host gives ")[1].rstrip("]"))
    assert "cgvhd host" in c.what and 3.0 < sle < 4.0 and c.simulated > 2 * sle


def test_fitted_treg_target_is_reported_as_a_fit(checks) -> None:
    """Koreth 2011 is met by construction (the cGVHD treg_pool is fitted to it): the report
    says so, and only for that target."""
    fits = {k for k, c in checks.items() if k.startswith("treg.") and c.what.startswith("FIT")}
    assert fits == {"treg.koreth2011.daily.week4"}
    assert "cgvhd treg_pool fitted to it" in checks["treg.koreth2011.daily.week4"].what


def test_schedule_matters_for_treg_expansion(checks) -> None:
    """The same weekly dose given daily for 5 days expands Treg more than every other day,
    and a single small dose barely moves them."""
    daily = checks["treg.vonspeemayer.daily5"].simulated
    qod = checks["treg.he2020_regimen.day14"].simulated
    single = checks["treg.dilt1d.single_dose"].simulated
    assert daily > qod + 0.5 and single < 1.2
