"""Figures written into run folders (matplotlib, headless Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def power_curve_png(curve: Any, path: Path) -> None:
    """Simulated power ± 95% MC interval per size, fitted probit curve, analytic curve,
    target line and the chosen n (``curve``: a :class:`~trialsim.design.sizes.PowerCurve`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = np.array([r.n for r in curve.rows], dtype=float)
    power = np.array([r.power for r in curve.rows])
    lo = np.array([r.ci95[0] for r in curve.rows])
    hi = np.array([r.ci95[1] for r in curve.rows])
    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=120)
    ax.errorbar(n, power, yerr=[power - lo, hi - power], fmt="o", color="#1f4e79",
                capsize=3, label=f"simulated ({curve.replicates} trials per size, 95% MC CI)")
    grid = np.linspace(n.min(), max(n.max(), curve.required_n or 0), 200)
    if curve.fit is not None:
        ax.plot(grid, curve.fitted_power(grid), color="#1f4e79", lw=1.5,
                label="probit fit on √n")
    ax.plot(n, [np.nan if r.analytic_power is None else r.analytic_power
                for r in curve.rows], "--", color="#b35900",
            label="normal approximation at simulated rates")
    ax.axhline(curve.target, color="grey", lw=0.8, ls=":")
    if curve.required_n is not None:
        ax.axvline(curve.required_n, color="#2e7d32", lw=1.0, ls="-.",
                   label=f"n = {curve.required_n} for {curve.target:.0%} power")
        if curve.confirm is not None:
            c = curve.confirm
            ax.errorbar([c.n], [c.power], yerr=[[c.power - c.ci95[0]], [c.ci95[1] - c.power]],
                        fmt="s", color="#2e7d32", capsize=3, label="confirming run")
    p = curve.protocol
    ax.set_xlabel("patients randomised (total)")
    ax.set_ylabel("power")
    ax.set_ylim(0, 1)
    ax.set_title(f"{p.trial.name}: {p.endpoint.primary.upper()} at week {p.endpoint.week:g}",
                 fontsize=11)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def compare_png(comparison: Any, path: Path) -> None:
    """Power ± 95% MC interval per design, best first, with the reference marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = comparison.rows
    y = np.arange(len(rows))[::-1]
    power = np.array([r.power for r in rows])
    lo = np.array([r.ci95[0] for r in rows])
    hi = np.array([r.ci95[1] for r in rows])
    fig, ax = plt.subplots(figsize=(7.5, 1.2 + 0.38 * len(rows)), dpi=120)
    colours = ["#b35900" if r.name == comparison.reference else "#1f4e79" for r in rows]
    ax.errorbar(power, y, xerr=[power - lo, hi - power], fmt="none", ecolor="grey", capsize=3)
    ax.scatter(power, y, c=colours, zorder=3)
    ax.set_yticks(y, [r.name for r in rows], fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"power (95% MC interval, {comparison.replicates} trials per design)")
    ax.set_title(f"Designs on common virtual patients (reference in orange: "
                 f"{comparison.reference})", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
