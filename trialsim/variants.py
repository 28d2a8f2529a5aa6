"""Design variants: ``[[design]]`` entries that override fields of a base protocol.

A protocol file may list variants of its design::

    [[design]]
    name = "weekly"
    every_days = 7                      # a shortcut: every active arm's regimen

    [[design]]
    name = "enriched"
    "population.require_all" = ["anti_dsdna", "low_complement"]   # any dotted path

    [[design]]
    name = "dose"                       # optional prefix of the generated names
    [design.grid]                       # the product: 4 × 3 = 12 designs
    dose_miu = [0.3, 0.5, 1, 2]
    every_days = [1, 2, 7]

Shortcuts: the regimen fields (``dose_miu``, ``every_days``, ``on_days``, ``off_days``,
``cycles``, ``route``, ``start_day``) apply to every arm that has a regimen and is not the
control; ``n``, ``week``, ``endpoint``, ``test``, ``multiplicity``, ``min_sledai``, ``min_pga``,
``require_all``, ``require_any``, ``require_serology`` reach their sections; any other key is
a dotted path into the protocol (``population.min_sledai``, ``arm[1].regimen.route``,
``interim.looks``). Every variant is validated as a whole protocol; its errors name the
file, the design and the key. Variants keep the base protocol's seed, so they share their
virtual patients (:mod:`trialsim.streams`).
"""

from __future__ import annotations

import copy
import itertools
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trialsim.errors import ProtocolError
from trialsim.protocol import Protocol, parse_protocol, protocol_from_text, read_protocol_text

REGIMEN_KEYS = ("dose_miu", "every_days", "on_days", "off_days", "cycles", "route",
                "start_day")
SHORTCUTS = {
    "n": "population.n", "week": "endpoint.week", "endpoint": "endpoint.primary",
    "test": "analysis.test", "multiplicity": "analysis.multiplicity",
    "min_sledai": "population.min_sledai",
    "min_pga": "population.min_pga", "require_all": "population.require_all",
    "require_any": "population.require_any",
    "require_serology": "population.require_serology",
}
# Short labels for generated grid names: key → format of the value.
_LABELS = {"dose_miu": "{:g}miu", "every_days": "q{:g}d", "on_days": "on{:g}d",
           "off_days": "off{:g}d", "cycles": "x{}", "route": "{}", "start_day": "day{:g}",
           "n": "n{}", "week": "wk{:g}", "endpoint": "{}", "test": "{}", "multiplicity": "{}",
           "min_sledai": "sledai{}", "min_pga": "pga{:g}"}
_SECTIONS = set(Protocol.model_fields) - {"trial"}
_PATH = re.compile(r"^([A-Za-z_]\w*)(\[\d+\])?$")


@dataclass(frozen=True)
class Design:
    """One named design of a comparison: a validated protocol."""

    name: str
    protocol: Protocol
    source: str     # the file it came from


def _label(key: str, value: Any) -> str:
    fmt = _LABELS.get(key)
    if isinstance(value, list | tuple):
        value = "+".join(str(v) for v in value)
        fmt = None
    text = fmt.format(value) if fmt else f"{key.split('.')[-1]}-{value}"
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "design"


def _set_path(data: dict[str, Any], path: str, value: Any, where: str) -> None:
    parts = path.split(".")
    node: Any = data
    for i, part in enumerate(parts):
        m = _PATH.match(part)
        if m is None or (i == 0 and m.group(1) not in _SECTIONS):
            raise ProtocolError(
                f"{where}.{path} is not a known design field (use a shortcut: "
                f"{', '.join([*REGIMEN_KEYS, *SHORTCUTS])}; or a dotted protocol path such "
                "as population.min_sledai or arm[1].regimen.route).")
        name, index = m.group(1), m.group(2)
        last = i == len(parts) - 1
        if index is not None:
            seq = node.get(name)
            k = int(index[1:-1])
            if not isinstance(seq, list) or k >= len(seq):
                raise ProtocolError(f"{where}.{path}: {name} has no element {k}.")
            if last:
                seq[k] = value
            else:
                node = seq[k]
        elif last:
            node[name] = value
        else:
            node = node.setdefault(name, {})
            if not isinstance(node, dict):
                raise ProtocolError(f"{where}.{path}: {name} is not a table.")


