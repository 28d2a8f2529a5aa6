"""Tests of trialsim.protocol: loading, one-line error messages, round trip, digest.

Every problem with a protocol must surface as a :class:`ProtocolError` whose single-line
message starts with the file and names the dotted key path (``arm[1].regimen.dose_miu``).
"""

from __future__ import annotations

import copy
import math
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from trialsim.errors import ProtocolError
from trialsim.messages import keypath
from trialsim.protocol import (
    AgeRange,
    Analysis,
    Arm,
    EndpointSpec,
    Induction,
    Model,
    Population,
    Protocol,
    Randomization,
    Regimen,
    TrialSpec,
    Visits,
    load_protocol,
    parse_protocol,
    protocol_to_toml,
)

ROOT = Path(__file__).resolve().parent.parent
PROTOCOL_FILES = sorted((ROOT / "protocols").glob("*.toml"))

SCHEMA_MODELS: tuple[type[BaseModel], ...] = (
    Protocol, TrialSpec, Population, AgeRange, Arm, Regimen, Induction, Visits,
    EndpointSpec, Analysis, Randomization, Model,
)
SCHEMA_KEYS = frozenset(k for m in SCHEMA_MODELS for k in m.model_fields)

MINIMAL = """\
[trial]
name = "t"
seed = 1

[population]
n = 60
min_sledai = 8

[[arm]]
name = "placebo"

[[arm]]
name = "il2"
regimen = { dose_miu = 1.0, every_days = 2, on_days = 14, off_days = 14, cycles = 3 }

[visits]
weeks = [0, 2, 4, 8, 12, 24]

[endpoint]
primary = "sri4"
week = 24
"""


def _minimal() -> dict[str, Any]:
    return tomllib.loads(MINIMAL)


