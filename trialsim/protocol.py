"""The protocol: a TOML file parsed once, at the edge, into typed frozen objects.

Nothing downstream of :func:`load_protocol` sees a raw dict. Every problem with a file
raises :class:`~trialsim.errors.ProtocolError` naming the file, the key path and what is
allowed, e.g. ``p.toml: arm[1].regimen.dose_miu must be > 0 (got -1).``

A minimal protocol::

    [trial]
    name = "ld-il2-vs-placebo"
    seed = 2020

    [population]
    n = 60
    min_sledai = 8

    [[arm]]
    name = "placebo"

    [[arm]]
    name = "il2-1miu"
    regimen = { dose_miu = 1.0, every_days = 2, on_days = 14, off_days = 14, cycles = 3 }

    [visits]
    weeks = [0, 2, 4, 8, 12, 16, 20, 24]

    [endpoint]
    primary = "sri4"
    week = 24
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)

from trialsim.endpoints.catalog import CATALOG, PRIMARY
from trialsim.errors import ProtocolError
from trialsim.files import read_small_text
from trialsim.messages import MAX_PROBLEMS, escape, join_problems, keypath, show_path, show_value

MAX_PROTOCOL_BYTES = 1_000_000   # a protocol is a few kB; anything over 1 MB is refused unread

Slug = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=80)]


class _Frozen(BaseModel):
    """Base: immutable, unknown keys are errors, no coercion of strings or booleans to
    numbers, no NaN or infinity (TOML can spell both)."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)





class TrialSpec(_Frozen):
    """``[trial]``: identity and randomness of the simulation."""

    name: Slug
    seed: int = Field(default=0, ge=0)
    replicates: int = Field(default=1, ge=1, le=1_000_000)


class AgeRange(_Frozen):
    """Inclusive age limits of the inclusion criteria, in years."""

    min: float = Field(default=18, ge=12, le=90)
    max: float = Field(default=65, ge=12, le=90)

    @model_validator(mode="after")
    def _ordered(self) -> AgeRange:
        if self.min >= self.max:
            raise ValueError(f"min must be < max (got min={self.min}, max={self.max})")
        return self


Ancestry = Literal["white", "black", "hispanic", "asian", "american_indian"]
# Enrichment criteria at screening (see trialsim.cohort.CRITERIA): anti-dsDNA positive,
# low complement (C3), active renal descriptors, no active renal descriptor.
Criterion = Literal["anti_dsdna", "low_complement", "renal", "non_renal"]


class Population(_Frozen):
    """``[population]``: how many to enrol and the inclusion criteria.

    ``ancestry`` gives relative weights of the candidate pool's ancestries (default: the US
    SLE population, see :mod:`trialsim.cohort`); e.g. ``{ asian = 1 }`` for a trial in China.
    """

    n: int = Field(ge=2, le=2_000_000)
    female_fraction: float = Field(default=0.9, ge=0.0, le=1.0)
    ancestry: tuple[tuple[Ancestry, Annotated[float, Field(ge=0)]], ...] | None = None

    @field_validator("ancestry", mode="before")
    @classmethod
    def _table_to_pairs(cls, value: Any) -> Any:
        # A TOML table {asian = 1.0} becomes sorted (name, weight) pairs: hashable, immutable.
        if isinstance(value, dict):
            return tuple(sorted(value.items()))
        if isinstance(value, list):
            return tuple(tuple(v) if isinstance(v, list) else v for v in value)
        return value

    @field_serializer("ancestry")
    def _pairs_to_table(self, value: Any) -> Any:
        return None if value is None else dict(value)

    # ``require_all``: every listed criterion must hold; ``require_any``: at least one (both
    # combine with AND). E.g. require_all = ["anti_dsdna", "low_complement"] enrols only
    # serologically active patients (both markers); require_any = the same pair equals
    # require_serology = true.
    # ``enrolment_per_month``: mean randomisations per month (30.4375 days), a Poisson
    # process; needed by interim looks to say who has data when. None: all at day 0.

    @property
    def ancestry_weights(self) -> dict[str, float] | None:
        """Ancestry weights as a fresh dict (``None``: the default mix)."""
        return None if self.ancestry is None else dict(self.ancestry)
    age: AgeRange = AgeRange()
    min_sledai: int = Field(default=6, ge=0, le=105)
    min_pga: float = Field(default=0.0, ge=0.0, le=3.0)
    require_serology: bool = False
    require_all: tuple[Criterion, ...] = Field(default=(), strict=False)
    require_any: tuple[Criterion, ...] = Field(default=(), strict=False)
    max_screened_per_enrolled: float = Field(default=200.0, gt=1.0)
    enrolment_per_month: float | None = Field(default=None, gt=0.0, le=100_000.0)
    # ``host``: whose Treg/IL-2 economy the model uses (trialsim.model.hosts). "sle" is the
    # calibrated default; "cgvhd" (Treg-deficient after stem-cell transplantation) changes
    # only the Treg response, not the SLE disease model.
    host: Literal["sle", "cgvhd"] = "sle"


