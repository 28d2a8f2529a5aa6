"""Terminal rendering of a run: cohort, arms, comparisons and operating characteristics."""

from __future__ import annotations

from typing import Any

import numpy as np
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from trialsim.design import DesignResult
from trialsim.protocol import Protocol


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _ci(ci: tuple[float, float], pct: bool = True) -> str:
    f = _pct if pct else (lambda v: f"{v:+.3f}")
    return f"{f(ci[0])} – {f(ci[1])}"


def _table(title: str, columns: tuple[str, ...]) -> Table:
    """A table whose first column (the arm) is left-aligned and the rest right-aligned."""
    t = Table(title=title)
    for i, col in enumerate(columns):
        t.add_column(col, justify="left" if i == 0 else "right")
    return t


def cohort_panel(summary: dict[str, Any]) -> Panel:
    c = summary["cohort"]
    fails = ", ".join(f"{k} {v}" for k, v in c["screen_failures"].items()) or "none"
    text = (f"screened {c['screened']}, enrolled {c['enrolled']} (screen failures: {fails})\n"
            f"female {_pct(c['female_fraction'])}, mean age {c['mean_age']:.1f} y, "
            f"baseline SLEDAI-2K mean {c['mean_sledai']:.1f} (median "
            f"{c['median_sledai']:g}), renal {_pct(c['renal_fraction'])}, "
            f"dropouts {c['dropouts']}")
    return Panel(text, title="Cohort (replicate 0)", expand=False)


def arms_table(protocol: Protocol, result: DesignResult) -> Table:
    ep = protocol.endpoint
    t = _table(f"{ep.primary.upper()} at week {ep.week:g} by arm",
               ("arm", "n", "responders", "rate", "95% CI (Wilson)"))
    first = result.first
    pd_cols = result.oc is not None
    if pd_cols:
        t.add_column(f"mean rate over {result.oc.replicates} trials", justify="right")
    for k, a in enumerate(first.analysis.arms):
        row = [a.name, str(a.n), str(a.responders), _pct(a.rate), _ci(a.ci95)]
        if pd_cols:
            oc = result.oc.arms[k]
            row.append(f"{_pct(oc.mean_rate)} ± {_pct(oc.mean_rate_se)}")
        t.add_row(*row)
    return t


def comparisons_table(protocol: Protocol, result: DesignResult) -> Table:
    a = protocol.analysis
    t = _table(f"Comparisons vs control ({a.test}, {a.sided}-sided, alpha {a.alpha:g})",
               ("arm", "difference", "95% CI (Newcombe)", "p-value", "significant"))
    if result.oc is not None:
        t.add_column(f"power over {result.oc.replicates} trials (± MC SE)", justify="right")
    for k, c in enumerate(result.first.analysis.comparisons):
        row = [f"{c.arm} vs {c.control}", f"{100 * c.difference:+.1f} pts",
               f"{100 * c.ci95[0]:+.1f} – {100 * c.ci95[1]:+.1f}", f"{c.p_value:.4f}",
               "yes" if c.significant else "no"]
        if result.oc is not None:
            oc = result.oc.comparisons[k]
            row.append(f"{_pct(oc.power)} ± {_pct(oc.power_se)}")
        t.add_row(*row)
    return t


def immunology_table(protocol: Protocol, result: DesignResult) -> Table:
    """Median peak Treg, lowest Tfh/Th17 and peak NK/CD8 per arm (replicate 0)."""
    first = result.first
    ex = first.trajectory.extremes
    t = _table("Immunology, median per arm (× baseline)",
               ("arm", "peak Treg", "lowest Tfh", "lowest Th17", "peak NK/CD8",
                "inj. site AE", "fever"))
    for k, arm in enumerate(protocol.arms):
        m = first.arm == k
        ae = first.adverse[m]
        t.add_row(arm.name, f"{np.median(ex['R_max'][m]):.2f}",
                  f"{np.median(ex['F_min'][m]):.2f}", f"{np.median(ex['H_min'][m]):.2f}",
                  f"{np.median(ex['K_max'][m]):.2f}",
                  _pct(ae["injection_site_reaction"].mean()), _pct(ae["fever"].mean()))
    return t


def render_run(console: Console, protocol: Protocol, result: DesignResult,
               summary: dict[str, Any]) -> None:
    """Print the whole run to ``console``."""
    console.print(Group(
        cohort_panel(summary), arms_table(protocol, result),
        comparisons_table(protocol, result), immunology_table(protocol, result),
    ))
    if summary.get("run_dir"):
        console.print(Text(f"written to {summary['run_dir']}", style="dim"))
