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
    """The primary endpoint per arm (rate, mean or event rate) with its interval (one trial),
    and the mean over replicates when there are several."""
    plt = pyplot()
    arms = summary["arms"]
    ep = summary["endpoint"]
    x = np.arange(len(arms))
    nan = float("nan")

    def num(v: Any) -> float:
        return nan if v is None else float(v)

    est = np.array([num(a["estimate"]) for a in arms])
    lo = np.array([num(a["ci"][0]) for a in arms])
    hi = np.array([num(a["ci"][1]) for a in arms])
    level = f"{100 * arms[0].get('ci_level', 0.95):g}%"
    stat = arms[0].get("statistic", "rate")
    fig, ax = plt.subplots(figsize=(6.5, 3.6), dpi=DPI)
    ax.bar(x, np.nan_to_num(est), color=[_colour(k) for k in range(len(arms))], alpha=0.8,
           width=0.6, label=f"one trial (replicate 0), {level} CI")
    ax.errorbar(x, est, yerr=[np.maximum(est - lo, 0), np.maximum(hi - est, 0)], fmt="none",
                ecolor="black", capsize=4)
    oc = summary.get("operating_characteristics")
    if oc:
        m = np.array([num(a.get("mean_estimate", a.get("mean_rate"))) for a in oc["arms"]])
        ax.scatter(x, m, marker="D", color="white", edgecolor="black", zorder=3,
                   label=f"mean over {oc['replicates']} trials")
    ax.set_xticks(x, [a["name"] for a in arms], fontsize=8)
    if stat == "rate":
        ax.set_ylim(0, 1)
        ax.set_ylabel(f"{ep['primary'].upper()} response at week {ep['week']:g}")
    else:
        ax.axhline(0, color="black", lw=0.8)
        ax.set_ylabel(f"{ep['primary']}: {stat}")
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


def effects_png(replicates: pd.DataFrame, first: dict[str, float],
                percent: bool = True, label: str = "estimated difference in response") -> bytes:
    """Histogram of each comparison's estimate over the replicates, with the trial shown
    (replicate 0) marked; ``percent``: a difference in rates, shown in percentage points."""
    plt = pyplot()
    f = 100.0 if percent else 1.0
    unit = " pts" if percent else ""
    fig, ax = plt.subplots(figsize=(6.5, 3.4), dpi=DPI)
    for k, (name, g) in enumerate(replicates.groupby("comparison", sort=False)):
        d = f * g["estimate"].to_numpy(dtype=float)
        d = d[np.isfinite(d)]
        if not d.size:
            continue
        ax.hist(d, bins=min(40, max(8, len(d) // 10)), alpha=0.5, color=_colour(k + 1),
                label=f"{name} (mean {d.mean():+.{1 if percent else 3}f}{unit})")
        if first.get(name) is not None:
            ax.axvline(f * first[name], color=_colour(k + 1), ls="--", lw=1.2)
    ax.axvline(0 if percent or "ratio" not in label else 1, color="black", lw=0.8)
    ax.set_xlabel(label + (" (percentage points)" if percent else ""))
    ax.set_ylabel("simulated trials")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return figure_png(fig)
