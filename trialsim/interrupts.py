"""SIGINT and SIGTERM as an exception, so that ``finally`` blocks and context managers run.

By default SIGTERM kills Python without unwinding: a run folder being written would stay
behind as ``.partial-*``. :func:`install` (called by the CLI, not on import) makes both
signals raise :class:`Interrupted` in the main thread. Code that must not be cut in two
(claiming a folder name, renaming a finished folder into place, removing a temporary one)
runs inside :func:`deferred`: a signal arriving there is held and raised when it ends.
A second signal while the first is being handled is ignored, so cleanup is not itself
interrupted.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(BaseException):  # noqa: N818 - it is a signal, not an error
    """SIGINT or SIGTERM arrived; ``exit_code`` is the shell's 128 + signal number."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.name = signal.Signals(signum).name
        self.exit_code = 128 + signum
        super().__init__(f"interrupted by {self.name}")


class _State:
    depth = 0                 # nesting of deferred() sections
    pending: int | None = None  # a signal held during a deferred section
    raised = False            # an Interrupted has been raised: ignore further signals
    signum: int | None = None  # the signal that was raised


def _handler(signum: int, frame: object) -> None:
    if _State.raised or _State.pending is not None:
        return
    if _State.depth > 0:
        _State.pending = signum
        return
    _State.raised, _State.signum = True, signum
    raise Interrupted(signum)


def received() -> Interrupted | None:
    """The interruption raised so far, if any. Library code may wrap the exception a signal
    raised inside it (pydantic wraps errors raised in serialisers): the CLI asks here
    whether an unexpected exception is really a signal."""
    return None if _State.signum is None else Interrupted(_State.signum)


def install() -> None:
    """Make SIGINT and SIGTERM raise :class:`Interrupted` (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        return
    _State.depth, _State.pending, _State.raised, _State.signum = 0, None, False, None
    for sig in SIGNALS:
        signal.signal(sig, _handler)


@contextmanager
def deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM until the block ends, then raise :class:`Interrupted`."""
    _State.depth += 1
    try:
        yield
    finally:
        _State.depth -= 1
        if _State.depth == 0 and _State.pending is not None and not _State.raised:
            signum, _State.pending = _State.pending, None
            _State.raised, _State.signum = True, signum
            raise Interrupted(signum)
