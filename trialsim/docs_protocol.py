"""Generate ``docs/protocol.md`` from the protocol schema (:class:`trialsim.protocol.Protocol`).

    python -m trialsim.docs_protocol > docs/protocol.md      (or: make docs)

Types, defaults, bounds and allowed values come from the pydantic schema; the meaning of
each field comes from :data:`MEANINGS` below. A field without a meaning is an error, and
``tests/test_docs_protocol.py`` fails when ``docs/protocol.md`` is not what this prints, so
the document cannot fall behind the schema.
"""

from __future__ import annotations

import sys
import types
import typing
from typing import Any, Literal

from annotated_types import Ge, Gt, Le, Lt, MaxLen, MinLen
from pydantic import BaseModel

from trialsim.protocol import Protocol

MEANINGS: dict[str, str] = {
    "trial": "Identity and randomness of the simulation.",
    "trial.name": "Name of the trial; the run folder is `outputs/<name>/…`.",
    "trial.seed": "Seed of every random stream (keyed by replicate, stage and patient).",
    "trial.replicates": "Simulated trials for operating characteristics (power); 1: one trial.",
    "population": "How many to enrol and the inclusion criteria.",
    "population.n": "Patients to randomise (total over the arms).",
    "population.female_fraction": "Share of women in the candidate pool.",
    "population.ancestry": "Relative weights of the candidate pool's ancestries, a table "
                           "such as `{ asian = 1 }` (default: the US SLE population).",
    "population.age": "Inclusion: age range in years, `{ min = 18, max = 65 }`.",
    "population.age.min": "Youngest age enrolled (years).",
    "population.age.max": "Oldest age enrolled (years).",
    "population.min_sledai": "Inclusion: baseline SLEDAI-2K at least this.",
    "population.min_pga": "Inclusion: physician global assessment (0–3) at least this.",
    "population.require_serology": "Inclusion: anti-dsDNA positive or low complement.",
    "population.require_all": "Inclusion: every listed criterion must hold.",
    "population.require_any": "Inclusion: at least one listed criterion must hold.",
    "population.max_screened_per_enrolled": "Screening ceiling: give up (an error) after "
                                            "this many candidates per enrolled patient.",
    "population.host": "Whose Treg/IL-2 economy the model uses: `sle` (default, "
                       "calibrated) or `cgvhd` (Treg-deficient after stem-cell "
                       "transplantation; changes the Treg response only).",
    "population.enrolment_per_month": "Mean randomisations per month (Poisson arrivals); "
                                      "none: everyone at day 0. Needed by interim looks.",
    "arm": "One `[[arm]]` table per arm (at least two).",
    "arm.name": "Name of the arm (letters, digits, `_`, `.`, `-`).",
    "arm.ratio": "Allocation ratio.",
    "arm.regimen": "IL-2 dosing; absent: placebo (standard of care only).",
    "arm.regimen.dose_miu": "Dose per injection (million IU).",
    "arm.regimen.every_days": "Days between doses.",
    "arm.regimen.on_days": "Length of a dosing block (days); absent: dosing to the end.",
    "arm.regimen.off_days": "Days without dosing after each block.",
    "arm.regimen.cycles": "Number of on/off cycles; absent: repeated to the end.",
    "arm.regimen.start_day": "Day of the first dose.",
    "arm.regimen.route": "Subcutaneous (`sc`) or intravenous bolus (`iv`).",
    "arm.regimen.induction": "Optional induction block before maintenance dosing.",
    "arm.regimen.induction.dose_miu": "Induction dose per injection (million IU).",
    "arm.regimen.induction.every_days": "Days between induction doses.",
    "arm.regimen.induction.days": "Length of the induction block (days).",
    "arm.control": "This arm is the comparator (default: the first placebo arm).",
    "visits": "Scheduled visits.",
    "visits.weeks": "Visit weeks, increasing, starting at 0 (baseline).",
    "endpoint": "The primary and secondary endpoints (`trialsim/endpoints/catalog.py`).",
    "endpoint.primary": "Responder definition: SRI-4/5/6, BICLA or LLDAS.",
    "endpoint.week": "Week of the assessment of binary and continuous endpoints (one of "
                     "the visits).",
    "endpoint.secondary": "Further endpoints, reported per arm: responders (SRI-k, BICLA, "
                          "LLDAS, renal response), adverse events (`ae_*`), SLEDAI-2K change "
                          "and Treg fold change, time to first (severe) flare.",
    "analysis": "The analysis of every endpoint, multiplicity and dropout handling.",
    "analysis.test": "Binary endpoints: Pearson chi-square (`chisq`), with Yates's "
                     "correction (`chisq-yates`), Fisher's exact, Cochran–Mantel–Haenszel "
                     "over the randomisation strata with the Mantel–Haenszel risk difference "
                     "and odds ratio (`cmh`), or logistic regression on arm, baseline and "
                     "strata (`logistic`).",
    "analysis.continuous": "Continuous endpoints: ANCOVA on arm, baseline and strata "
                           "(`ancova`) or a repeated-measures GEE over all visits (`gee`).",
    "analysis.time_to_event": "Time-to-event endpoints: log-rank stratified by the "
                              "randomisation strata (`logrank`) or stratified Cox "
                              "regression (`cox`).",
    "analysis.multiplicity": "Family-wise error control over the active arms' comparisons "
                             "with control; with two arms every choice is the same.",
    "analysis.sequence": "Secondary endpoints (from `[endpoint] secondary`) tested after "
                         "the primary in this fixed order, each only if all before it "
                         "were significant; others are descriptive.",
    "analysis.alpha": "Significance level (family-wise with multiplicity control); "
                      "confidence intervals are at 1 − alpha (two-sided) or 1 − 2·alpha "
                      "(one-sided).",
    "analysis.sided": "One- or two-sided tests; one-sided tests are for the arm being "
                      "better than control.",
    "analysis.dropout_per_year": "Probability of dropping out within a year (constant "
                                 "hazard).",
    "analysis.missing": "Missing binary outcomes: non-responder imputation, last "
                        "observation carried forward, or observed cases.",
    "analysis.missing_continuous": "Missing continuous outcomes: observed cases, last "
                                   "observation carried forward, or multiple imputation "
                                   "(20 imputations, regression on baseline and last value).",
    "conduct": "Intercurrent events: how dropout arises and when rescue therapy is given.",
    "conduct.dropout": "Dropout mechanism: completely at random (`mcar`), depending on "
                       "the last recorded SLEDAI-2K (`mar`) or on unrecorded current "
                       "activity (`mnar`).",
    "conduct.dropout_ratio": "Dropout hazard ratio by arm, a table such as "
                             "`{ il2-1miu = 1.5 }` (default 1).",
    "conduct.dropout_after_adverse_event": "Dropout hazard ratio once a patient has had an "
                                           "adverse event (`mar`/`mnar` only).",
    "conduct.dropout_activity": "Log dropout hazard ratio per unit of relative disease "
                                "activity, 1 = baseline (`mar`/`mnar` only).",
    "conduct.rescue_sledai_increase": "Rescue therapy at the first visit with SLEDAI-2K at "
                                      "least this far above baseline: treatment failure "
                                      "from then on; none: no rescue.",
    "randomization": "Stratified permuted blocks.",
    "randomization.block_size": "Block size; absent: twice the sum of the ratios.",
    "randomization.stratify_by": "Strata: baseline SLEDAI-2K ≥ 10, sex, renal involvement.",
    "model": "Trial-level knobs of the standard-of-care model.",
    "model.sites": "Number of centres patients are spread over.",
    "model.site_sd": "Between-site SD (log scale) of the standard-of-care effect.",
    "model.between_trial": "Draw each trial's placebo response from the between-trial "
                           "distribution (predictive power); false: typical value "
                           "(conditional power).",
    "outcome": "What turns a patient into an endpoint value.",
    "outcome.model": "`mechanistic` immune model, or `fixed-rates` response probabilities.",
    "outcome.rates": "For `fixed-rates`: per arm, a response rate or one per stratum, "
                     "e.g. `{ placebo = 0.4, il2-1miu = 0.6 }`.",
    "interim": "Optional group-sequential design (Lan–DeMets alpha spending).",
    "interim.looks": "Information fractions of the looks, increasing, the last 1.",
    "interim.spending": "O'Brien–Fleming type, Pocock type or Hwang–Shih–DeCani.",
    "interim.gamma": "Hwang–Shih–DeCani gamma (with `spending = \"hsd\"`).",
    "interim.futility_z": "Non-binding futility z bounds, one per look before the last.",
}


