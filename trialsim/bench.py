"""``make bench``: how fast the immune model runs, as throughput and ratios.

Measures the He 2020 design (24 weeks, 6-hour steps with 30-minute PK resolution):
* the whole cohort as one array system, at 60, 2,000 and 10,000 patients;
* the same patients one at a time in a Python loop (what the design forbids), to show the
  ratio the array formulation buys;
* a full simulated trial (cohort, model, endpoints, analysis) and 200 replicates.
Times are the best of three runs (``time.perf_counter``); figures are patients·days/s.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from rich.console import Console
from rich.table import Table

from trialsim.calibration import protocol_dir
from trialsim.design import run_design
from trialsim.model import DEFAULT_PARAMETERS, sample_patient_parameters, simulate
from trialsim.protocol import load_protocol
from trialsim.trial import schedules


def _best(fn: Callable[[], object], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    console = Console()
    p = load_protocol(protocol_dir() / "ld-il2-vs-placebo.toml")
    sched = schedules(p)
    days = np.asarray(p.visits.days)
    horizon = float(days[-1])
    rng = np.random.default_rng(0)

    def cohort(n: int):
        pp = sample_patient_parameters(rng.standard_normal(n), DEFAULT_PARAMETERS, p.model, rng)
        return pp, np.arange(n) % 2

    rows = []
    for n in (60, 2_000, 10_000):
        pp, arm = cohort(n)
        t = _best(lambda pp=pp, arm=arm: simulate(sched, arm, pp, DEFAULT_PARAMETERS, days))
        rows.append((f"model, {n:,} patients as arrays", n, t))
    loop_n = 60
    pp, arm = cohort(loop_n)

    def one_at_a_time() -> None:
        for i in range(loop_n):
            sub = type(pp)(**{k: getattr(pp, k)[i:i + 1] for k in pp.__dataclass_fields__})
            simulate(sched, arm[i:i + 1], sub, DEFAULT_PARAMETERS, days)

    t_loop = _best(one_at_a_time, repeat=1)
    rows.append((f"model, {loop_n} patients one at a time (loop)", loop_n, t_loop))
    t_trial = _best(lambda: run_design(p))
    rows.append(("one full trial (60 patients, cohort → analysis)", p.population.n, t_trial))
    p200 = p.with_overrides(replicates=200)
    t200 = _best(lambda: run_design(p200), repeat=1)
    rows.append(("200 full trials (12,000 patients)", 200 * p.population.n, t200))

    table = Table(title=f"trialsim benchmark: He 2020 design, {horizon:g} days")
    for col in ("what", "seconds", "patients·days/s"):
        table.add_column(col, justify="left" if col == "what" else "right")
    for what, n, t in rows:
        table.add_row(what, f"{t:.3f}", f"{n * horizon / t:,.0f}")
    console.print(table)
    t60 = rows[0][2]
    console.print(f"arrays vs loop at {loop_n} patients: {t_loop / t60:.1f}× faster")
    console.print(f"10,000 vs 60 patients: {rows[2][2] / t60:.1f}× the time for "
                  f"{10_000 / 60:.0f}× the patients")


if __name__ == "__main__":
    main()