class Induction(_Frozen):
    """A loading phase before the maintenance schedule."""

    dose_miu: float = Field(gt=0, le=1000)
    every_days: float = Field(gt=0.04, le=365)
    days: float = Field(gt=0, le=3650)


class Regimen(_Frozen):
    """Dosing of one arm: ``dose_miu`` every ``every_days``.

    Dosing runs in ``cycles`` of ``on_days`` dosing then ``off_days`` without (without
    ``cycles``: repeating to the end of the trial, or one course when ``off_days`` is 0);
    with no ``on_days`` it continues to the end of the trial. An optional ``induction`` block comes
    first. ``route`` is subcutaneous (``"sc"``) or intravenous bolus (``"iv"``).
    """

    dose_miu: float = Field(gt=0, le=1000)
    every_days: float = Field(gt=0.04, le=365)
    on_days: float | None = Field(default=None, gt=0, le=3650)
    off_days: float = Field(default=0.0, ge=0, le=3650)
    cycles: int | None = Field(default=None, ge=1, le=1000)
    start_day: float = Field(default=0.0, ge=0)
    route: Literal["sc", "iv"] = "sc"
    induction: Induction | None = None

    @model_validator(mode="after")
    def _cycles_need_on_days(self) -> Regimen:
        if self.cycles is not None and self.on_days is None:
            raise ValueError("cycles needs on_days (the length of each dosing phase)")
        if self.off_days > 0 and self.on_days is None:
            raise ValueError("off_days needs on_days (the length of each dosing phase)")
        return self


class Arm(_Frozen):
    """``[[arm]]``: a treatment group. No ``regimen`` means placebo (standard of care)."""

    name: Slug
    ratio: int = Field(default=1, ge=1, le=100)
    regimen: Regimen | None = None
    control: bool = False

    @property
    def is_placebo(self) -> bool:
        return self.regimen is None


class Visits(_Frozen):
    """``[visits]``: scheduled assessment weeks; week 0 is baseline."""

    weeks: tuple[float, ...] = Field(min_length=2, strict=False)

    @field_validator("weeks")
    @classmethod
    def _increasing_from_zero(cls, weeks: tuple[float, ...]) -> tuple[float, ...]:
        if weeks[0] != 0:
            raise ValueError(f"must start at 0 (baseline) (got {weeks[0]:g})")
        if any(b <= a for a, b in zip(weeks, weeks[1:], strict=False)):
            raise ValueError("must be strictly increasing")
        if weeks[-1] > 520:
            raise ValueError(f"must end by week 520 (got {weeks[-1]:g})")
        return weeks

    @property
    def days(self) -> tuple[float, ...]:
        return tuple(7.0 * w for w in self.weeks)


