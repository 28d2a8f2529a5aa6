"""The one result type of every analysis: per-arm summaries and comparisons versus control.

An analysis of one endpoint (:class:`EndpointAnalysis`) holds an :class:`ArmSummary` per
arm and a :class:`Comparison` per active arm versus control; a trial's analysis
(:class:`TrialAnalysis`) holds the primary endpoint's and every secondary endpoint's, with
the multiplicity rule that turned p-values into decisions. Every record states its
estimand, estimate, confidence interval (and its level), unadjusted and adjusted p-value and
decision, whatever the endpoint's kind (binary, continuous, time-to-event).

Undefined numbers (an empty arm, a table without responders for a chi-square test) are NaN
in the objects and ``null`` in JSON, with a warning in :attr:`EndpointAnalysis.warnings`;
never a placeholder such as rate 0 with interval (0, 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

NAN = float("nan")


def _num(x: float | None) -> float | None:
    """A JSON-safe float: NaN and infinities become ``None``."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _pair(ci: tuple[float, float]) -> list[float | None]:
    return [_num(ci[0]), _num(ci[1])]


@dataclass(frozen=True)
class ArmSummary:
    """One arm's outcome on one endpoint.

    ``n`` patients were randomised to the arm, ``analysed`` of them had a value (binary and
    continuous endpoints after the missing-data rule; all for time-to-event). ``statistic``
    names ``estimate``: ``"rate"`` (responders / analysed, Wilson interval), ``"mean"``
    (t interval) or ``"events per patient-year"`` (exact Poisson interval). ``count`` is the
    number of responders or events; ``sd`` the standard deviation of a continuous value.
    """

    name: str
    kind: str
    n: int
    analysed: int
    statistic: str
    estimate: float
    ci: tuple[float, float]
    ci_level: float
    count: int | None = None
    sd: float | None = None
    exposure: float | None = None     # patient-years (time-to-event)

    @property
    def rate(self) -> float:
        """Responder rate (binary): the estimate."""
        return self.estimate

    @property
    def responders(self) -> int | None:
        return self.count

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "n": self.n, "analysed": self.analysed,
                               "statistic": self.statistic, "estimate": _num(self.estimate),
                               "ci": _pair(self.ci), "ci_level": self.ci_level}
        if self.kind == "binary":
            out["responders"] = self.count
            out["rate"] = _num(self.estimate)
        elif self.kind == "continuous":
            out["mean"] = _num(self.estimate)
            out["sd"] = _num(self.sd)
        else:
            out["events"] = self.count
            out["patient_years"] = _num(self.exposure)
        return out


@dataclass(frozen=True)
class Comparison:
    """One active arm versus control on one endpoint.

    ``estimand`` says what ``estimate`` estimates, in words (e.g. "difference in response
    rate, Mantel–Haenszel stratified by the randomisation strata"); ``scale`` is
    ``"difference"`` (null value 0) or ``"ratio"`` (null value 1). ``method`` is the
    analysis (``"cmh"``, ``"ancova"``, ``"logrank"``, …). ``p_value`` is unadjusted:
    two-sided, or one-sided for "arm better than control" when the analysis is one-sided.
    ``p_adjusted`` is the p-value after the multiplicity rule (and the fixed sequence of
    secondary endpoints): compare it with alpha. ``significant`` is the decision
    (``p_adjusted < alpha``, and one-sided also an estimate favouring the arm); ``None``
    for a descriptive (not confirmatory) comparison. ``benefit`` is the estimate on an
    additive scale oriented so that positive favours the arm (difference, or log ratio,
    signed by the endpoint's direction) and ``z`` the matching signed normal score of the
    two-sided p-value; both feed design selection and group-sequential looks.
    ``extra`` holds further estimates, e.g. the Mantel–Haenszel common odds ratio.
    """

    endpoint: str
    arm: str
    control: str
    method: str
    estimand: str
    scale: str
    estimate: float
    ci: tuple[float, float]
    ci_level: float
    p_value: float
    p_adjusted: float | None
    significant: bool | None
    benefit: float
    z: float
    multiplicity: str = "none"
    extra: tuple[tuple[str, Any], ...] = ()

    @property
    def difference(self) -> float:
        """The estimate (kept for callers written when every estimate was a difference)."""
        return self.estimate

    @property
    def test(self) -> str:
        return self.method

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "endpoint": self.endpoint, "arm": self.arm, "control": self.control,
            "estimand": self.estimand, "test": self.method, "scale": self.scale,
            "estimate": _num(self.estimate), "ci": _pair(self.ci), "ci_level": self.ci_level,
            "p_value": _num(self.p_value), "p_adjusted": _num(self.p_adjusted),
            "multiplicity": self.multiplicity, "significant": self.significant,
        }
        if self.scale == "difference":
            out["difference"] = _num(self.estimate)
        for k, v in self.extra:
            out[k] = _pair(v) if isinstance(v, tuple) else _num(v)
        return out