TYPES = {
    "population.ancestry": "table: ancestry (`white`, `black`, `hispanic`, `asian`, "
                           "`american_indian`) → weight ≥ 0",
    "outcome.rates": "table: arm name → rate in [0, 1], or a list of rates (one per stratum)",
    "conduct.dropout_ratio": "table: arm name → hazard ratio in [0, 100]",
}


def _num(v: float) -> str:
    return f"{int(v)}" if float(v).is_integer() else f"{v:g}"


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The schema class a field holds (directly, optional, or as a list of tables)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin is Literal:
        return "one of " + ", ".join(f"`{a!r}`".replace("'", '"') for a in args)
    if origin in (typing.Union, types.UnionType):
        return _type_name(args[0]) if len(args) == 1 else " or ".join(map(_type_name, args))
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis and _model_of(args[0]) is None:
            return f"list of {_type_name(args[0])}"
        if _model_of(annotation) is not None:
            return "array of tables"
        return "table"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "table"
    return {int: "integer", float: "number", str: "string", bool: "boolean"}.get(
        annotation, str(annotation))


def _bounds(metadata: list[Any]) -> str:
    out = []
    for m in metadata:
        for cls, sym, attr in ((Ge, "≥", "ge"), (Gt, ">", "gt"), (Le, "≤", "le"),
                               (Lt, "<", "lt")):
            if isinstance(m, cls):
                out.append(f"{sym} {_num(getattr(m, attr))}")
        if isinstance(m, MinLen):
            out.append(f"at least {m.min_length} items")
        if isinstance(m, MaxLen):
            out.append(f"at most {m.max_length} long")
        pattern = getattr(m, "pattern", None)
        if pattern:
            out.append(f"matches `{pattern}`")
    return ", ".join(out)