# Endpoint names come from the registry's catalogue (trialsim/endpoints/catalog.py).
Endpoint = Literal[PRIMARY]             # type: ignore[valid-type]
EndpointName = Literal[tuple(CATALOG)]  # type: ignore[valid-type]


class EndpointSpec(_Frozen):
    """``[endpoint]``: the primary endpoint, the week it is assessed, and secondary endpoints
    (reported for every arm; binary and continuous ones at the same week)."""

    primary: Endpoint = "sri4"
    week: float = Field(gt=0)
    secondary: tuple[EndpointName, ...] = Field(default=(), strict=False, max_length=20)

    @field_validator("secondary")
    @classmethod
    def _distinct(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"must not repeat an endpoint (repeated: {', '.join(dup)})")
        return names

    @property
    def all(self) -> tuple[str, ...]:
        """The primary endpoint, then the secondary ones (without repeating the primary)."""
        return (self.primary, *(n for n in self.secondary if n != self.primary))


class Analysis(_Frozen):
    """``[analysis]``: the analysis of every endpoint kind, multiplicity, dropout handling.

    ``test`` analyses binary endpoints, ``continuous`` continuous ones and
    ``time_to_event`` times to an event (see :mod:`trialsim.stats.analysis`); the defaults
    (CMH, ANCOVA, log-rank) use the randomisation strata, as ICH E9 asks of the primary
    analysis. ``multiplicity`` controls the family-wise error over the comparisons of the
    active arms with control; ``sequence`` lists secondary endpoints tested after the
    primary, in that fixed order (each only when everything before it was significant).
    """

    test: Literal["chisq", "chisq-yates", "fisher", "cmh", "logistic"] = "cmh"
    continuous: Literal["ancova", "gee"] = "ancova"
    time_to_event: Literal["logrank", "cox"] = "logrank"
    multiplicity: Literal["none", "bonferroni", "holm", "hochberg", "dunnett"] = "holm"
    sequence: tuple[str, ...] = Field(default=(), strict=False, max_length=50)
    alpha: float = Field(default=0.05, gt=0.0, lt=0.5)
    sided: Literal[1, 2] = 2
    dropout_per_year: float = Field(default=0.1, ge=0.0, lt=1.0)
    missing: Literal["non-responder", "locf", "observed"] = "non-responder"
    missing_continuous: Literal["observed", "locf", "multiple-imputation"] = "observed"

    @property
    def methods(self) -> dict[str, str]:
        """The analysis method of each endpoint kind."""
        return {"binary": self.test, "continuous": self.continuous,
                "time-to-event": self.time_to_event}

    @field_validator("sequence")
    @classmethod
    def _unique(cls, sequence: tuple[str, ...]) -> tuple[str, ...]:
        dup = sorted({s for s in sequence if sequence.count(s) > 1})
        if dup:
            raise ValueError(f"must name each endpoint once (repeated: {', '.join(dup)})")
        return sequence

    @field_validator("sided", mode="before")
    @classmethod
    def _sided_is_an_integer(cls, value: Any) -> Any:
        # Literal[1, 2] alone would take true (== 1) and 2.0 (== 2).
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"must be the integer 1 or 2 (got {show_value(value)})")
        return value


