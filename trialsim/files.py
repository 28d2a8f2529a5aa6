"""Reading the small text files trialsim is given (protocols, run summaries), bounded.

:func:`read_small_text` refuses, without reading it whole, anything that is not a regular
file (a folder, a FIFO, ``/dev/zero``, a socket), is over a size limit, or is not UTF-8. A
FIFO is never opened for a blocking read, so nothing here can hang, and at most
``limit + 1`` bytes are ever read. Problems raise the caller's error class with a one-line
message naming the (escaped) file.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from trialsim.errors import TrialsimError
from trialsim.messages import show_path


def read_small_text(path: str | Path, *, limit: int, error: type[TrialsimError],
                    noun: str, kind: str, missing: str) -> str:
    """The UTF-8 text of a regular file of at most ``limit`` bytes.

    Messages read ``<file>: is a folder, not a <noun> file.``, ``<file>: is a FIFO (named
    pipe); a <noun> must be a regular <kind> file.``, ``<file>: <missing>.`` and so on.
    """
    shown = show_path(path)
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise error(f"{shown}: {missing}.") from None
    except (OSError, ValueError) as exc:
        raise error(f"{shown}: cannot be read ({_reason(exc)}).") from None
    _check(shown, info.st_mode, info.st_size, limit, error, noun, kind)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise error(f"{shown}: cannot be read ({_reason(exc)}).") from None
    try:
        with os.fdopen(fd, "rb") as fh:
            info = os.fstat(fh.fileno())   # the file may have been swapped since stat()
            _check(shown, info.st_mode, info.st_size, limit, error, noun, kind)
            data = fh.read(limit + 1)
    except OSError as exc:
        raise error(f"{shown}: cannot be read ({_reason(exc)}).") from None
    if len(data) > limit:
        raise error(f"{shown}: is larger than {limit:,} bytes; a {noun} must be at most "
                    f"{limit:,} bytes.")
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise error(f"{shown}: is not UTF-8 text (byte 0x{data[exc.start]:02x} on "
                    f"line {line}).") from None


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc)[:100] or type(exc).__name__


def _check(shown: str, mode: int, size: int, limit: int, error: type[TrialsimError],
           noun: str, kind: str) -> None:
    if stat.S_ISDIR(mode):
        raise error(f"{shown}: is a folder, not a {noun} file.")
    if not stat.S_ISREG(mode):
        what = ("a FIFO (named pipe)" if stat.S_ISFIFO(mode) else
                "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else
                "a socket" if stat.S_ISSOCK(mode) else "not a regular file")
        raise error(f"{shown}: is {what}; a {noun} must be a regular {kind} file.")
    if size > limit:
        raise error(f"{shown}: is {size:,} bytes; a {noun} must be at most {limit:,} bytes.")
