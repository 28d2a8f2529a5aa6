"""Tests of trialsim.cohort: screening, enrolment and calibration of the generative model.

Published figures are those collected in ``../shared/calibration/cohort.toml``:

* BLISS-52 (Navarra SV et al., Lancet 2011;377:721) and BLISS-76 (Furie R et al., Arthritis
  Rheum 2011;63:3918), inclusion SELENA-SLEDAI >= 6: pooled baseline SLEDAI mean 9.71
  (SD 3.76), 52.1% >= 10, PGA mean 1.4 (SD 0.5); anti-dsDNA positive 74.5% / 64.0%, low C3
  49.4% / 40.4%; mean age 35.5 / 40.2.
* TULIP-1/2 pooled (mean age 41.8) and He 2016 (Nat Med 2016;22:991; median age 31): with
  BLISS, the reference trials' mean ages span 31-43.
* He J et al., Ann Rheum Dis 2020;79:141 (low-dose IL-2 RCT in China, inclusion SLEDAI-2K
  >= 8): median SLEDAI-2K 12 (IL-2 arm) and 11 (placebo); lupus nephritis 25/59 (42%).

Calibration bands are wide (the generative model is fitted by hand to several trials at
once), and cohorts of 5000 make the Monte-Carlo error small against them: the SE of a share
is at most sqrt(0.25 / 5000) = 0.007 and of the mean SLEDAI-2K about 4.7 / sqrt(5000) = 0.07,
so with the fixed seeds every band below is at least 7 SE away from the simulated value
(e.g. mean SLEDAI-2K 10.21 against the upper limit 10.71; share >= 10 0.455 against 0.40).
The He 2020-like median is an integer: 32% of that cohort scores < 10 and 49% <= 10, so the
median sits firmly inside [10, 13].
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trialsim import sledai
from trialsim.cohort import C3_LOW_G_L, DSDNA_CUTOFF_IU, Cohort, enrol
from trialsim.errors import ProtocolError
from trialsim.protocol import AgeRange, Population

CALIBRATION = Path(__file__).resolve().parents[2] / "shared" / "calibration" / "cohort.toml"

# The published figures used below (cohort.toml, [trials.baseline]).
BLISS_POOLED_SLEDAI_MEAN = 9.71
BLISS_POOLED_PGA_MEAN = 1.4
BLISS_ANTI_DSDNA = (0.640, 0.745)   # BLISS-76, BLISS-52
BLISS_LOW_C3 = (0.404, 0.494)
HE2020_SLEDAI_MEDIANS = (11, 12)
HE2020_RENAL = 25 / 59


@pytest.fixture(scope="module")
def bliss_like() -> pd.DataFrame:
    """SLEDAI-2K >= 6, default (US) ancestry mix: a BLISS/TULIP-like population."""
    return enrol(Population(n=5000, min_sledai=6), np.random.default_rng(61)).patients


@pytest.fixture(scope="module")
def he2020_like() -> pd.DataFrame:
    """SLEDAI-2K >= 8, all Asian: the He 2020 population."""
    pop = Population(n=5000, min_sledai=8, ancestry={"asian": 1.0})
    return enrol(pop, np.random.default_rng(2020)).patients


@pytest.fixture(scope="module")
def cohort_2000() -> Cohort:
    pop = Population(n=2000, female_fraction=0.8, min_sledai=6)
    return enrol(pop, np.random.default_rng(8))


# --------------------------------------------------------------------------- screening


def test_female_fraction_matches_protocol(cohort_2000: Cohort) -> None:
    """Sex is independent of the inclusion criteria, so the enrolled share is Binomial(2000,
    0.8)/2000: SE 0.0089; 0.02 is 2.2 SE (fixed seed)."""
    female = (cohort_2000.patients["sex"] == "F").mean()
    assert abs(female - 0.8) < 0.02
    assert set(cohort_2000.patients["sex"]) == {"F", "M"}


def test_every_enrolled_patient_meets_criteria(cohort_2000: Cohort) -> None:
    pts = cohort_2000.patients
    assert len(pts) == 2000
    assert pts["age"].between(18, 65).all()
    assert (pts["sledai0"] >= 6).all()
    assert pts["id"].tolist() == list(range(1, 2001))


def test_screen_failures_account_for_everyone_screened(cohort_2000: Cohort) -> None:
    failures = cohort_2000.screen_failures
    assert set(failures) <= {"age", "sledai", "pga", "serology"}
    assert failures["sledai"] > 0 and failures["age"] > 0
    assert sum(failures.values()) + len(cohort_2000.patients) == cohort_2000.screened


def test_baseline_sledai_is_the_score_of_the_descriptors(cohort_2000: Cohort) -> None:
    pts = cohort_2000.patients
    np.testing.assert_array_equal(pts["sledai0"].to_numpy(), sledai.score(cohort_2000.descriptors))
    clinical = sledai.score(cohort_2000.descriptors & sledai.CLINICAL)
    np.testing.assert_array_equal(pts["clinical_sledai0"].to_numpy(), clinical)
    # Serology flags follow the laboratory values.
    np.testing.assert_array_equal(pts["d_increased_dna_binding"],
                                  pts["anti_dsdna0"] >= DSDNA_CUTOFF_IU)
    np.testing.assert_array_equal(pts["d_low_complement"], pts["c3_0"] < C3_LOW_G_L)
    renal = [f"d_{d.name}" for d in sledai.DESCRIPTORS if d.domain == "renal"]
    np.testing.assert_array_equal(pts["renal"], pts[renal].any(axis=1))


def test_narrow_age_range_and_pga_threshold_are_respected() -> None:
    pop = Population(n=300, min_sledai=4, min_pga=1.5, age=AgeRange(min=30, max=40))
    cohort = enrol(pop, np.random.default_rng(3))
    pts = cohort.patients
    assert pts["age"].between(30, 40).all() and (pts["pga0"] >= 1.5).all()
    assert cohort.screen_failures["pga"] > 0


def test_require_serology() -> None:
    pop = Population(n=500, min_sledai=6, require_serology=True)
    cohort = enrol(pop, np.random.default_rng(5))
    pts = cohort.patients
    assert (pts["d_increased_dna_binding"] | pts["d_low_complement"]).all()
    assert cohort.screen_failures["serology"] > 0


def test_impossible_criteria_raise_protocol_error() -> None:
    pop = Population(n=5, min_sledai=100)
    with pytest.raises(ProtocolError) as info:
        enrol(pop, np.random.default_rng(0), source="trial.toml")
    msg = str(info.value)
    assert msg.startswith("trial.toml: ") and "population" in msg
    assert "population.min_sledai" in msg and "\n" not in msg


def test_same_seed_same_cohort_different_seed_different() -> None:
    pop = Population(n=200, min_sledai=6)
    a = enrol(pop, np.random.default_rng(42))
    b = enrol(pop, np.random.default_rng(42))
    c = enrol(pop, np.random.default_rng(43))
    pd.testing.assert_frame_equal(a.patients, b.patients)
    assert a.screened == b.screened and a.screen_failures == b.screen_failures
    assert not a.patients.equals(c.patients)
    assert not np.array_equal(a.patients["age"], c.patients["age"])


# --------------------------------------------------------------------------- calibration


def test_calibration_constants_match_shared_file() -> None:
    """The figures hard-coded here are the ones in the shared calibration file."""
    if not CALIBRATION.exists():
        pytest.skip(f"{CALIBRATION} not present")
    base = tomllib.loads(CALIBRATION.read_text(encoding="utf-8"))["trials"]["baseline"]
    assert base["bliss_pooled"]["sledai_mean"] == BLISS_POOLED_SLEDAI_MEAN
    assert base["bliss_pooled"]["pga_mean"] == BLISS_POOLED_PGA_MEAN
    assert (base["bliss76"]["anti_dsdna_pos"], base["bliss52"]["anti_dsdna_pos"]) == \
        BLISS_ANTI_DSDNA
    assert (base["bliss76"]["low_c3"], base["bliss52"]["low_c3"]) == BLISS_LOW_C3
    he = base["he2020"]
    assert (he["sledai_median_placebo"], he["sledai_median_il2"]) == HE2020_SLEDAI_MEDIANS


def test_bliss_like_sledai(bliss_like: pd.DataFrame) -> None:
    """BLISS pooled: mean SLEDAI 9.71 (band ± 1.0), 52.1% >= 10 (band 0.40-0.60)."""
    assert abs(bliss_like["sledai0"].mean() - BLISS_POOLED_SLEDAI_MEAN) <= 1.0
    assert 0.40 <= (bliss_like["sledai0"] >= 10).mean() <= 0.60


def test_bliss_like_serology(bliss_like: pd.DataFrame) -> None:
    """BLISS-52/76: anti-dsDNA+ 64.0-74.5% (band 0.60-0.78), low C3 40.4-49.4% (0.38-0.55)."""
    assert 0.60 <= bliss_like["d_increased_dna_binding"].mean() <= 0.78
    assert 0.38 <= bliss_like["d_low_complement"].mean() <= 0.55


def test_bliss_like_age_and_pga(bliss_like: pd.DataFrame) -> None:
    """Mean age in the reference trials' 31-43 range; BLISS pooled PGA mean 1.4 ± 0.2."""
    assert 31 <= bliss_like["age"].mean() <= 43
    assert abs(bliss_like["pga0"].mean() - BLISS_POOLED_PGA_MEAN) <= 0.2
    assert bliss_like["pga0"].between(0, 3).all()


def test_he2020_like_sledai_and_nephritis(he2020_like: pd.DataFrame) -> None:
    """He 2020 (SLEDAI-2K >= 8, China): medians 11-12 (band 10-13), nephritis 25/59 = 42%
    (band 0.32-0.52)."""
    assert 10 <= he2020_like["sledai0"].median() <= 13
    assert 0.32 <= he2020_like["renal"].mean() <= 0.52
    assert (he2020_like["ancestry"] == "asian").all()
    assert (he2020_like["sledai0"] >= 8).all()


def test_asian_ancestry_raises_nephritis_share(bliss_like: pd.DataFrame,
                                               he2020_like: pd.DataFrame) -> None:
    """Direction of Lim 2014 / He 2020: nephritis is commoner in the Asian cohort (difference
    of ~0.25 against a SE of ~0.01)."""
    assert he2020_like["renal"].mean() > bliss_like["renal"].mean() + 0.1
