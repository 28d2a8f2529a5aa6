"""The batched analysis of many replicates (trialsim.stats.analysis_batch) gives, replicate
by replicate, the analysis of the reference path (trialsim.stats.analysis.analyse_trial:
scipy and statsmodels per trial): floats to 1e-9 relative, everything else identical."""

from __future__ import annotations

import math
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from trialsim.protocol import load_protocol
from trialsim.stats.analysis import analyse_trial
from trialsim.stats.analysis_batch import analyse_trials
from trialsim.stats.endpoint_data import EndpointData
from trialsim.trial import analyse, simulate_trials

PROTOCOLS = sorted((Path(__file__).parent.parent / "protocols").glob("*.toml"))
RTOL = 1e-9


def _same(a: Any, b: Any, where: str) -> None:
    """Recursive equality of result objects: floats to RTOL (NaN equals NaN)."""
    if isinstance(a, float) or isinstance(b, float):
        assert isinstance(a, (float, int)) and isinstance(b, (float, int)), where
        fa, fb = float(a), float(b)
        if math.isnan(fa) or math.isnan(fb):
            assert math.isnan(fa) and math.isnan(fb), f"{where}: {a} != {b}"
        else:
            assert fa == fb or abs(fa - fb) <= RTOL * max(abs(fa), abs(fb)), \
                f"{where}: {a!r} != {b!r}"
        return
    if isinstance(a, (tuple, list)):
        assert isinstance(b, (tuple, list)) and len(a) == len(b), f"{where}: {a} != {b}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}[{i}]")
        return
    if hasattr(a, "__dataclass_fields__"):
        assert type(a) is type(b), where
        for f in fields(a):
            _same(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
        return
    assert type(a) is type(b) and a == b, f"{where}: {a!r} != {b!r}"


def assert_same_analyses(got: list, expected: list) -> None:
    assert len(got) == len(expected)
    for r, (g, e) in enumerate(zip(got, expected, strict=True)):
        _same(g, e, f"replicate {r}")


NAMES = ["placebo", "low", "high"]
KINDS = {"binary": ("chisq", "chisq-yates", "fisher", "cmh", "logistic"),
         "continuous": ("ancova", "gee"), "time-to-event": ("logrank", "cox")}


def _trial(rng: np.random.Generator, n: int = 60, arms: int = 3,
           imputations: int = 0) -> tuple[list[EndpointData], np.ndarray, np.ndarray]:
    """One synthetic trial: two binary endpoints (one with missing values), a continuous
    one with baseline and visits, and a time to event."""
    arm = rng.permutation(np.arange(n) % arms)
    strata = rng.integers(0, 2, n)
    base = rng.normal(11, 3, n)
    y = (rng.random(n) < 0.3 + 0.15 * arm + 0.1 * strata).astype(float)
    y[rng.random(n) < 0.08] = np.nan
    y2 = (rng.random(n) < 0.5 + 0.05 * arm).astype(float)
    rep = (-1 - 0.6 * arm[:, None] - 0.3 * (base[:, None] - 11)
           + rng.normal(0, 2, (n, 1)) + rng.normal(0, 2, (n, 3)))
    rep[rng.random(rep.shape) < 0.1] = np.nan
    imp = None
    value = rep[:, -1]
    if imputations:
        imp = np.repeat(value[None], imputations, axis=0)
        miss = np.isnan(value)
        imp[:, miss] = rng.normal(-2, 2, (imputations, miss.sum()))
        value = imp.mean(axis=0)
    t = np.ceil(rng.exponential(150 * (1 + 0.3 * arm)))
    return ([EndpointData("sri4", "binary", y, baseline=base),
             EndpointData("bicla", "binary", y2, baseline=base),
             EndpointData("sledai_change", "continuous", value, baseline=base,
                          repeated=rep, imputations=imp, higher_is_better=False),
             EndpointData("time_to_flare", "time-to-event", np.minimum(t, 168),
                          event=t < 168)], arm, strata)


def _check(trials: list, names: list[str] = NAMES, control: int = 0, **kw: Any) -> list:
    got = analyse_trials([t[0] for t in trials], [t[1] for t in trials],
                         [t[2] for t in trials], names, control, **kw)
    ref = [analyse_trial(e, a, s, names, control, **kw) for e, a, s in trials]
    assert_same_analyses(got, ref)
    return ref


@pytest.mark.parametrize("binary", KINDS["binary"])
@pytest.mark.parametrize(("multiplicity", "sided", "sequence"), [
    ("holm", 2, ()), ("hochberg", 1, ("bicla", "sledai_change")),
    ("bonferroni", 2, ("time_to_flare",)), ("none", 1, ())])
def test_methods_and_multiplicity(binary: str, multiplicity: str, sided: int,
                                  sequence: tuple) -> None:
    rng = np.random.default_rng(len(binary) * 7 + sided)
    i = KINDS["binary"].index(binary)
    methods = {"binary": binary, "continuous": KINDS["continuous"][i % 2],
               "time-to-event": KINDS["time-to-event"][i % 2]}
    trials = [_trial(rng) for _ in range(6)]
    ref = _check(trials, alpha=0.1, sided=sided, multiplicity=multiplicity,
                 methods=methods, sequence=sequence)
    # a check that can fail: some comparison is significant, decisions follow the rule
    assert any(c.significant for an in ref for c in an.comparisons)
    assert {e.role for an in ref for e in an.endpoints} >= {"primary", "descriptive"}


@pytest.mark.parametrize(("continuous", "binary"), [("ancova", "chisq"), ("gee", "cmh")])
def test_dunnett(continuous: str, binary: str) -> None:
    rng = np.random.default_rng(3)
    trials = [_trial(rng) for _ in range(3)]
    for sided in (1, 2):
        _check(trials, multiplicity="dunnett", sided=sided, sequence=("sledai_change",),
               methods={"binary": binary, "continuous": continuous})


def test_multiple_imputation() -> None:
    rng = np.random.default_rng(5)
    trials = [_trial(rng, imputations=5) for _ in range(5)]
    ref = _check(trials, sequence=("sledai_change",))
    assert "Rubin" in ref[0].endpoints[2].comparisons[0].estimand


def _degenerate(rng: np.random.Generator) -> list:
    """Replicates with an arm without patients, an arm without responders, everybody
    responding, no events, an arm without values, and ordinary ones."""
    trials = [_trial(rng) for _ in range(7)]
    e, arm, strata = trials[0]
    arm[arm == 2] = 1                                           # no patients in "high"
    e, arm, _ = trials[1]
    e[0].value[arm == 1] = 0.0                                  # no responders in "low"
    e[1].value[arm == 0] = 0.0
    e, arm, _ = trials[2]
    e[0].value[:] = 1.0                                         # everybody responded
    e[1].value[:] = 0.0                                         # nobody responded
    e, arm, _ = trials[3]
    e[3].event[:] = False                                       # no events
    e, arm, _ = trials[4]
    e[0].value[arm == 2] = np.nan                               # an arm without values
    e[2].value[arm == 1] = np.nan
    e[2].repeated[arm == 1] = np.nan
    e, arm, _ = trials[5]
    e[3].event[(arm == 1) | (arm == 0)] = False                 # no events in a pair
    return trials


@pytest.mark.parametrize("binary", KINDS["binary"])
@pytest.mark.parametrize("sided", [1, 2])
def test_degenerate_replicates(binary: str, sided: int) -> None:
    rng = np.random.default_rng(11)
    i = KINDS["binary"].index(binary)
    ref = _check(_degenerate(rng), sided=sided, sequence=("bicla",),
                 methods={"binary": binary, "continuous": KINDS["continuous"][i % 2],
                          "time-to-event": KINDS["time-to-event"][i % 2]})
    assert any(an.warnings for an in ref)       # the degenerate cases were reached


def test_two_arms_one_sided_and_strata_labels() -> None:
    rng = np.random.default_rng(2)
    trials = []
    for _ in range(5):
        e, arm, strata = _trial(rng, arms=2)
        trials.append((e, arm, np.where(strata == 1, 7, -3)))   # arbitrary stratum labels
    _check(trials, names=["a", "b"], control=1, sided=1, alpha=0.2)


def test_ragged_replicates_and_bad_input_fall_back() -> None:
    rng = np.random.default_rng(4)
    trials = [_trial(rng, n=60), _trial(rng, n=61), _trial(rng, n=60)]   # two sizes
    _check(trials)
    e, arm, strata = _trial(rng)
    other = [replace(x, baseline=None) for x in e]               # endpoints that differ
    _check([(e, arm, strata), (other, arm, strata)])
    e, arm, strata = _trial(rng)
    e[0] = EndpointData("sri4", "binary", np.full(60, 2.0))
    with pytest.raises(ValueError, match="must hold 0, 1 or NaN"):
        analyse_trials([e], [arm], [strata], NAMES, 0)
    with pytest.raises(ValueError, match="sequence names"):
        analyse_trials([_trial(rng)[0]], [arm], [strata], NAMES, 0, sequence=("x",))
    assert analyse_trials([], [], [], NAMES, 0) == []


@pytest.mark.parametrize("path", PROTOCOLS, ids=[p.stem for p in PROTOCOLS])
def test_example_protocols(path: Path) -> None:
    """simulate_trials analyses its replicates with the batched path: each replicate's
    analysis equals the reference analysis of its endpoints."""
    protocol = load_protocol(path)
    results = simulate_trials(protocol, range(3))
    assert_same_analyses([r.analysis for r in results],
                         [analyse(protocol, r.endpoints, r.arm, r.strata) for r in results])


@pytest.mark.parametrize("binary", KINDS["binary"])
def test_a_replicate_does_not_depend_on_its_batch(binary: str) -> None:
    """Bit for bit: results must not depend on the chunk size (replicates sharing a batch),
    including multiple imputation, degenerate replicates and a stratum only some have."""
    rng = np.random.default_rng(8)
    i = KINDS["binary"].index(binary)
    trials = _degenerate(rng)
    e, arm, strata = trials[-1]
    trials[-1] = (e, arm, np.where(rng.random(arm.size) < 0.2, 2, strata))  # a third stratum
    kw = {"methods": {"binary": binary, "continuous": "ancova",
                      "time-to-event": KINDS["time-to-event"][i % 2]},
          "sequence": ("bicla",)}
    mi = [_trial(rng, imputations=4) for _ in range(3)]
    for group in (trials, mi):
        together = analyse_trials(*zip(*group, strict=True), NAMES, 0, **kw)
        for t, an in zip(group, together, strict=True):
            alone = analyse_trials([t[0]], [t[1]], [t[2]], NAMES, 0, **kw)[0]
            assert repr(alone.to_dict()) == repr(an.to_dict())