def _keypath(path: tuple[str | int, ...]) -> str:
    """The dotted key path the error messages use: ``arm[1].regimen.dose_miu``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + part
    return out


def _error(data: dict[str, Any], source: str = "p.toml") -> str:
    with pytest.raises(ProtocolError) as info:
        parse_protocol(data, source=source)
    return str(info.value)


# --------------------------------------------------------------------------- shipped files


def test_protocol_directory_is_not_empty() -> None:
    assert len(PROTOCOL_FILES) >= 5, PROTOCOL_FILES


@pytest.mark.parametrize("path", PROTOCOL_FILES, ids=lambda p: p.name)
def test_every_shipped_protocol_loads(path: Path) -> None:
    protocol = load_protocol(path)
    assert isinstance(protocol, Protocol)
    assert protocol.endpoint.week in protocol.visits.weeks
    assert protocol.block_size % sum(a.ratio for a in protocol.arms) == 0
    # The shipped files also survive the 'protocol as run' rendering.
    assert parse_protocol(tomllib.loads(protocol_to_toml(protocol))) == protocol


# --------------------------------------------------------------------------- error messages


def _set(path: tuple[str | int, ...], value: Any):
    def mutate(d: dict[str, Any]) -> None:
        target: Any = d
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value
    return mutate


def _duplicate_names(d: dict[str, Any]) -> None:
    d["arm"][1]["name"] = d["arm"][0]["name"]


ERROR_CASES = {
    "unknown-top-level-key": (_set(("colour",), "blue"), "colour"),
    "unknown-regimen-key": (_set(("arm", 1, "regimen", "dose_mg"), 1.0),
                            "arm[1].regimen.dose_mg"),
    "negative-dose": (_set(("arm", 1, "regimen", "dose_miu"), -1), "arm[1].regimen.dose_miu"),
    "endpoint-week-not-a-visit": (_set(("endpoint", "week"), 3), "endpoint.week"),
    "duplicate-arm-names": (_duplicate_names, "arm"),
    "wrong-type": (_set(("population", "n"), "ten"), "population.n"),
    "block-size-not-multiple": (_set(("randomization",), {"block_size": 3}),
                                "randomization.block_size"),
}


@pytest.mark.parametrize("case", sorted(ERROR_CASES))
def test_error_message_names_file_and_key_path(case: str, tmp_path: Path) -> None:
    mutate, keypath = ERROR_CASES[case]
    data = _minimal()
    mutate(data)
    path = tmp_path / "bad.toml"
    path.write_text(_to_toml(data), encoding="utf-8")
    with pytest.raises(ProtocolError) as info:
        load_protocol(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: "), msg
    assert keypath in msg, msg
    assert "\n" not in msg, msg


def _to_toml(data: dict[str, Any]) -> str:
    """A tiny TOML writer for the mutated fixtures (tables, arrays of tables, inline tables)."""

    def scalar(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, list):
            return "[" + ", ".join(scalar(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{ " + ", ".join(f'"{k}" = {scalar(x)}' for k, x in v.items()) + " }"
        return repr(v)

    lines = [f'"{k}" = {scalar(v)}' for k, v in data.items() if not isinstance(v, dict | list)]
    for key, body in data.items():
        if isinstance(body, dict):
            lines += ["", f"[{key}]"] + [f'"{k}" = {scalar(v)}' for k, v in body.items()]
        elif isinstance(body, list) and body and isinstance(body[0], dict):
            for item in body:
                lines += ["", f"[[{key}]]"] + [f'"{k}" = {scalar(v)}' for k, v in item.items()]
    return "\n".join(lines) + "\n"


def test_unmutated_fixture_loads(tmp_path: Path) -> None:
    """Guards the error cases above: without a mutation the written file is valid."""
    path = tmp_path / "good.toml"
    path.write_text(_to_toml(_minimal()), encoding="utf-8")
    assert load_protocol(path) == parse_protocol(_minimal())


def test_specific_messages_say_what_is_allowed() -> None:
    data = _minimal()
    data["arm"][1]["regimen"]["dose_miu"] = -1
    assert _error(data) == "p.toml: arm[1].regimen.dose_miu must be > 0.0 (got -1)."
    data = _minimal()
    data["arm"][1]["regimen"]["dose_mg"] = 1
    msg = _error(data)
    assert msg.startswith("p.toml: arm[1].regimen.dose_mg is not a known key "
                          "(did you mean dose_miu? allowed: ")
    assert "dose_miu" in msg and "every_days" in msg
    data = _minimal()
    data["endpoint"]["week"] = 3
    assert "must be one of the visit weeks" in _error(data)
    data = _minimal()
    data["arm"][1]["name"] = "placebo"
    assert "repeated: placebo" in _error(data)


def test_malformed_toml_is_one_line_with_location(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(MINIMAL.replace("seed = 1", "seed = "), encoding="utf-8")
    with pytest.raises(ProtocolError) as info:
        load_protocol(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: ")
    assert "not valid TOML" in msg and "line 3" in msg, msg
    assert "\n" not in msg


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "absent.toml"
    with pytest.raises(ProtocolError) as info:
        load_protocol(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: ") and "no such protocol file" in msg
    assert "\n" not in msg


def test_error_is_raised_without_chained_pydantic_traceback() -> None:
    data = _minimal()
    data["population"]["n"] = "ten"
    with pytest.raises(ProtocolError) as info:
        parse_protocol(data, source="p.toml")
    assert info.value.__cause__ is None and info.value.__suppress_context__


# ------------------------------------------------- strict types, finite numbers, immutability


@pytest.mark.parametrize(("path", "value"), [
    (("population", "n"), "10"),
    (("population", "female_fraction"), "0.5"),
    (("arm", 1, "regimen", "dose_miu"), "1.0"),
])
def test_numeric_strings_are_not_coerced(path: tuple[str | int, ...], value: str) -> None:
    data = _minimal()
    _set(path, value)(data)
    assert _keypath(path) in _error(data)


@pytest.mark.parametrize(("path", "value"), [
    (("visits", "weeks"), [0, math.nan, 24]),
    (("arm", 1, "regimen", "start_day"), math.inf),
    (("population", "max_screened_per_enrolled"), math.inf),
    (("population", "ancestry"), {"asian": math.inf}),
])
def test_non_finite_numbers_are_rejected(path: tuple[str | int, ...], value: Any) -> None:
    data = _minimal()
    _set(path, value)(data)
    assert _keypath(path) in _error(data)


def test_protocol_is_deeply_immutable() -> None:
    protocol = load_protocol(ROOT / "protocols" / "he2020.toml")
    hash(protocol)
    with pytest.raises(TypeError):
        protocol.population.ancestry[0] = ("asian", -5.0)  # type: ignore[index]
    assert protocol.population.ancestry_weights == {"asian": 1.0}


# --------------------------------------------------------------------------- properties

slugs = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,15}\Z")
ANCESTRIES = ("white", "black", "hispanic", "asian", "american_indian")


@st.composite
def regimens(draw: st.DrawFn) -> dict[str, Any]:
    reg: dict[str, Any] = {
        "dose_miu": draw(st.floats(0.001, 1000)),
        "every_days": draw(st.floats(0.05, 365)),
    }
    if draw(st.booleans()):
        reg["on_days"] = draw(st.floats(0.1, 3650))
        if draw(st.booleans()):
            reg["off_days"] = draw(st.floats(0, 3650))
        if draw(st.booleans()):
            reg["cycles"] = draw(st.integers(1, 1000))
    if draw(st.booleans()):
        reg["start_day"] = draw(st.floats(0, 1000))
    if draw(st.booleans()):
        reg["route"] = draw(st.sampled_from(["sc", "iv"]))
    if draw(st.booleans()):
        reg["induction"] = {
            "dose_miu": draw(st.floats(0.001, 1000)),
            "every_days": draw(st.floats(0.05, 365)),
            "days": draw(st.floats(0.01, 3650)),
        }
    return reg


@st.composite
def protocol_dicts(draw: st.DrawFn) -> dict[str, Any]:
    """Raw mappings of valid protocols, as TOML would give them."""
    n_arms = draw(st.integers(2, 4))
    names = draw(st.lists(slugs, min_size=n_arms, max_size=n_arms, unique=True))
    arms: list[dict[str, Any]] = [{"name": names[0]}]  # placebo comparator
    for name in names[1:]:
        arm: dict[str, Any] = {"name": name, "regimen": draw(regimens())}
        arms.append(arm)
    for arm in arms:
        if draw(st.booleans()):
            arm["ratio"] = draw(st.integers(1, 5))
    population: dict[str, Any] = {
        "n": draw(st.integers(n_arms, 2_000_000)),
        "female_fraction": draw(st.floats(0.0, 1.0)),
        "min_sledai": draw(st.integers(0, 105)),
    }
    if draw(st.booleans()):
        chosen = draw(st.lists(st.sampled_from(ANCESTRIES), min_size=1, unique=True))
        population["ancestry"] = {a: draw(st.floats(0.001, 100)) for a in chosen}
    if draw(st.booleans()):
        lo = draw(st.floats(12, 89))
        population["age"] = {"min": lo, "max": draw(st.floats(lo, 90, exclude_min=True))}
    if draw(st.booleans()):
        population["require_serology"] = draw(st.booleans())
    later = draw(st.lists(st.floats(0.001, 520), min_size=1, max_size=10, unique=True))
    weeks = [0.0, *sorted(later)]
    for arm in arms:  # dosing must start before the last visit
        reg = arm.get("regimen", {})
        if reg.get("start_day", 0.0) >= 7.0 * weeks[-1]:
            reg["start_day"] = draw(st.floats(0.0, 7.0 * weeks[-1], exclude_max=True))
    data: dict[str, Any] = {
        "trial": {"name": draw(slugs), "seed": draw(st.integers(0, 2**63 - 1)),
                  "replicates": draw(st.integers(1, 1_000_000))},
        "population": population,
        "arm": arms,
        "visits": {"weeks": weeks},
        "endpoint": {"primary": draw(st.sampled_from(["sri4", "sri6", "bicla"])),
                     "week": draw(st.sampled_from(weeks[1:]))},
    }
    if draw(st.booleans()):
        data["analysis"] = {
            "test": draw(st.sampled_from(["chisq", "fisher", "cmh"])),
            "alpha": draw(st.floats(0.0, 0.5, exclude_min=True, exclude_max=True)),
            "sided": draw(st.sampled_from([1, 2])),
            "dropout_per_year": draw(st.floats(0.0, 1.0, exclude_max=True)),
        }
    if draw(st.booleans()):
        total = sum(a.get("ratio", 1) for a in arms)
        rnd: dict[str, Any] = {"stratify_by": draw(st.lists(
            st.sampled_from(["sledai_ge10", "sex", "renal"]), unique=True))}
        if draw(st.booleans()):
            rnd["block_size"] = total * draw(st.integers(1, 1000 // total))
        data["randomization"] = rnd
    if draw(st.booleans()):
        data["model"] = {"sites": draw(st.integers(1, 1000)),
                         "site_sd": draw(st.floats(0.0, 2.0))}
    return data


@settings(max_examples=150, deadline=None)
@given(protocol_dicts())
def test_valid_protocols_parse_are_frozen_and_round_trip(data: dict[str, Any]) -> None:
    protocol = parse_protocol(copy.deepcopy(data))
    with pytest.raises(ValidationError):
        protocol.trial = protocol.trial  # type: ignore[misc]
    with pytest.raises(ValidationError):
        protocol.population.n = 3  # type: ignore[misc]
    with pytest.raises(ValidationError):
        protocol.arm[0].name = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        protocol.visits.weeks[0] = 1.0  # type: ignore[index]
    rendered = protocol_to_toml(protocol)
    again = parse_protocol(tomllib.loads(rendered))
    assert again == protocol
    assert again.digest() == protocol.digest()


def _tables(data: dict[str, Any]) -> list[tuple[str | int, ...]]:
    """Paths of every schema table present in a raw protocol mapping."""
    paths: list[tuple[str | int, ...]] = [()]
    for key, body in data.items():
        if isinstance(body, dict):
            paths.append((key,))
    if "age" in data["population"]:
        paths.append(("population", "age"))
    for i, arm in enumerate(data["arm"]):
        paths.append(("arm", i))
        if "regimen" in arm:
            paths.append(("arm", i, "regimen"))
            if "induction" in arm["regimen"]:
                paths.append(("arm", i, "regimen", "induction"))
    return paths


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=protocol_dicts(), pick=st.data(),
       key=st.text(min_size=1, max_size=12).filter(lambda k: k not in SCHEMA_KEYS))
def test_unknown_key_anywhere_is_named(data: dict[str, Any], pick: st.DataObject,
                                       key: str) -> None:
    table = pick.draw(st.sampled_from(_tables(data)))
    target: Any = data
    for part in table:
        target = target[part]
    target[key] = 1
    msg = _error(data, source="mutated.toml")
    assert msg.startswith("mutated.toml: ")
    assert f"{keypath((*table, key))} is not a known key" in msg


@settings(max_examples=60, deadline=None)
@given(data=protocol_dicts(), n=st.integers(max_value=-1))
def test_negative_n_is_rejected(data: dict[str, Any], n: int) -> None:
    data["population"]["n"] = n
    assert "population.n must be >= 2" in _error(data)


@settings(max_examples=60, deadline=None)
@given(data=protocol_dicts(),
       frac=st.floats(min_value=1.0, exclude_min=True, allow_nan=False,
                           allow_infinity=False))
def test_female_fraction_above_one_is_rejected(data: dict[str, Any], frac: float) -> None:
    data["population"]["female_fraction"] = frac
    assert "population.female_fraction must be <= 1" in _error(data)


@settings(max_examples=60, deadline=None)
@given(data=protocol_dicts(),
       alpha=st.floats(min_value=0.5, allow_nan=False, allow_infinity=False))
def test_alpha_of_half_or_more_is_rejected(data: dict[str, Any], alpha: float) -> None:
    data.setdefault("analysis", {})["alpha"] = alpha
    assert "analysis.alpha must be < 0.5" in _error(data)


# --------------------------------------------------------------------------- digest, overrides


def test_digest_is_content_hash() -> None:
    path = ROOT / "protocols" / "he2020.toml"
    a, b = load_protocol(path), load_protocol(path)
    assert a == b and a.digest() == b.digest()
    assert len(a.digest()) == 8 and int(a.digest(), 16) >= 0
    assert a.with_overrides(seed=a.trial.seed + 1).digest() != a.digest()
    assert a.with_overrides(n=a.population.n + 1).digest() != a.digest()


@settings(max_examples=50, deadline=None)
@given(s1=st.integers(0, 2**40), s2=st.integers(0, 2**40))
def test_digest_differs_exactly_when_seed_differs(s1: int, s2: int) -> None:
    base = parse_protocol(_minimal())
    p1, p2 = base.with_overrides(seed=s1), base.with_overrides(seed=s2)
    assert (p1.digest() == p2.digest()) == (s1 == s2)
    assert p1.trial.seed == s1
    assert p1.model_dump(exclude={"trial"}) == base.model_dump(exclude={"trial"})


def test_with_overrides_validates() -> None:
    base = parse_protocol(_minimal())
    with pytest.raises(ProtocolError, match=r"^<override>: trial\.seed must be >= 0"):
        base.with_overrides(seed=-1)
    with pytest.raises(ProtocolError, match=r"^<override>: trial\.replicates must be >= 1"):
        base.with_overrides(replicates=0)
    with pytest.raises(ProtocolError, match=r"^<override>: population\.n must be >= 2"):
        base.with_overrides(n=1)
    data = _minimal()
    data["arm"].append({"name": "third", "regimen": {"dose_miu": 3.0, "every_days": 2}})
    three = parse_protocol(data)
    with pytest.raises(ProtocolError, match=r"population\.n must be at least the number of arms"):
        three.with_overrides(n=2)
    assert base.with_overrides(replicates=7).trial.replicates == 7


def test_analysis_fields_errors_name_file_field_and_allowed_values() -> None:
    for key, bad, allowed in (
            ("multiplicity", "sidak", "'none', 'bonferroni', 'holm', 'hochberg' or 'dunnett'"),
            ("test", "t-test", "'chisq', 'chisq-yates', 'fisher', 'cmh' or 'logistic'"),
            ("continuous", "mmrm", "'ancova' or 'gee'"),
            ("time_to_event", "weibull", "'logrank' or 'cox'")):
        data = _minimal()
        data.setdefault("analysis", {})[key] = bad
        assert _error(data) == f'p.toml: analysis.{key} must be one of {allowed} (got "{bad}").'
    data = _minimal()
    data["analysis"] = {"sequence": ["renal_response"]}
    assert _error(data) == ("p.toml: analysis.sequence[0] must name a secondary endpoint of "
                            '[endpoint] secondary (none declared) (got "renal_response").')
    data = _minimal()
    data["analysis"] = {"sequence": ["a", "a"]}
    assert "repeated: a" in _error(data)


def test_analysis_defaults_use_the_strata_and_control_the_fwer() -> None:
    p = parse_protocol(_minimal())
    assert (p.analysis.test, p.analysis.continuous, p.analysis.time_to_event,
            p.analysis.multiplicity) == ("cmh", "ancova", "logrank", "holm")
    assert p.analysis.methods == {"binary": "cmh", "continuous": "ancova",
                                  "time-to-event": "logrank"}