def _default(field: Any) -> str:
    if field.is_required():
        return "required"
    d = field.default
    if d is None:
        return "none"
    if isinstance(d, BaseModel):
        return "see below"
    if isinstance(d, bool):
        return f"`{str(d).lower()}`"
    if isinstance(d, str):
        return f'`"{d}"`'
    if isinstance(d, tuple):
        return "`[" + ", ".join(f'"{x}"' if isinstance(x, str) else f"{x}" for x in d) + "]`"
    return f"`{_num(d)}`" if isinstance(d, float) else f"`{d}`"


def rows(model: type[BaseModel] = Protocol, prefix: str = "") -> list[tuple[str, ...]]:
    """(key, type, default, allowed, meaning) for every field, depth first."""
    out = []
    for name, field in model.model_fields.items():
        key = prefix + name
        if key not in MEANINGS:
            raise KeyError(f"trialsim/docs_protocol.py: no meaning for protocol field {key}")
        out.append((key, TYPES.get(key) or _type_name(field.annotation), _default(field),
                    _bounds(field.metadata), MEANINGS[key]))
        sub = _model_of(field.annotation)
        if sub is not None:
            out.extend(rows(sub, key + "."))
    return out


def render() -> str:
    lines = ["# Protocol fields", "",
             "<!-- Generated by `python -m trialsim.docs_protocol` (make docs) from the schema "
             "in trialsim/protocol.py; do not edit by hand. -->", "",
             "A protocol is a TOML file. Top-level tables are `[trial]`, `[population]`, "
             "`[[arm]]` (one per arm), `[visits]`, `[endpoint]` and the optional "
             "`[analysis]`, `[randomization]`, `[model]`, `[outcome]` and `[interim]`. A key "
             "`a.b` is the key `b` of table `[a]`; unknown keys are errors. A file may add "
             "`[[design]]` variants for `trialsim compare` (see protocols/dose-schedules.toml)."
             " See the shipped protocols in `protocols/` for commented examples.", "",
             "| key | type | default | allowed values | meaning |",
             "|---|---|---|---|---|"]
    for key, typ, default, allowed, meaning in rows():
        cells = [f"`{key}`", typ, default, allowed or "", meaning]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    unset = sorted(set(MEANINGS) - {r[0] for r in rows()})
    if unset:
        raise KeyError(f"trialsim/docs_protocol.py: meanings for removed fields: {unset}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
