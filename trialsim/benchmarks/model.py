"""Speed and accuracy of the model kernel (issue 9): what ``make bench`` reports for the model.

Fields of :func:`measure` (all on the default protocol's He 2020 regimen, 1 MIU s.c. every
other day for 2 weeks then 2 weeks off, 3 cycles, visits to week 24):

* ``patient_days_per_s``: 100,000 patients (half placebo, half IL-2) × 168 days through
  :func:`trialsim.model.simulate`, best of 3 after a warm-up call, with the kernel's
  default threads (``model_threads``); ``patient_days_per_s_1_thread`` the same serial (as
  inside a worker process). ``jit_compile_s``: compiling the serial and the threaded kernel
  in a fresh process with an empty cache (what a first run pays; later runs load the cache).
* ``speedup_vs_reference``: seconds per patient of the reference (:mod:`trialsim.model.
  reference`: the same equations, LSODA, rtol 1e-8, patient by patient) on 20 patients of
  the same mix, over seconds per patient of the serial kernel (one core each).
* ``sri4_agreement``, ``sledai_visit_agreement``, ``max_relative_state_error``: the first
  three replicates of the default protocol (180 patients) simulated twice with the same
  random draws, once with the kernel and once with the reference integrator in its place:
  the share of patients whose week-24 SRI-4 is the same, the share of patient-visits whose
  SLEDAI-2K is the same, and the largest relative difference of any state at any visit
  (``D``, which is 0 at baseline and in placebo patients, relative to max(D, 0.01)).
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from unittest import mock

import numpy as np

TARGETS = {   # issue 9 acceptance: (comparison, value)
    "patient_days_per_s": (">=", 5_000_000),
    "speedup_vs_reference": (">=", 1_000),
    "sri4_agreement": (">=", 0.995),
    "sledai_visit_agreement": (">=", 0.995),
    "max_relative_state_error": ("<=", 0.01),
}
THROUGHPUT_PATIENTS = 100_000
REFERENCE_PATIENTS = 20
AGREEMENT_REPLICATES = (0, 1, 2)
_D_FLOOR = 0.01


def _best(fn: Callable[[], object], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def _default_protocol():
    from trialsim.calibration import protocol_dir
    from trialsim.protocol import load_protocol
    return load_protocol(protocol_dir() / "ld-il2-vs-placebo.toml")


def _cohort(protocol, n: int, seed: int = 0):
    """n patients of the default population's parameter distribution, arms alternating."""
    from trialsim.model import DEFAULT_PARAMETERS, sample_patient_parameters
    rng = np.random.default_rng(seed)
    pp = sample_patient_parameters(rng.standard_normal(n), DEFAULT_PARAMETERS, protocol.model,
                                   rng)
    return pp, np.arange(n) % 2


def _subset(pp, idx):
    return type(pp)(**{k: getattr(pp, k)[idx] for k in pp.__dataclass_fields__})


_COMPILE_SCRIPT = textwrap.dedent("""
    import json, time
    import numpy as np
    from trialsim.model import DEFAULT_PARAMETERS, kernel, simulate
    from trialsim.model import sample_patient_parameters
    from trialsim.protocol import Model
    from trialsim.regimen import PLACEBO
    rng = np.random.default_rng(0)
    out = {}
    for label, n in (("serial", 8), ("threaded", kernel.PARALLEL_MIN_PATIENTS)):
        pp = sample_patient_parameters(rng.standard_normal(n), DEFAULT_PARAMETERS, Model(), rng)
        t0 = time.perf_counter()
        simulate([PLACEBO], np.zeros(n, dtype=int), pp, DEFAULT_PARAMETERS, np.array([0., 1.]))
        out[label] = time.perf_counter() - t0
    print(json.dumps(out))
""")