def _apply(base: dict[str, Any], control: str, overrides: dict[str, Any],
           where: str) -> dict[str, Any]:
    data = copy.deepcopy(base)
    for key, value in overrides.items():
        if key in REGIMEN_KEYS:
            targets = [a for a in data["arm"] if a.get("regimen") and a["name"] != control]
            if not targets:
                raise ProtocolError(f"{where}.{key}: no active arm with a regimen to apply "
                                    "it to.")
            for a in targets:
                a["regimen"][key] = value
        else:
            _set_path(data, SHORTCUTS.get(key, key), value, where)
    return data


def expand_designs(base: Protocol, entries: Any, source: str) -> list[Design]:
    """Every variant the ``design`` entries describe, validated (see module docstring)."""
    if isinstance(entries, dict):
        entries = [entries]
    if not isinstance(entries, list) or not entries:
        raise ProtocolError(f"{source}: design must be [[design]] tables.")
    raw = base.model_dump(mode="json", exclude_none=True)
    control = base.control_arm.name
    designs: list[Design] = []
    for i, entry in enumerate(entries):
        where = f"{source}: design[{i}]"
        if not isinstance(entry, dict):
            raise ProtocolError(f"{where} must be a table.")
        entry = dict(entry)
        name = entry.pop("name", None)
        grid = entry.pop("grid", None)
        if name is not None and (not isinstance(name, str)
                                 or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name)):
            raise ProtocolError(f"{where}.name must be a name of letters, digits, '-', '_' "
                                f"or '.' (got {name!r}).")
        combos: list[dict[str, Any]] = [{}]
        if grid is not None:
            if not isinstance(grid, dict) or not grid or not all(
                    isinstance(v, list) and v for v in grid.values()):
                raise ProtocolError(f"{where}.grid must map fields to non-empty lists of "
                                    "values.")
            combos = [dict(zip(grid, values, strict=True))
                      for values in itertools.product(*grid.values())]
        for combo in combos:
            label = "-".join(_label(k, v) for k, v in combo.items())
            full = "-".join(x for x in (name, label) if x) or f"design{i + 1}"
            data = _apply(raw, control, {**entry, **combo}, where)
            protocol = parse_protocol(data, source=f"{where} ('{full}')")
            designs.append(Design(full, protocol, source))
    _unique([d.name for d in designs], source, "; give each [[design]] a distinct name")
    return designs


def _unique(names: list[str], where: str, hint: str = "") -> None:
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ProtocolError(f"{where}: design names must be unique (repeated: "
                            f"{', '.join(dup)}){hint}.")


def load_designs(paths: list[Path], seed: int | None = None) -> list[Design]:
    """The designs of one or more protocol files: each file's ``[[design]]`` variants, or
    the file itself. All designs get one seed (``seed``, else the first file's), so they
    share their virtual patients."""
    designs: list[Design] = []
    for path in paths:
        text = read_protocol_text(path)     # bounded: regular files up to 1 MB
        base = protocol_from_text(text, source=str(path))   # validates the variants too
        entries = tomllib.loads(text).get("design")
        if entries is None:
            designs.append(Design(base.trial.name, base, str(path)))
        else:
            designs.extend(expand_designs(base, entries, str(path)))
    seed = designs[0].protocol.trial.seed if seed is None else seed
    designs = [Design(d.name, d.protocol.with_overrides(seed=seed, source=d.source), d.source)
               for d in designs]
    _unique([d.name for d in designs], ", ".join(map(str, paths)), " across files")
    return designs
