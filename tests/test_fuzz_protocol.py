"""Fuzzing the protocol loader: whatever the input, the only exception is ProtocolError.

Three sources of input, each ≥ 1,000 examples under CI (``CI=1``, derandomised, see
``conftest.py``): valid protocols mutated (keys deleted, renamed or added, values replaced by
arbitrary TOML values), arbitrary TOML documents, and valid protocol text with characters
inserted, deleted or replaced. Every input goes through the text loader
(:func:`protocol_from_text`), and every protocol that loads through the resource check,
which may only refuse with :class:`ResourceError`. Every message must be one bounded line
starting with the source.
"""

from __future__ import annotations

import copy
import math
from datetime import date, datetime, time
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.conftest import ROOT
from tests.test_protocol import protocol_dicts
from trialsim.errors import ProtocolError, ResourceError
from trialsim.limits import check_resources
from trialsim.messages import MAX_MESSAGE_CHARS
from trialsim.protocol import Protocol, protocol_from_text

EXAMPLES = 1000
SOURCE = "fuzz.toml"
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SHIPPED = sorted((ROOT / "protocols").glob("*.toml"))

# --------------------------------------------------------------------------- a TOML writer

keys = st.text(min_size=0, max_size=12)
scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.integers(min_value=-3, max_value=3000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)),
    st.dates(),
    st.times(),
)
toml_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=10,
)


def _string(text: str) -> str:
    out = []
    for c in text:
        if c in '"\\':
            out.append("\\" + c)
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        return ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, datetime | date | time):
        return v.isoformat()
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    return "{ " + ", ".join(f"{_string(k)} = {_value(x)}" for k, x in v.items()) + " }"


def _document(data: dict[str, Any]) -> str:
    """Any mapping as TOML: top-level keys as ``"key" = value``, tables inline."""
    return "".join(f"{_string(k)} = {_value(v)}\n" for k, v in data.items())


# --------------------------------------------------------------------------- the contract


def _load(text: str) -> Protocol | None:
    """Load; the only allowed failure is a one-line ProtocolError naming the source. A
    protocol that loads must then pass or fail the resource check cleanly."""
    try:
        protocol = protocol_from_text(text, source=SOURCE)
    except ProtocolError as exc:
        event("refused: ProtocolError")
        _check_message(str(exc))
        return None
    try:
        chunk = check_resources(protocol, source=SOURCE)
        assert 1 <= chunk <= 50
        event("loaded, within budget")
    except ResourceError as exc:
        event("loaded, refused: ResourceError")
        _check_message(str(exc))
    return protocol


def _check_message(msg: str) -> None:
    assert msg.startswith(f"{SOURCE}: "), msg[:300]
    assert "\n" not in msg and "\r" not in msg, msg[:300]
    assert msg.isprintable(), msg[:300]
    assert len(msg) <= MAX_MESSAGE_CHARS + 100, len(msg)


# --------------------------------------------------------------------------- mutations


def _tables(data: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths of every table (dict) in a nested mapping."""
    found = [path] if isinstance(data, dict) else []
    children = (data.items() if isinstance(data, dict)
                else enumerate(data) if isinstance(data, list) else ())
    for key, value in children:
        found += _tables(value, (*path, key))
    return found


def _at(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        data = data[part]
    return data


@st.composite
def mutated_protocols(draw: st.DrawFn) -> dict[str, Any]:
    """A valid protocol with 1-4 mutations: delete, replace, add or misspell a key."""
    data = copy.deepcopy(draw(protocol_dicts()))
    for _ in range(draw(st.integers(1, 4))):
        table = _at(data, draw(st.sampled_from(_tables(data))))
        action = draw(st.sampled_from(["delete", "replace", "add", "misspell"]))
        if action == "add" or not table:
            table[draw(keys)] = draw(toml_values)
            continue
        key = draw(st.sampled_from(sorted(table)))
        if action == "delete":
            del table[key]
        elif action == "replace":
            table[key] = draw(toml_values)
        else:
            cut = draw(st.integers(0, len(key)))
            table[key[:cut] + draw(st.text(max_size=2)) + key[cut + 1:]] = table.pop(key)
    return data


@FUZZ
@given(mutated_protocols())
def test_mutated_protocols_raise_only_protocol_errors(data: dict[str, Any]) -> None:
    _load(_document(data))


@FUZZ
@given(st.dictionaries(keys, toml_values, max_size=8) | st.fixed_dictionaries(
    {"trial": toml_values, "population": toml_values, "arm": toml_values,
     "visits": toml_values, "endpoint": toml_values}))
def test_arbitrary_toml_raises_only_protocol_errors(data: dict[str, Any]) -> None:
    _load(_document(data))


@FUZZ
@given(base=st.sampled_from(SHIPPED), edits=st.lists(
    st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 3), st.text(max_size=4)),
    min_size=1, max_size=4))
def test_mutated_text_raises_only_protocol_errors(base, edits) -> None:
    text = base.read_text(encoding="utf-8")
    for where, drop, insert in edits:
        i = int(where * len(text))
        text = text[:i] + insert + text[i + drop:]
    _load(text)


def test_the_writer_round_trips_valid_protocols() -> None:
    """Guards the fuzzers: unmutated, the written documents are valid protocols."""
    for path in SHIPPED:
        protocol = protocol_from_text(path.read_text(encoding="utf-8"), source=str(path))
        written = _document(protocol.model_dump(mode="json", exclude_none=True))
        assert protocol_from_text(written, source=SOURCE) == protocol