class Conduct(_Frozen):
    """``[conduct]``: intercurrent events (:mod:`trialsim.conduct`).

    Dropout hazard = ``[analysis] dropout_per_year``'s hazard × ``dropout_ratio[arm]`` ×
    ``dropout_after_adverse_event`` once an adverse event has occurred ×
    exp(``dropout_activity`` × (relative activity − 1)); ``dropout`` says which activity:
    none (``"mcar"``), the last recorded SLEDAI-2K over baseline (``"mar"``) or the current
    unrecorded disease activity (``"mnar"``). ``rescue_sledai_increase``: rescue therapy at
    the first visit with SLEDAI-2K at least this far above baseline, a treatment failure.
    """

    dropout: Literal["mcar", "mar", "mnar"] = "mcar"
    dropout_ratio: tuple[tuple[str, Annotated[float, Field(ge=0.0, le=100.0)]], ...] = ()
    dropout_after_adverse_event: float = Field(default=1.0, ge=0.0, le=100.0)
    dropout_activity: float = Field(default=0.0, ge=-10.0, le=10.0)
    rescue_sledai_increase: int | None = Field(default=None, ge=1, le=105)

    @field_validator("dropout_ratio", mode="before")
    @classmethod
    def _table_to_pairs(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return tuple(value.items())
        return value

    @field_serializer("dropout_ratio")
    def _pairs_to_table(self, value: Any) -> Any:
        return dict(value)

    @model_validator(mode="after")
    def _random_means_random(self) -> Conduct:
        if self.dropout == "mcar":
            for key, default in (("dropout_after_adverse_event", 1.0),
                                 ("dropout_activity", 0.0)):
                if getattr(self, key) != default:
                    raise _CrossFieldError(("conduct", key),
                                           f'needs dropout = "mar" or "mnar" (dropout = '
                                           f'"mcar" is at random; got {getattr(self, key):g})')
        return self


class Randomization(_Frozen):
    """``[randomization]``: permuted blocks, optionally stratified."""

    block_size: int | None = Field(default=None, ge=2, le=1000)
    stratify_by: tuple[Literal["sledai_ge10", "sex", "renal"], ...] = Field(
        default=("sledai_ge10",), strict=False)


class Model(_Frozen):
    """``[model]``: trial-level knobs of the standard-of-care model.

    ``site_sd`` is the between-site SD (log scale) of the standard-of-care effect, with
    patients spread over ``sites`` centres; 0 means one homogeneous population.

    ``between_trial = true`` (default) draws each simulated trial's placebo/standard-of-care
    response from the between-trial distribution fitted to published SLE trials
    (:mod:`trialsim.model.trial_effects`), so power over replicates is *predictive* power
    (assurance); ``false`` fixes it at its typical value (*conditional* power).
    """

    sites: int = Field(default=1, ge=1, le=1000)
    site_sd: float = Field(default=0.0, ge=0.0, le=2.0)
    between_trial: bool = True


Rate = Annotated[float, Field(ge=0.0, le=1.0)]


class Outcome(_Frozen):
    """``[outcome]``: what turns a patient into an endpoint value.

    ``model = "mechanistic"`` (default) runs the immune-balance model and scores visits.
    ``model = "fixed-rates"`` skips the model: patient i responds with probability
    ``rates[arm]`` (a number, or a list with one rate per randomisation stratum, in the
    order of :func:`trialsim.randomization.strata_labels`), among patients who have not
    dropped out by the endpoint week (dropouts are non-responders).
    """

    model: Literal["mechanistic", "fixed-rates"] = "mechanistic"
    rates: tuple[tuple[str, tuple[Rate, ...]], ...] | None = None

    @field_validator("rates", mode="before")
    @classmethod
    def _table_to_pairs(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return tuple((k, tuple(v) if isinstance(v, list) else (v,))
                         for k, v in value.items())
        return value

    @field_serializer("rates")
    def _pairs_to_table(self, value: Any) -> Any:
        if value is None:
            return None
        return {k: (v[0] if len(v) == 1 else list(v)) for k, v in value}

    @model_validator(mode="after")
    def _rates_match_model(self) -> Outcome:
        if self.model == "fixed-rates" and not self.rates:
            raise _CrossFieldError(("outcome", "rates"),
                                   'is required with model = "fixed-rates" (one rate per arm)')
        if self.model == "mechanistic" and self.rates:
            raise _CrossFieldError(("outcome", "rates"),
                                   'is only used with model = "fixed-rates"')
        return self


class Interim(_Frozen):
    """``[interim]``: a group-sequential design (Lan–DeMets alpha spending).

    ``looks`` are information fractions (share of the ``n`` patients with the primary
    endpoint assessed), increasing, the last 1. ``spending`` is ``"obf"`` (O'Brien–Fleming
    type), ``"pocock"`` (Pocock type) or ``"hsd"`` (Hwang–Shih–DeCani with ``gamma``).
    ``futility_z`` (optional, one per look before the last) are non-binding futility bounds:
    the trial stops when the signed z statistic (positive favours the active arm) is below
    the bound; efficacy bounds ignore them, as regulators expect of non-binding bounds.
    """

    looks: tuple[float, ...] = Field(min_length=1, max_length=20, strict=False)
    spending: Literal["obf", "pocock", "hsd"] = "obf"
    gamma: float = Field(default=-4.0, ge=-40.0, le=40.0)
    futility_z: tuple[float, ...] | None = Field(default=None, strict=False)

    @field_validator("looks")
    @classmethod
    def _fractions(cls, looks: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0.0 < t <= 1.0 for t in looks):
            raise ValueError(f"must be information fractions in (0, 1] (got {list(looks)})")
        if any(b <= a for a, b in zip(looks, looks[1:], strict=False)):
            raise ValueError("must be strictly increasing")
        if looks[-1] != 1.0:
            raise ValueError(f"must end with 1 (the final analysis) (got {looks[-1]:g})")
        return looks

    @model_validator(mode="after")
    def _futility_per_look(self) -> Interim:
        if self.futility_z is not None and len(self.futility_z) != len(self.looks) - 1:
            raise _CrossFieldError(
                ("interim", "futility_z"),
                f"needs one bound per look before the last ({len(self.looks) - 1}) "
                f"(got {len(self.futility_z)})")
        return self


class Protocol(_Frozen):
    """A whole validated protocol. Build it with :func:`load_protocol` or :func:`parse_protocol`."""

    trial: TrialSpec
    population: Population
    arm: tuple[Arm, ...] = Field(min_length=2, strict=False)
    visits: Visits
    endpoint: EndpointSpec
    analysis: Analysis = Analysis()
    randomization: Randomization = Randomization()
    model: Model = Model()
    outcome: Outcome = Outcome()
    conduct: Conduct = Conduct()
    interim: Interim | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Protocol:
        names = [a.name for a in self.arm]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise _CrossFieldError(("arm",), f"names must be unique (repeated: {', '.join(dup)})")
        controls = [i for i, a in enumerate(self.arm) if a.control]
        if len(controls) > 1:
            raise _CrossFieldError(("arm", controls[1], "control"), "only one arm can be control")
        if not controls and not any(a.is_placebo for a in self.arm):
            raise _CrossFieldError(
                ("arm",), "needs a control: an arm without regimen (placebo) or control = true"
            )
        if self.endpoint.week not in self.visits.weeks:
            raise _CrossFieldError(
                ("endpoint", "week"),
                f"must be one of the visit weeks {show_value(list(self.visits.weeks))} "
                f"(got {self.endpoint.week:g})",
            )
        bs = self.randomization.block_size
        total = sum(a.ratio for a in self.arm)
        if bs is not None and bs % total:
            raise _CrossFieldError(
                ("randomization", "block_size"),
                f"must be a multiple of the allocation ratios' sum {total} (got {bs})",
            )
        anc = self.population.ancestry_weights
        if anc is not None and sum(anc.values()) <= 0:
            raise _CrossFieldError(("population", "ancestry"), "needs a weight > 0")
        if self.population.n < len(self.arm):
            raise _CrossFieldError(
                ("population", "n"), f"must be at least the number of arms {len(self.arm)}"
            )
        self._check_rates(names)
        self._check_conduct(names)
        self._check_sequence()
        if self.interim is not None:
            if len(self.arm) != 2:
                raise _CrossFieldError(("interim",), "needs exactly two arms (one comparison)")
            if self.population.enrolment_per_month is None:
                raise _CrossFieldError(
                    ("population", "enrolment_per_month"),
                    "is required with [interim] (it decides who has data at each look)")
        return self

    def _check_sequence(self) -> None:
        secondary = tuple(getattr(self.endpoint, "secondary", ()) or ())
        for i, name in enumerate(self.analysis.sequence):
            if name not in secondary:
                raise _CrossFieldError(
                    ("analysis", "sequence", i),
                    f"must name a secondary endpoint of [endpoint] secondary "
                    f"({', '.join(map(str, secondary)) or 'none declared'}) "
                    f"(got {show_value(name)})")

    def _check_rates(self, names: list[str]) -> None:
        if self.outcome.rates is None:
            return
        given = [k for k, _ in self.outcome.rates]
        for k in given:
            if k not in names:
                raise _CrossFieldError(("outcome", "rates", k),
                                       f"is not an arm (arms: {', '.join(names)})")
        missing = [a for a in names if a not in given]
        if missing:
            raise _CrossFieldError(("outcome", "rates"),
                                   f"needs a rate for every arm (missing: {', '.join(missing)})")
        strata = 2 ** len(self.randomization.stratify_by)
        for k, v in self.outcome.rates:
            if len(v) not in (1, strata):
                raise _CrossFieldError(
                    ("outcome", "rates", k),
                    f"must be one rate or one per randomisation stratum ({strata}) "
                    f"(got {len(v)})")

    def _check_conduct(self, names: list[str]) -> None:
        for k, _ in self.conduct.dropout_ratio:
            if k not in names:
                raise _CrossFieldError(("conduct", "dropout_ratio", k),
                                       f"is not an arm (arms: {', '.join(names)})")
        if self.outcome.model == "mechanistic":
            return
        needs = [(("endpoint", "secondary"), bool(self.endpoint.secondary)),
                 (("conduct", "dropout"), self.conduct.dropout != "mcar"),
                 (("conduct", "rescue_sledai_increase"),
                  self.conduct.rescue_sledai_increase is not None),
                 (("analysis", "missing"), self.analysis.missing != "non-responder")]
        for loc, used in needs:
            if used:
                raise _CrossFieldError(loc, f'needs the mechanistic outcome model (the '
                                       f'{self.outcome.model} model has no visits)')

    @model_validator(mode="after")
    def _doses_start_within_trial(self) -> Protocol:
        # A regimen starting on or after the last visit day gives no dose at all.
        for i, a in enumerate(self.arm):
            if a.regimen is not None and a.regimen.start_day >= self.horizon_days:
                raise _CrossFieldError(
                    ("arm", i, "regimen", "start_day"),
                    f"must be before the last visit, day {self.horizon_days:g} "
                    f"(week {self.visits.weeks[-1]:g}) (got {a.regimen.start_day:g})",
                )
        return self

    @property
    def arms(self) -> tuple[Arm, ...]:
        return self.arm

    @property
    def control_arm(self) -> Arm:
        """The comparator: the arm marked ``control``, else the first placebo arm."""
        for a in self.arm:
            if a.control:
                return a
        return next(a for a in self.arm if a.is_placebo)

    @property
    def block_size(self) -> int:
        return self.randomization.block_size or 2 * sum(a.ratio for a in self.arm)

    @property
    def horizon_days(self) -> float:
        return self.visits.days[-1]

    def digest(self) -> str:
        """Short hash of the protocol content (seed included): names a run folder."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:8]

    def with_overrides(self, *, seed: int | None = None, replicates: int | None = None,
                       n: int | None = None, between_trial: bool | None = None,
                       source: str = "<override>") -> Protocol:
        """A copy with the trial seed, replicate count, sample size or ``[model]
        between_trial`` replaced (validated; errors name ``source``)."""
        data = self.model_dump(mode="json")
        if between_trial is not None:
            data.setdefault("model", {})["between_trial"] = between_trial
        if seed is not None:
            data["trial"]["seed"] = seed
        if replicates is not None:
            data["trial"]["replicates"] = replicates
        if n is not None:
            data["population"]["n"] = n
        return parse_protocol(data, source=source)


class _CrossFieldError(ValueError):
    """A cross-field problem that knows its own key path."""

    def __init__(self, loc: tuple[Any, ...], msg: str) -> None:
        super().__init__(msg)
        self.loc = loc
        self.msg = msg


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    """The keys the schema accepts at the table that contains ``loc``'s last key."""
    model: Any = Protocol
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return []
        ann = field.annotation
        model = _model_in(ann)
        if model is None:
            return []
    return list(model.model_fields)


def _model_in(annotation: Any) -> Any:
    """The pydantic model inside ``X``, ``X | None`` or ``tuple[X, ...]``, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _did_you_mean(key: Any, allowed: list[str]) -> str | None:
    """The allowed key closest to a misspelt one (``sexratio`` → none, ``nn`` → ``n``)."""
    text = str(key)[:100].lower()
    close = difflib.get_close_matches(text, allowed, n=1, cutoff=0.6)
    if not close:
        close = [a for a in allowed if text.replace("-", "_") == a or text.rstrip("s") == a]
    return close[0] if close else None


_TYPE_NAMES = {
    "model_type": "a table", "dict_type": "a table", "model_attributes_type": "a table",
    "tuple_type": "an array", "list_type": "an array", "int_type": "an integer",
    "float_type": "a number", "bool_type": "true or false", "string_type": "a string",
    "finite_number": "a finite number",
}


def _describe(err: dict[str, Any], listed: set[tuple[Any, ...]] | None = None) -> str:
    """One readable phrase for one pydantic error, in the form ``must … (got …)``.

    An unknown key's message lists the allowed keys of its table once per message:
    ``listed`` collects the tables already listed.
    """
    kind, ctx, got = err["type"], err.get("ctx") or {}, err.get("input")
    if kind == "extra_forbidden":
        allowed = _allowed_keys(err["loc"])
        hint = _did_you_mean(err["loc"][-1], allowed)
        if listed is not None:
            table = tuple(err["loc"][:-1])
            if table in listed:
                allowed = []
            listed.add(table)
        inside = " ".join(
            ([f"did you mean {hint}?"] if hint else [])
            + ([f"allowed: {', '.join(allowed)}"] if allowed else []))
        return "is not a known key" + (f" ({inside})" if inside else "")
    if kind == "missing":
        return "is required"
    bounds = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<",
              "less_than_equal": "<="}
    if kind in bounds:
        limit = next(iter(ctx.values()))
        return f"must be {bounds[kind]} {limit} (got {show_value(got)})"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')} (got {show_value(got)})"
    if kind == "string_pattern_mismatch":
        return f"must be a name of letters, digits, '-', '_' or '.' (got {show_value(got)})"
    if kind in ("too_short", "too_long"):
        which = "at least" if kind == "too_short" else "at most"
        limit = ctx.get("min_length" if kind == "too_short" else "max_length")
        size = len(got) if isinstance(got, list | tuple) else ctx.get("actual_length", "?")
        return f"must have {which} {limit} items (got {size})"
    if kind in ("string_too_short", "string_too_long"):
        which = "at least" if kind == "string_too_short" else "at most"
        limit = ctx.get("min_length" if kind == "string_too_short" else "max_length")
        size = len(got) if isinstance(got, str) else "?"
        return f"must be {which} {limit} characters long (got {size}: {show_value(got)})"
    if kind in _TYPE_NAMES:
        return f"must be {_TYPE_NAMES[kind]} (got {show_value(got)})"
    if kind == "value_error":
        text = str(ctx.get("error", err["msg"]))
        return text if text.startswith("must ") else "must be valid: " + text
    return f"{err['msg'].lower().replace('input should', 'must')} (got {show_value(got)})"


def _problem(err: dict[str, Any], listed: set[tuple[Any, ...]]) -> str:
    error = (err.get("ctx") or {}).get("error")
    if isinstance(error, _CrossFieldError):
        return f"{keypath(error.loc)} {error.msg}"
    return f"{keypath(err['loc'])} {_describe(err, listed)}"


def _only_consequence(err: dict[str, Any]) -> bool:
    """"Too short" counted after invalid items were dropped: the items' own errors say it."""
    got, limit = err.get("input"), (err.get("ctx") or {}).get("min_length")
    return (err["type"] == "too_short" and isinstance(got, list | tuple)
            and limit is not None and len(got) >= limit)


def parse_protocol(data: dict[str, Any], source: str = "<protocol>") -> Protocol:
    """Validate a raw mapping (as read from TOML) into a :class:`Protocol`.

    Raises :class:`ProtocolError` naming ``source`` and every problem found (unknown keys
    first, with the nearest allowed key), on one line separated by ``"; "``.
    """
    try:
        return Protocol.model_validate(data)
    except ValidationError as exc:
        errs = sorted((e for e in exc.errors() if not _only_consequence(e)),
                      key=lambda e: e["type"] != "extra_forbidden")
        listed: set[tuple[Any, ...]] = set()
        message = join_problems([_problem(e, listed) for e in errs[:MAX_PROBLEMS]], len(errs))
        raise ProtocolError(f"{show_path(source)}: {message}.") from None


def read_protocol_text(path: str | Path, limit: int = MAX_PROTOCOL_BYTES) -> str:
    """The text of a protocol file: a regular UTF-8 file of at most ``limit`` bytes (a
    folder, a FIFO or ``/dev/zero`` is refused without being read; see
    :func:`trialsim.files.read_small_text`)."""
    return read_small_text(path, limit=limit, error=ProtocolError, noun="protocol",
                           kind="TOML", missing="no such protocol file")


def protocol_from_text(text: str, source: str = "<protocol>") -> Protocol:
    """Parse and validate protocol TOML text; every problem is a :class:`ProtocolError`."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProtocolError(f"{show_path(source)}: is not valid TOML "
                            f"({escape(str(exc), 200)}).") from None
    except ValueError:  # an integer of more than 4300 digits
        raise ProtocolError(f"{show_path(source)}: is not valid TOML (a number is too "
                            "long).") from None
    except RecursionError:
        raise ProtocolError(f"{show_path(source)}: is not valid TOML (arrays or tables "
                            "nest too deeply).") from None
    designs = data.pop("design", None)
    protocol = parse_protocol(data, source=source)
    if designs is not None:   # variants for `trialsim compare`: every one must be valid too
        from trialsim.variants import expand_designs

        expand_designs(protocol, designs, source)
    return protocol


def load_protocol(path: str | Path) -> Protocol:
    """Read and validate a protocol TOML file (see :func:`read_protocol_text`)."""
    return protocol_from_text(read_protocol_text(path), source=str(path))


def protocol_to_toml(protocol: Protocol) -> str:
    """Render a protocol back to TOML (the 'protocol as run' saved with every output)."""
    data = protocol.model_dump(mode="json", exclude_none=True)
    lines: list[str] = []

    def key(k: str) -> str:
        # TOML bare keys are letters, digits, '-' and '_'; anything else (an arm name with a
        # dot) must be quoted.
        return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k)

    def scalar(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, list):
            return "[" + ", ".join(scalar(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{key(k)} = {scalar(x)}" for k, x in v.items()) + " }"
        return repr(v)

    for section, body in data.items():
        if section == "arm":
            for arm in body:
                lines.append("[[arm]]")
                lines += [f"{k} = {scalar(v)}" for k, v in arm.items()]
                lines.append("")
            continue
        lines.append(f"[{section}]")
        lines += [f"{k} = {scalar(v)}" for k, v in body.items()]
        lines.append("")
    return "\n".join(lines)