@dataclass(frozen=True)
class EndpointAnalysis:
    """One endpoint's analysis: its arms, its comparisons versus control, its warnings.

    ``role`` is ``"primary"``, ``"secondary"`` (tested in the fixed sequence) or
    ``"descriptive"`` (a secondary endpoint outside the sequence: no decision).
    """

    endpoint: str
    kind: str
    method: str
    role: str
    arms: tuple[ArmSummary, ...]
    comparisons: tuple[Comparison, ...]
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "kind": self.kind, "method": self.method,
                "role": self.role, "arms": [a.to_dict() for a in self.arms],
                "comparisons": [c.to_dict() for c in self.comparisons],
                "warnings": list(self.warnings)}


@dataclass(frozen=True)
class TrialAnalysis:
    """The analysis of one trial: the primary endpoint first, then the secondaries.

    ``arms`` and ``comparisons`` are the primary endpoint's (what most callers want).
    """

    endpoints: tuple[EndpointAnalysis, ...]
    multiplicity: str
    alpha: float
    sided: int
    ci_level: float
    sequence: tuple[str, ...] = field(default=())

    @property
    def primary(self) -> EndpointAnalysis:
        return self.endpoints[0]

    @property
    def arms(self) -> tuple[ArmSummary, ...]:
        return self.primary.arms

    @property
    def comparisons(self) -> tuple[Comparison, ...]:
        return self.primary.comparisons

    @property
    def warnings(self) -> tuple[str, ...]:
        return tuple(f"{e.endpoint}: {w}" for e in self.endpoints for w in e.warnings)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the primary endpoint's ``arms`` and ``comparisons`` at the top (as
        before this type generalised the binary-only one), the ``secondary`` endpoints, the
        multiplicity rule and every warning."""
        p = self.primary
        return {
            "arms": [a.to_dict() for a in p.arms],
            "comparisons": [c.to_dict() for c in p.comparisons],
            "primary": {"endpoint": p.endpoint, "kind": p.kind, "method": p.method},
            "secondary": [e.to_dict() for e in self.endpoints[1:]],
            "multiplicity": {"method": self.multiplicity, "alpha": self.alpha,
                             "sided": self.sided, "ci_level": self.ci_level,
                             "sequence": list(self.sequence)},
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class RawComparison:
    """What an analysis method returns per comparison, before direction and multiplicity.

    ``p_two`` is the two-sided p-value; ``p_greater`` and ``p_less`` the one-sided p-values
    for an estimate above / below its null value (0 for a difference, 1 for a ratio).
    ``increasing``: the estimate rises with the endpoint's value (a difference in rates or
    means, an odds ratio) or falls (a hazard ratio falls as times get longer). ``df`` is the
    degrees of freedom of a t-based test (``inf``: normal).
    """

    estimand: str
    scale: str
    estimate: float
    ci: tuple[float, float]
    p_two: float
    p_greater: float
    p_less: float
    df: float = float("inf")
    increasing: bool = True
    extra: tuple[tuple[str, Any], ...] = ()


def undefined(estimand: str, scale: str, increasing: bool = True) -> RawComparison:
    """A comparison without an answer (an empty arm, no information): NaN throughout."""
    return RawComparison(estimand, scale, NAN, (NAN, NAN), NAN, NAN, NAN,
                         increasing=increasing)
