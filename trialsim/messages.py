"""One-line, bounded, literal messages.

Everything trialsim tells a user about a problem is one line of plain text: control
characters (a newline in a file name, an escape sequence in a TOML string) are shown as
backslash escapes, echoed values are cut to :data:`MAX_VALUE_CHARS`, and nothing is ever
interpreted as rich markup (``[bold]`` in a key is printed as ``[bold]``).

>>> escape("a\\nb")
'a\\\\nb'
>>> show_value("x" * 100)[-2:]
'…"'
>>> keypath(("arm", 1, "regimen", "dose_miu"))
'arm[1].regimen.dose_miu'
"""

from __future__ import annotations

import re
import reprlib
from collections.abc import Iterable
from datetime import date, datetime, time
from typing import Any

MAX_VALUE_CHARS = 60      # an echoed value (a name, a list) is cut here, with "…"
MAX_KEY_CHARS = 40        # each part of a key path
MAX_PATH_CHARS = 200      # a file name
MAX_MESSAGE_CHARS = 2000  # a whole message
MAX_PROBLEMS = 10         # problems listed in one message; the rest are counted

_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _escape_char(c: str) -> str:
    if c in _ESCAPES:
        return _ESCAPES[c]
    if c.isprintable():
        return c
    code = ord(c)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 \
        else f"\\U{code:08x}"


def escape(text: str, limit: int | None = None) -> str:
    """``text`` with control and other unprintable characters as backslash escapes, cut
    to ``limit`` characters (plus "…") when given. Long input is cut before escaping, so a
    50 MB value costs no more than a short one."""
    cut = limit is not None and len(text) > limit
    if cut:
        text = text[:limit]
    out = text if text.isprintable() else "".join(_escape_char(c) for c in text)
    if limit is not None and len(out) > limit:
        out, cut = out[:limit], True
    return out + "…" if cut else out


def show_path(path: Any) -> str:
    """A file name as shown in a message: escaped, and cut when absurdly long."""
    return escape(str(path), MAX_PATH_CHARS)


def show_key(key: Any) -> str:
    """One key of a key path: bare TOML keys as they are, others quoted and escaped."""
    text = str(key)
    if _BARE_KEY.match(text) and len(text) <= MAX_KEY_CHARS:
        return text
    return '"' + escape(text, MAX_KEY_CHARS).replace('"', '\\"') + '"'


def keypath(loc: Iterable[Any]) -> str:
    """The dotted key path of a location: ``("arm", 1, "name")`` → ``arm[1].name``."""
    out = ""
    for part in loc:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + show_key(part)
    return out or "(top level)"


_repr = reprlib.Repr()
_repr.maxlevel = 3
_repr.maxlist = _repr.maxtuple = _repr.maxdict = _repr.maxset = 8
_repr.maxstring = _repr.maxother = MAX_VALUE_CHARS
_repr.maxlong = 40


def show_value(value: Any) -> str:
    """A value as the protocol author wrote it, in TOML spelling where it differs from
    Python's (``true``, ``"text"``), at most about :data:`MAX_VALUE_CHARS` characters."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + escape(value, MAX_VALUE_CHARS).replace('"', '\\"') + '"'
    if isinstance(value, int):
        if value.bit_length() > 128:  # str() of a huge int is slow, and refused past 4300 digits
            return f"{'-' if value < 0 else ''}an integer of {value.bit_length()} bits"
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    try:
        text = _repr.repr(value)
    except Exception:  # noqa: BLE001 - a value that cannot even be shown
        text = f"a {type(value).__name__}"
    return escape(text, MAX_VALUE_CHARS)


def join_problems(problems: list[str], total: int | None = None) -> str:
    """Problems on one line, separated by "; ": at most :data:`MAX_PROBLEMS` of them, then
    a count of the rest (``total`` problems in all, when more were found than described)."""
    shown = problems[:MAX_PROBLEMS]
    more = max(len(problems), total or 0) - len(shown)
    text = "; ".join(shown)
    return text + (f"; and {more} more problem{'s' if more > 1 else ''}" if more else "")


def one_line(text: str) -> str:
    """The last guard before a message is printed: one line, no control characters,
    bounded length."""
    return escape(text, MAX_MESSAGE_CHARS)
