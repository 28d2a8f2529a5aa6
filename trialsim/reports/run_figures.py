"""Figures of a run report, each returned as PNG bytes (matplotlib, Agg backend)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from trialsim.reports.html import figure_png, pyplot

COLOURS = ["#7f7f7f", "#1f4e79", "#b35900", "#2e7d32", "#8e24aa", "#c62828", "#00838f",
           "#6d4c41"]
DPI = 110


def _colour(k: int) -> str:
    return COLOURS[k % len(COLOURS)]


def response_png(summary: dict[str, Any]) -> bytes:
    """Primary response rate per arm with its Wilson 95% CI (one trial), and the mean rate
    over replicates when there are several."""
    plt = pyplot()
    arms = summary["arms"]
    ep = summary["endpoint"]
    x = np.arange(len(arms))
    rate = np.array([a["rate"] for a in arms])
    lo = np.array([a["ci95"][0] for a in arms])
    hi = np.array([a["ci95"][1] for a in arms])
    fig, ax = plt.subplots(figsize=(6.5, 3.6), dpi=DPI)
    ax.bar(x, rate, color=[_colour(k) for k in range(len(arms))], alpha=0.8, width=0.6,
           label="one trial (replicate 0), Wilson 95% CI")
    ax.errorbar(x, rate, yerr=[rate - lo, hi - rate], fmt="none", ecolor="black", capsize=4)
    oc = summary.get("operating_characteristics")
    if oc:
        m = np.array([a["mean_rate"] for a in oc["arms"]])
        ax.scatter(x, m, marker="D", color="white", edgecolor="black", zorder=3,
                   label=f"mean over {oc['replicates']} trials")
    ax.set_xticks(x, [a["name"] for a in arms], fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel(f"{ep['primary'].upper()} response at week {ep['week']:g}")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return figure_png(fig)


MARKERS = (("treg", "Treg (× baseline)"), ("tfh", "Tfh (× baseline)"),
           ("th17", "Th17 (× baseline)"), ("anti_dsdna", "anti-dsDNA (IU/mL)"),
           ("sledai", "SLEDAI-2K"))


def time_course_png(visits: pd.DataFrame, arms: list[str]) -> bytes:
    """Median and interquartile band per arm over the visits of observed patients."""
    plt = pyplot()
    cols = [c for c, _ in MARKERS]
    seen = visits[visits["observed"].astype(bool)] if "observed" in visits else visits
    # Quartiles per arm, week and marker, computed once per arm on the columns plotted
    # (a million patients' visits are never copied whole per marker).
    bands = {}
    for arm in arms:
        rows = (seen["arm"] == arm).to_numpy()
        bands[arm] = seen.loc[rows, ["week", *cols]].groupby("week")[cols].quantile(
            [0.25, 0.5, 0.75])
    del seen
    fig, axes = plt.subplots(2, 3, figsize=(10, 5.6), dpi=DPI)
    for ax, (col, label) in zip(axes.ravel(), MARKERS, strict=False):
        for k, arm in enumerate(arms):
            q = bands[arm][col].unstack()
            if q.empty:
                continue
            ax.plot(q.index, q[0.5], color=_colour(k), lw=1.6, label=arm)
            ax.fill_between(q.index, q[0.25], q[0.75], color=_colour(k), alpha=0.18)
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("week", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    last = axes.ravel()[-1]
    handles, labels = axes.ravel()[0].get_legend_handles_labels()
    last.axis("off")
    last.legend(handles, labels, loc="center", fontsize=8, title="median (IQR band)")
    fig.tight_layout()
    return figure_png(fig)


def il2_png(protocol: Any) -> bytes:
    """Plasma IL-2 of a typical patient (population PK parameters) per arm."""
    from trialsim.model import DEFAULT_PARAMETERS
    from trialsim.model.pk import concentration
    from trialsim.regimen import dose_schedule

    plt = pyplot()
    horizon = protocol.horizon_days
    t = np.linspace(0.0, horizon, int(min(40_000, max(2_000, horizon * 48))))
    fig, ax = plt.subplots(figsize=(9, 3.2), dpi=DPI)
    for k, arm in enumerate(protocol.arms):
        c = concentration(dose_schedule(arm.regimen, horizon), t, DEFAULT_PARAMETERS)
        ax.plot(t / 7.0, c, color=_colour(k), lw=1.0, label=arm.name)
    ax.set_xlabel("week")
    ax.set_ylabel("plasma IL-2 (pM)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    return figure_png(fig)


def effects_png(replicates: pd.DataFrame, first: dict[str, float]) -> bytes:
    """Histogram of each comparison's estimated difference over the replicates, with the
    trial shown (replicate 0) marked."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 3.4), dpi=DPI)
    for k, (name, g) in enumerate(replicates.groupby("comparison", sort=False)):
        d = 100 * g["difference"].to_numpy()
        ax.hist(d, bins=min(40, max(8, len(d) // 10)), alpha=0.5, color=_colour(k + 1),
                label=f"{name} (mean {d.mean():+.1f} pts)")
        if name in first:
            ax.axvline(100 * first[name], color=_colour(k + 1), ls="--", lw=1.2)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel("estimated difference in response (percentage points)")
    ax.set_ylabel("simulated trials")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return figure_png(fig)
