"""trialsim: virtual clinical trials of low-dose IL-2 in systemic lupus erythematosus.

The Python API (imported lazily, so ``trialsim`` on the command line starts fast)::

    import trialsim
    p = trialsim.load_protocol("protocols/ld-il2-vs-placebo.toml")
    r = trialsim.simulate(p, replicates=20, seed=1)
    r.summary, r.comparisons, r.patients, r.visits, r.replicates
    trialsim.power(p, "40:240:40", replicates=200)
    trialsim.compare(["protocols/dose-schedules.toml"], replicates=200)
"""

from __future__ import annotations

from typing import Any

__all__ = ["RunResult", "compare", "load_protocol", "power", "simulate"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from trialsim import api

        return getattr(api, name)
    raise AttributeError(f"module 'trialsim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