def _compile_seconds(tmp: Path) -> dict[str, float]:
    """First-call seconds of the serial and threaded kernels in a fresh process whose numba
    cache is empty (so they include compilation; a run of a few patients over one day)."""
    import json
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp)}
    res = subprocess.run([sys.executable, "-c", _COMPILE_SCRIPT], capture_output=True,
                         text=True, env=env, timeout=600, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def throughput(protocol) -> dict[str, float]:
    """Model-only throughput at 100,000 patients, default threads and one thread."""
    from trialsim.model import DEFAULT_PARAMETERS, kernel, simulate
    from trialsim.outcome.mechanistic import schedules
    sched = schedules(protocol)
    days = np.asarray(protocol.visits.days, dtype=float)
    pp, arm = _cohort(protocol, THROUGHPUT_PATIENTS)
    patient_days = THROUGHPUT_PATIENTS * float(days.max())

    def run() -> None:
        simulate(sched, arm, pp, DEFAULT_PARAMETERS, days)

    run()   # warm-up: compile or load the cache, fault in memory
    t_default = _best(run)
    threads = kernel.threads()
    kernel.set_threads(1)
    try:
        run()
        t_serial = _best(run)
    finally:
        kernel.set_threads(None)
    return {
        "model_patients": THROUGHPUT_PATIENTS,
        "model_days": float(days.max()),
        "model_threads": threads,
        "model_s": round(t_default, 4),
        "patient_days_per_s": round(patient_days / t_default),
        "model_s_1_thread": round(t_serial, 4),
        "patient_days_per_s_1_thread": round(patient_days / t_serial),
    }


def reference_speed(protocol, kernel_s_per_patient: float) -> dict[str, float]:
    """The reference integrator's seconds per patient on 20 patients of the same mix."""
    from trialsim.model import DEFAULT_PARAMETERS
    from trialsim.model.reference import simulate_reference
    from trialsim.outcome.mechanistic import schedules
    sched = schedules(protocol)
    days = np.asarray(protocol.visits.days, dtype=float)
    pp, arm = _cohort(protocol, REFERENCE_PATIENTS, seed=1)
    t0 = time.perf_counter()
    simulate_reference(sched, arm, pp, DEFAULT_PARAMETERS, days)
    per_patient = (time.perf_counter() - t0) / REFERENCE_PATIENTS
    return {
        "reference_s_per_patient": round(per_patient, 5),
        "kernel_s_per_patient": kernel_s_per_patient,
        "speedup_vs_reference": round(per_patient / kernel_s_per_patient),
    }


def _state_errors(kern, ref) -> dict[str, float]:
    """Largest relative difference per state over patients and visits (D floored)."""
    from trialsim.model.dynamics import STATES
    errs = {}
    for name in STATES:
        r, k = ref[name], kern[name]
        scale = np.maximum(np.abs(r), _D_FLOOR) if name == "D" else np.abs(r)
        errs[name] = float(np.max(np.abs(k - r) / scale))
    errs["Y"] = float(np.max(np.abs(kern.Y - ref.Y) / np.abs(ref.Y)))
    return errs


def agreement(protocol, replicates=AGREEMENT_REPLICATES) -> dict[str, float]:
    """Endpoints from kernel and reference trajectories of the same patients and draws."""
    from trialsim.model.reference import simulate_reference
    from trialsim.trial import simulate_trials
    kern = simulate_trials(protocol, list(replicates))
    # The same replicates with the reference integrator in the kernel's place: every random
    # draw is keyed by (seed, replicate, stage, patient), so only the trajectories differ.
    with mock.patch("trialsim.outcome.mechanistic.simulate", simulate_reference):
        ref = simulate_trials(protocol, list(replicates))
    same_sri4 = np.concatenate([a.responder == b.responder for a, b in zip(kern, ref,
                                                                           strict=True)])
    same_sledai = np.concatenate([(a.visits.sledai == b.visits.sledai).ravel()
                                  for a, b in zip(kern, ref, strict=True)])
    errs: dict[str, float] = {}
    for a, b in zip(kern, ref, strict=True):
        for k, v in _state_errors(a.trajectory, b.trajectory).items():
            errs[k] = max(errs.get(k, 0.0), v)
    worst = max(errs, key=errs.__getitem__)
    return {
        "agreement_patients": int(same_sri4.size),
        "sri4_agreement": round(float(same_sri4.mean()), 5),
        "sledai_visit_agreement": round(float(same_sledai.mean()), 5),
        "sledai_visits_compared": int(same_sledai.size),
        "max_relative_state_error": round(errs[worst], 6),
        "max_relative_state_error_state": worst,
        "relative_state_error_by_state": {k: round(v, 6) for k, v in errs.items()},
    }


def _environment() -> dict[str, object]:
    import numba
    versions = {}
    for pkg in ("trialsim", "numpy", "numba", "scipy", "pandas"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:  # pragma: no cover - run from a source tree
            versions[pkg] = "unknown"
    versions["python"] = platform.python_version()
    return {
        "cores": os.cpu_count(),
        "numba_threads": numba.config.NUMBA_NUM_THREADS,
        "cpu": platform.processor() or platform.machine(),
        "versions": versions,
    }


def measure() -> dict[str, object]:
    """Every model figure of ``make bench`` (about a minute on 2 free cores)."""
    import tempfile
    t_start = time.perf_counter()
    load_before = os.getloadavg()[0]
    protocol = _default_protocol()
    with tempfile.TemporaryDirectory() as tmp:
        compile_s = _compile_seconds(Path(tmp))
    out: dict[str, object] = {
        "jit_compile_s": {k: round(v, 2) for k, v in compile_s.items()},
    }
    out.update(throughput(protocol))
    out.update(reference_speed(protocol, out["model_s_1_thread"] / THROUGHPUT_PATIENTS))
    out.update(agreement(protocol))
    out.update(_environment())
    out["load_average_1min"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    out["model_bench_s"] = round(time.perf_counter() - t_start, 1)
    return out


def passed(name: str, value: float) -> bool:
    """Whether ``value`` meets the issue-9 target of ``name``."""
    op, target = TARGETS[name]
    return value >= target if op == ">=" else value <= target
