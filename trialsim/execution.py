"""Where replicates run: in this process, in local worker processes, or on a Dask cluster.

The design layer (:mod:`trialsim.design`) cuts its replicates into chunks and hands each
chunk to a backend as an independent task: a module-level function with picklable
arguments that returns a small picklable summary (tallies, per-replicate analyses — never
the patients of every replicate). Every random draw is keyed by the protocol seed, the
replicate, the stage and the patient (:mod:`trialsim.streams`), so a chunk's summary does
not depend on where it ran, on the chunk size or on the number of workers; the caller
combines the summaries in chunk order, so every backend gives identical results for the
same seed.

Backends:

* ``inprocess`` — one chunk after another in this process (the default with one worker);
* ``processes`` — a :class:`~concurrent.futures.ProcessPoolExecutor` of ``workers``
  processes (``--workers N``; fork start method where the platform has it, so workers
  inherit the imported modules and start in milliseconds);
* ``dask`` — a ``dask.distributed`` client: ``--backend dask --workers N`` starts a
  ``LocalCluster`` of N single-threaded worker processes on the loopback interface,
  ``--scheduler tcp://host:port`` joins a running cluster (whose workers must have trialsim
  installed). Dask is an optional extra: ``pip install trialsim[dask]``.

At most ``2 × workers`` chunks are in flight at once, so memory stays bounded however many
replicates are asked for; ``progress`` advances as each chunk completes (in any order),
while results are yielded in chunk order.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from trialsim.errors import TrialsimError

BACKENDS: tuple[str, ...] = ("inprocess", "processes", "dask")
MAX_WORKERS = 256


class ExecutionError(TrialsimError):
    """A backend that cannot be started (unknown name, Dask missing, scheduler unreachable)."""


class Backend:
    """Runs chunk tasks; :meth:`map` yields their results in order."""

    name = "inprocess"
    workers = 1

    def map(self, fn: Callable[..., Any], args: Iterable[Sequence[Any]],
            progress: Callable[[Any], None] | None = None) -> Iterator[Any]:
        """``fn(*a)`` for every ``a`` of ``args``, yielded in order; ``progress(result)`` is
        called as each one completes."""
        for a in args:
            out = fn(*a)
            if progress is not None:
                progress(out)
            yield out

    def close(self) -> None:
        """Release workers (nothing to release in process)."""

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "workers": self.workers}

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class InProcess(Backend):
    """Chunks one after another in this process."""


def _ready() -> int:
    return os.getpid()


def _preload() -> None:
    """Import what a replicate task runs and load the compiled model kernel in this process,
    so that forked workers inherit them instead of each importing and loading them (about a
    second per worker). Only the one-thread kernel is loaded: no thread exists at the fork."""
    import trialsim.design.replicates  # noqa: F401  (the task functions and their imports)
    import trialsim.design.sizes  # noqa: F401
    from trialsim.model.dynamics import warm_up

    warm_up()
    # What exists now lives as long as the workers: keep it out of their garbage
    # collections (and its pages shared with this process), as the gc docs advise for
    # fork-based pools.
    gc.freeze()


class _Windowed(Backend):
    """Shared logic of pool backends: a bounded window of submitted tasks."""

    def _submit(self, fn: Callable[..., Any], a: Sequence[Any]) -> Any:
        raise NotImplementedError

    def _wait_any(self, pending: set[Any]) -> set[Any]:
        raise NotImplementedError

    @staticmethod
    def _result(future: Any) -> Any:
        return future.result()

    def map(self, fn: Callable[..., Any], args: Iterable[Sequence[Any]],
            progress: Callable[[Any], None] | None = None) -> Iterator[Any]:
        window = 2 * self.workers
        queue = iter(args)
        order: list[Any] = []          # futures in submission order, not yet yielded
        pending: set[Any] = set()      # futures not yet seen complete
        exhausted = False
        try:
            while True:
                while not exhausted and len(order) < window:
                    a = next(queue, None)
                    if a is None:
                        exhausted = True
                        break
                    f = self._submit(fn, a)
                    order.append(f)
                    pending.add(f)
                if not order:
                    return
                while order[0] in pending:
                    for f in self._wait_any(pending):
                        pending.discard(f)
                        if progress is not None:
                            progress(self._result(f))
                head = order.pop(0)
                yield self._result(head)
        finally:
            for f in order:
                f.cancel()


class Processes(_Windowed):
    """A pool of local worker processes."""

    name = "processes"

    def __init__(self, workers: int) -> None:
        from concurrent.futures import ProcessPoolExecutor

        methods = multiprocessing.get_all_start_methods()
        fork = "fork" in methods
        ctx = multiprocessing.get_context("fork" if fork else None)
        if fork:
            _preload()
        self.workers = workers
        self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx)
        # Start every worker now, before any progress-bar thread exists: forking a process
        # that runs other threads can copy a lock held by one of them.
        for f in [self._pool.submit(_ready) for _ in range(workers)]:
            f.result()

    def _submit(self, fn: Callable[..., Any], a: Sequence[Any]) -> Any:
        return self._pool.submit(fn, *a)

    def _wait_any(self, pending: set[Any]) -> set[Any]:
        from concurrent.futures import FIRST_COMPLETED, wait

        done, _ = wait(pending, return_when=FIRST_COMPLETED)
        return set(done)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class Dask(_Windowed):
    """A ``dask.distributed`` client: a new ``LocalCluster`` or a running scheduler."""

    name = "dask"

    def __init__(self, workers: int, scheduler: str | None = None) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise ExecutionError("--backend dask needs Dask: pip install 'trialsim[dask]' "
                                 "(dask[distributed]).") from None
        self._cluster = None
        self.scheduler = scheduler
        try:
            if scheduler is None:
                self._cluster = LocalCluster(n_workers=workers, threads_per_worker=1,
                                             processes=True, host="127.0.0.1",
                                             dashboard_address=None)
                self._client = Client(self._cluster)
            else:
                self._client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError) as exc:
            if self._cluster is not None:
                self._cluster.close()
            where = scheduler or "a local cluster"
            raise ExecutionError(f"--scheduler {where}: cannot connect ({exc}).") from None
        info = self._client.scheduler_info()
        self.workers = max(1, len(info.get("workers", {})) or workers)

    def _submit(self, fn: Callable[..., Any], a: Sequence[Any]) -> Any:
        return self._client.submit(fn, *a, pure=False)

    def _wait_any(self, pending: set[Any]) -> set[Any]:
        from distributed import wait

        done, _ = wait(list(pending), return_when="FIRST_COMPLETED")
        return set(done)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "scheduler": self.scheduler or "LocalCluster"}

    def close(self) -> None:
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()


def check_options(backend: str | None, workers: int, scheduler: str | None) -> str:
    """The backend that ``--backend``, ``--workers`` and ``--scheduler`` ask for, or an
    :class:`ExecutionError` naming the option."""
    if backend is not None and backend not in BACKENDS:
        raise ExecutionError(f"--backend must be one of {', '.join(BACKENDS)} "
                             f"(got {backend!r}).")
    if not 1 <= workers <= MAX_WORKERS:
        raise ExecutionError(f"--workers must be in 1..{MAX_WORKERS} (got {workers}).")
    if scheduler is not None:
        if backend not in (None, "dask"):
            raise ExecutionError(f"--scheduler joins a Dask cluster: it needs --backend dask "
                                 f"(got --backend {backend}).")
        if not scheduler.startswith(("tcp://", "tls://", "inproc://", "ucx://")):
            raise ExecutionError(f"--scheduler must be an address such as "
                                 f"tcp://host:8786 (got {scheduler!r}).")
        return "dask"
    if backend is None:
        return "inprocess" if workers == 1 else "processes"
    return backend


def open_backend(backend: str | None = None, workers: int = 1,
                 scheduler: str | None = None) -> AbstractContextManager[Backend]:
    """A context manager giving the backend asked for; closed (workers stopped) on exit."""
    kind = check_options(backend, workers, scheduler)
    return _opened(kind, workers, scheduler)


@contextmanager
def _opened(kind: str, workers: int, scheduler: str | None) -> Iterator[Backend]:
    b: Backend
    if kind == "processes" and workers > 1:
        b = Processes(workers)
    elif kind == "dask":
        b = Dask(workers, scheduler)
    else:
        b = InProcess()
    try:
        yield b
    finally:
        b.close()


def chunks(start: int, stop: int, size: int) -> list[range]:
    """Replicates ``start`` … ``stop − 1`` in consecutive ranges of at most ``size``."""
    return [range(s, min(s + size, stop)) for s in range(start, stop, size)]
