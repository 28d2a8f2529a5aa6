"""Keyed random streams: a patient is the same person at every n and in every design."""

from __future__ import annotations

import numpy as np

from tests.conftest import ROOT
from trialsim.protocol import load_protocol, parse_protocol
from trialsim.streams import BLOCK, PatientStream, Stage, generator
from trialsim.trial import simulate_trial


def test_patient_stream_values_do_not_depend_on_n() -> None:
    small = PatientStream(1, (0, Stage.VISITS), 10)
    big = PatientStream(1, (0, Stage.VISITS), 3 * BLOCK + 7)
    for method, args in (("random", ()), ("standard_normal", ()), ("exponential", (2.0,))):
        a = getattr(small, method)(*args, size=(10, 3))
        b = getattr(big, method)(*args, size=(3 * BLOCK + 7, 3))
        np.testing.assert_array_equal(a, b[:10])
    other = PatientStream(1, (1, Stage.VISITS), 10).random(10)
    assert not np.array_equal(other, PatientStream(1, (0, Stage.VISITS), 10).random(10))


def test_generators_are_keyed_by_stage() -> None:
    a = generator(5, 0, Stage.CANDIDATES).random(4)
    b = generator(5, 0, Stage.DROPOUT).random(4)
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(a, generator(5, 0, Stage.CANDIDATES).random(4))


def test_first_patients_of_a_larger_trial_are_the_smaller_trial() -> None:
    """Item 2 of the power issue: the trial of m patients is the first m of the trial of n."""
    p = load_protocol(ROOT / "protocols" / "ld-il2-vs-placebo.toml")
    small = simulate_trial(p.with_overrides(n=40), replicate=3)
    big = simulate_trial(p.with_overrides(n=130), replicate=3)
    m = 40
    cols = [c for c in small.cohort.patients.columns]
    assert small.cohort.patients.equals(big.cohort.patients.iloc[:m][cols])
    np.testing.assert_array_equal(small.arm, big.arm[:m])
    np.testing.assert_array_equal(small.responder, big.responder[:m])
    np.testing.assert_array_equal(small.dropout_day, big.dropout_day[:m])
    np.testing.assert_array_equal(small.visits.sledai, big.visits.sledai[:m])
    np.testing.assert_array_equal(small.visits.pga, big.visits.pga[:m])
    np.testing.assert_allclose(small.trajectory["R"], big.trajectory["R"][:m])
    assert small.cohort.screened == big.cohort.patients["screen_order"].iat[m - 1]


def test_same_patients_under_other_arms_and_regimens() -> None:
    """Patient k has the same baseline, parameters and noise whatever the arms' regimens."""
    p = load_protocol(ROOT / "protocols" / "ld-il2-vs-placebo.toml")
    data = p.model_dump(mode="json")
    data["arm"][1]["regimen"] = {"dose_miu": 3.0, "every_days": 1}
    q = parse_protocol(data)
    a, b = simulate_trial(p, 2), simulate_trial(q, 2)
    assert a.cohort.patients.equals(b.cohort.patients)
    np.testing.assert_array_equal(a.arm, b.arm)
    for name in a.parameters.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(a.parameters, name), getattr(b.parameters, name))
    placebo = a.arm == 0
    # Placebo patients are untouched by the other arm's regimen: same course, same visits.
    np.testing.assert_array_equal(a.visits.sledai[placebo], b.visits.sledai[placebo])
    np.testing.assert_array_equal(a.responder[placebo], b.responder[placebo])
    assert not np.array_equal(a.trajectory["R"][~placebo], b.trajectory["R"][~placebo])
