"""The result document of a run: what ``--json`` prints and ``summary.json`` holds."""

from __future__ import annotations

from typing import Any

import numpy as np

from trialsim.design import DesignResult
from trialsim.endpoints.describe import describe
from trialsim.protocol import Protocol
from trialsim.trial import TrialResult


def endpoint_summaries(result: TrialResult) -> list[dict[str, Any]]:
    """Per-arm descriptive summaries of every endpoint of one trial (primary first), with
    the week of assessment and the missing-data rule applied."""
    p = result.protocol
    names = [a.name for a in p.arms]
    out = []
    for name, data in result.endpoints.items():
        d = describe(data, result.arm, names)
        d["primary"] = name == p.endpoint.primary
        if data.kind == "binary" and not name.startswith("ae_"):
            d["week"], d["missing_rule"] = p.endpoint.week, p.analysis.missing
        elif data.kind == "continuous":
            d["week"], d["missing_rule"] = p.endpoint.week, p.analysis.missing_continuous
        out.append(d)
    return out


def summary_document(protocol: Protocol, result: DesignResult, *,
                     protocol_file: str | None = None,
                     run_dir: str | None = None) -> dict[str, Any]:
    """A JSON-ready summary.

    Keys: ``protocol`` (trial name), ``protocol_file``, ``seed``, ``seed_entropy`` (the
    SeedSequence entropy every replicate is spawned from), ``replicates``, ``endpoint``,
    ``cohort`` (screening of the first replicate), ``arms`` and ``comparisons`` (the first
    replicate's primary endpoint: the trial shown; intervals ``ci`` at ``ci_level``, raw and
    multiplicity-adjusted p-values), ``secondary`` (the analyses of its secondary endpoints),
    ``endpoints`` (every endpoint of the trial shown, per arm: :func:`endpoint_summaries`),
    ``warnings`` (undefined results of that trial, e.g. an empty arm: their numbers are
    ``null``), and with more than one replicate ``power`` and ``power_se``
    (of the first active arm versus control), ``operating_characteristics`` (every arm's mean
    rate and every comparison's power), and ``run_dir``. ``uncertainty`` says whether
    ``power`` is predictive (each replicate draws its trial's placebo response: assurance)
    or conditional (typical placebo response); with between-trial effects on, also
    ``power_conditional`` (same replicates, typical trial effect) and its SE and OCs.
    """
    first = result.first
    pts = first.cohort.patients
    doc: dict[str, Any] = {
        "protocol": protocol.trial.name,
        "protocol_file": protocol_file,
        "protocol_digest": protocol.digest(),
        "seed": protocol.trial.seed,
        "seed_entropy": int(np.random.SeedSequence(protocol.trial.seed).entropy),
        "replicates": protocol.trial.replicates,
        "endpoint": {"primary": protocol.endpoint.primary, "week": protocol.endpoint.week,
                     "secondary": list(protocol.endpoint.secondary)},
        "analysis": {"test": protocol.analysis.test, "continuous": protocol.analysis.continuous,
                     "time_to_event": protocol.analysis.time_to_event,
                     "multiplicity": protocol.analysis.multiplicity,
                     "sequence": list(protocol.analysis.sequence),
                     "alpha": protocol.analysis.alpha, "sided": protocol.analysis.sided,
                     "ci_level": first.analysis.ci_level},
        "cohort": {
            "enrolled": int(len(pts)),
            "screened": int(first.cohort.screened),
            "screen_failures": dict(sorted(first.cohort.screen_failures.items())),
            "female_fraction": float((pts["sex"] == "F").mean()),
            "mean_age": float(pts["age"].mean()),
            "mean_sledai": float(pts["sledai0"].mean()),
            "median_sledai": float(pts["sledai0"].median()),
            "renal_fraction": float(pts["renal"].mean()),
            "dropouts": int((first.dropout_day < protocol.horizon_days).sum()),
            "rescued": int(first.visits.rescue.any(axis=1).sum())
            if first.detail is not None else 0,
        },
        **first.analysis.to_dict(),
        "endpoints": endpoint_summaries(first),
    }
    doc["uncertainty"] = result.uncertainty
    effect = (result.first.detail.trial_effect if result.first.detail is not None
              else result.first.trial_effect)
    if effect is not None:
        doc["trial_effect_first_replicate"] = effect.to_dict()
    pset = (result.first.detail.parameter_set if result.first.detail is not None
            else result.first.parameter_set)
    if pset is not None:
        doc["parameter_set_first_replicate"] = pset.to_dict()
    if result.oc is not None:
        primary = result.oc.comparisons[0]
        doc["power"] = primary.power
        doc["power_se"] = primary.power_se
        doc["operating_characteristics"] = result.oc.to_dict()
    if result.oc_conditional is not None:
        c = result.oc_conditional.comparisons[0]
        doc["power_conditional"] = c.power
        doc["power_conditional_se"] = c.power_se
        doc["operating_characteristics_conditional"] = result.oc_conditional.to_dict()
    doc["run_dir"] = run_dir
    return doc
