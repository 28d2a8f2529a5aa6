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
    assert Stage.TRIAL_EFFECTS == 11 and Stage.PARAMETER_SET == 13
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
    """The posterior ensemble of (df, mu, sigma_T) ships with the package (trialsim
    calibrate --fit): 400 members, tails from t(2) to normal, centre near 0."""
    ens = load_ensemble()
    assert ens.size == 400 and 0.02 < np.median(ens.sd) < 0.4
    assert set(np.unique(ens.df)) <= {2.0, 3.0, 5.0, 10.0, np.inf} and len(np.unique(ens.df)) > 1
    assert abs(np.median(ens.mu)) <= 0.05 and (np.abs(ens.mu) <= 0.3).all()


def test_trial_effect_draws_follow_the_ensemble() -> None:
    """Simulated trials' effects: centred near 0, spread like the ensemble's predictive."""
    from trialsim.model.trial_effects import draw_trial_effect
    from trialsim.streams import generator

    s = np.array([draw_trial_effect(generator(1, r, Stage.TRIAL_EFFECTS), DEFAULT_PARAMETERS).s
                  for r in range(2000)])
    assert abs(np.median(s)) < 0.02 and 0.08 < np.std(s) < 0.4


def test_binomial_mixture_matches_brute_force_simulation() -> None:
    """The calibration's predictive distribution of a placebo arm (binomial mixture over the
    tabulated response curve) against 200 whole simulated trials of the same design
    (ustekinumab phase 2: 42 patients, week 24). Means agree within 4 Monte-Carlo SEs of the
    brute-force mean (SE ≈ sd/√200 ≈ 0.008) plus the tabulation error (800 patients per grid
    point: SE ≈ 0.017); SDs within 25%."""
    trial = next(t for t in load_placebo_trials() if t.id == "ustekinumab_ph2")
    ens = load_ensemble()
    sims = simulated_rates(trial, 200)
    table = tabulate(trial, patients=800)
    pmf = predictive_pmf(table, trial.n, ens)
    x = np.arange(trial.n + 1) / trial.n
    mean = float((pmf * x).sum())
    sd = float(np.sqrt((pmf * (x - mean) ** 2).sum()))
    assert abs(sims.mean() - mean) < 4 * sims.std() / np.sqrt(200) + 0.035, (sims.mean(), mean)
    assert sims.std() == pytest.approx(sd, rel=0.25)
    lo, hi, _ = interval_and_percentile(table, trial, ens)
    inside = ((sims >= lo) & (sims <= hi)).mean()
    assert inside > 0.9, inside


def test_parameter_ensemble_is_shipped_and_drawn_per_trial() -> None:
    """Issue 12 item 3: replicates draw a member of the fitted-parameter ensemble
    (trialsim/data/parameter_ensemble.json) from their PARAMETER_SET stream; conditional runs
    use the point values; the draw does not depend on the sample size."""
    from trialsim.model.parameter_ensemble import POINT, load_parameter_ensemble

    members = load_parameter_ensemble()
    assert members.shape == (200, 2) and (members > 0).all()
    assert len(np.unique(members[:, 0])) > 20
    p = load_protocol("protocols/ld-il2-vs-placebo.toml")
    a = simulate_trial(p.with_overrides(n=40), 2).detail.parameter_set
    b = simulate_trial(p.with_overrides(n=120), 2).detail.parameter_set
    assert a == b and a != POINT
    assert simulate_trials(p.with_overrides(n=20), [2], conditional=True)[0] \
        .detail.parameter_set == POINT
    # a caller's own treg_gain is kept fixed
    mine = simulate_trials(p.with_overrides(n=20), [2], DEFAULT_PARAMETERS.with_(
        treg_gain=12.0, tfh_suppression=3.0))[0].detail.parameter_set
    assert mine == POINT
