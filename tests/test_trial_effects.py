"""Between-trial effects of the placebo response (issue 12)."""

from __future__ import annotations

import numpy as np
import pytest

from trialsim.model import DEFAULT_PARAMETERS
from trialsim.model.trial_effects import load_ensemble, trial_effect
from trialsim.placebo_trials import (
    interval_and_percentile,
    load_placebo_trials,
    predictive_pmf,
    simulated_rates,
    tabulate,
)
from trialsim.protocol import load_protocol
from trialsim.streams import Stage
from trialsim.trial import simulate_trial, simulate_trials


def test_trial_effect_stage_is_appended() -> None:
    """Adding the stage must not renumber the others (every existing draw stays put)."""
    assert [int(s) for s in Stage][:11] == list(range(1, 12))
    assert Stage.TRIAL_EFFECTS == 11
    assert [int(s) for s in Stage] == list(range(1, len(Stage) + 1))   # appended, no gaps


def test_trial_effect_is_the_same_at_every_size() -> None:
    p = load_protocol("protocols/ld-il2-vs-placebo.toml")
    for r in (0, 3):
        a = simulate_trial(p.with_overrides(n=40), r).detail.trial_effect
        b = simulate_trial(p.with_overrides(n=120), r).detail.trial_effect
        assert a == b and a.s != 0.0


def test_conditional_and_switch_fix_the_typical_trial() -> None:
    p = load_protocol("protocols/ld-il2-vs-placebo.toml").with_overrides(n=20)
    assert simulate_trials(p, [1], conditional=True)[0].detail.trial_effect.s == 0.0
    off = p.with_overrides(between_trial=False)
    assert simulate_trial(off, 1).detail.trial_effect.s == 0.0
    # the conditional trial has the same patients: same cohort, same arms
    on = simulate_trial(p, 1)
    assert (on.arm == simulate_trial(off, 1).arm).all()


def test_larger_effect_larger_placebo_response() -> None:
    p = load_protocol("protocols/placebo-52w.toml").with_overrides(n=300)
    lo, mid, hi = (simulate_trials(p, [0], fixed_effect=s)[0].responder.mean()
                   for s in (-0.3, 0.0, 0.3))
    assert lo < mid < hi
    assert trial_effect(0.0, DEFAULT_PARAMETERS).entry == 1.0


def test_shipped_ensemble() -> None:
    """The fitted sigma_T ensemble ships with the package (trialsim calibrate --fit)."""
    df, draws = load_ensemble()
    assert draws.size == 200 and 0.02 < np.median(draws) < 0.4


def test_binomial_mixture_matches_brute_force_simulation() -> None:
    """The calibration's predictive distribution of a placebo arm (binomial mixture over the
    tabulated response curve) against 200 whole simulated trials of the same design
    (ustekinumab phase 2: 42 patients, week 24). Means agree within 4 Monte-Carlo SEs of the
    brute-force mean (SE ≈ sd/√200 ≈ 0.008) plus the tabulation error (800 patients per grid
    point: SE ≈ 0.017); SDs within 25%."""
    trial = next(t for t in load_placebo_trials() if t.id == "ustekinumab_ph2")
    df, draws = load_ensemble()
    sims = simulated_rates(trial, 200)
    table = tabulate(trial, patients=800)
    pmf = predictive_pmf(table, trial.n, draws, df)
    x = np.arange(trial.n + 1) / trial.n
    mean = float((pmf * x).sum())
    sd = float(np.sqrt((pmf * (x - mean) ** 2).sum()))
    assert abs(sims.mean() - mean) < 4 * sims.std() / np.sqrt(200) + 0.035, (sims.mean(), mean)
    assert sims.std() == pytest.approx(sd, rel=0.25)
    lo, hi, _ = interval_and_percentile(table, trial, draws, df)
    inside = ((sims >= lo) & (sims <= hi)).mean()
    assert inside > 0.9, inside
