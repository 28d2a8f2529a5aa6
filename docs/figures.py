"""Regenerate the figures of docs/model.md (PNG files in docs/img/).

Run from anywhere:  .venv/bin/python docs/figures.py

Only the public API is used (protocol loading and parsing, trial simulation, the PK
function, dose schedules, the default parameters, and ``trialsim.endpoints.sri`` for SRI-4 at
every visit). Every simulation uses the seed of its protocol file, so the figures are
reproducible; replicate counts are modest so the script runs in well under a minute. The
numbers quoted in docs/model.md's figure captions are printed on the way.
"""

from __future__ import annotations

import time
import tomllib
from importlib import resources
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from trialsim.endpoints import sri  # noqa: E402
from trialsim.model import DEFAULT_PARAMETERS  # noqa: E402
from trialsim.model.pk import concentration  # noqa: E402
from trialsim.protocol import Regimen, load_protocol, parse_protocol  # noqa: E402
from trialsim.regimen import dose_schedule  # noqa: E402
from trialsim.trial import simulate_trials  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PROTOCOLS = ROOT / "protocols"
OUT = Path(__file__).resolve().parent / "img"
DPI = 110
SIZE = (7.0, 4.0)

# Replicate counts (simulated trials per protocol).
REPS_SLEDAI = 500       # He 2020 as analysed (59 patients each): the calibration run's count
REPS_IMMUNOLOGY = 100   # He 2020 with weekly visits
REPS_DOSE = 3           # dose ranging (600 patients each)
REPS_DAILY = 20         # daily dosing (80 patients each)

P = DEFAULT_PARAMETERS
IL2_COLOUR, PLACEBO_COLOUR = "tab:red", "tab:blue"


def targets() -> dict[str, dict]:
    """Published calibration targets shipped with the package, by id."""
    text = resources.files("trialsim").joinpath("data/targets.toml").read_text("utf-8")
    return {t["id"]: t for t in tomllib.loads(text)["target"]}


def dosing_phases(times: np.ndarray, every: float) -> list[tuple[float, float]]:
    """(first dose, last dose + interval) of each run of doses, in days."""
    if times.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(times) > 1.5 * every)
    starts = np.r_[0, breaks + 1]
    ends = np.r_[breaks, times.size - 1]
    return [(float(times[s]), float(times[e] + every)) for s, e in zip(starts, ends, strict=True)]


def shade(ax, phases: list[tuple[float, float]], label: str | None = "IL-2 dosing") -> None:
    for i, (a, b) in enumerate(phases):
        ax.axvspan(a / 7.0, b / 7.0, color="0.88", zorder=0, label=label if i == 0 else None)


def pooled(results, arm: int, fn) -> np.ndarray:
    """Concatenate ``fn(result)[patients of arm]`` over replicates."""
    return np.concatenate([fn(r)[r.arm == arm] for r in results])


def save(fig, name: str) -> None:
    fig.tight_layout()
    fig.savefig(OUT / name, dpi=DPI)
    plt.close(fig)
    print(f"wrote docs/img/{name}")


# --------------------------------------------------------------------------------------
def fig_pk() -> None:
    he = load_protocol(PROTOCOLS / "he2020.toml")
    il2 = next(a for a in he.arms if not a.is_placebo)
    days = np.arange(0.0, 16.0, 1.0 / 288)            # 5-minute grid
    sc = concentration(dose_schedule(il2.regimen, 16.0), days, P)
    iv_reg = Regimen(dose_miu=42.0, every_days=1.0, on_days=1.0, route="iv")
    iv = concentration(dose_schedule(iv_reg, 16.0), days, P)
    floor = 1e-2
    fig, ax = plt.subplots(figsize=SIZE)
    ax.axhspan(P.ec50_treg_pm, P.ec50_effector_pm, color="tab:green", alpha=0.08,
               label="receptor window")
    ax.plot(days, np.where(sc > floor, sc, np.nan), color=IL2_COLOUR,
            label=f"{il2.regimen.dose_miu:g} MIU s.c. every other day (He 2020)")
    ax.plot(days, np.where(iv > floor, iv, np.nan), color="k",
            label="42 MIU i.v. bolus, once (one cancer-regimen dose)")
    ax.axhline(P.ec50_effector_pm, color="tab:purple", ls="--", lw=1,
               label=f"NK/CD8 IL-2Rβγ half-max {P.ec50_effector_pm:g} pM")
    ax.axhline(P.ec50_treg_pm, color="tab:green", ls="--", lw=1,
               label=f"Treg IL-2Rαβγ half-max {P.ec50_treg_pm:g} pM")
    ax.axhline(P.endogenous_il2_pm * P.il2_deficiency, color="0.4", ls=":", lw=1,
               label="endogenous IL-2, typical SLE "
               f"({P.endogenous_il2_pm * P.il2_deficiency:g} pM)")
    ax.set_yscale("log")
    ax.set_ylim(floor, 1e6)
    ax.set_xlim(0, 16)
    ax.set_xlabel("time since first dose (days)")
    ax.set_ylabel("plasma IL-2, typical patient (pM)")
    ax.set_title("Pharmacokinetics and the IL-2 receptor window")
    ax.legend(loc="upper right", fontsize=7.5, ncol=2)
    save(fig, "pk.png")


# --------------------------------------------------------------------------------------
def fig_immunology() -> None:
    he = load_protocol(PROTOCOLS / "he2020.toml")
    data = he.model_dump()
    data["visits"]["weeks"] = list(range(0, 25))
    dense = parse_protocol(data, source="he2020 (weekly visits)")
    results = simulate_trials(dense, range(REPS_IMMUNOLOGY))
    il2 = next(i for i, a in enumerate(dense.arms) if not a.is_placebo)
    pla = dense.arms.index(dense.control_arm)
    weeks = dense.visits.weeks
    reg = dense.arms[il2].regimen
    fig, ax = plt.subplots(figsize=SIZE)
    shade(ax, dosing_phases(dose_schedule(reg, dense.horizon_days).times, reg.every_days),
          "IL-2 dosing phases (1 MIU s.c. q2d)")
    for state, label, colour in (("R", "Treg", "tab:green"), ("F", "Tfh", "tab:orange"),
                                 ("H", "Th17", "tab:brown"), ("K", "NK/CD8 (IL-2Rβγ)",
                                                              "tab:purple")):
        arr = pooled(results, il2, lambda r, s=state: r.trajectory[s])
        q25, q50, q75 = np.percentile(arr, [25, 50, 75], axis=0)
        ax.fill_between(weeks, q25, q75, color=colour, alpha=0.18, lw=0)
        ax.plot(weeks, q50, color=colour, marker="o", ms=3, label=f"{label}, IL-2 arm")
    for state in "RFHKAX":
        med = np.median(pooled(results, il2, lambda r, s=state: r.trajectory[s]), axis=0)
        print(f"  IL-2 arm median {state} by week " + " ".join(f"{x:.2f}" for x in med))
    tfh_pla = np.median(pooled(results, pla, lambda r: r.trajectory["F"]), axis=0)
    ax.plot(weeks, tfh_pla, color="tab:orange", ls="--", lw=1, label="Tfh, placebo arm")
    ax.axhline(1.0, color="0.5", lw=0.8)
    ax.set_xlim(0, 24)
    ax.set_ylim(0, 3.2)
    ax.set_xticks(range(0, 25, 4))
    ax.set_xlabel("week")
    ax.set_ylabel("cell count × baseline (median, IQR band)")
    n = sum(int((r.arm == il2).sum()) for r in results)
    ax.set_title(f"He 2020 regimen, IL-2 arm: T-cell subsets ({n} simulated patients, "
                 f"{REPS_IMMUNOLOGY} trials)", fontsize=10)
    ax.legend(fontsize=8, ncol=2, loc="upper right")
    save(fig, "he2020_immunology.png")


# --------------------------------------------------------------------------------------
def fig_sledai() -> None:
    he = load_protocol(PROTOCOLS / "he2020.toml")
    results = simulate_trials(he, range(REPS_SLEDAI))
    tg = targets()
    weeks = np.asarray(he.visits.weeks)
    arms = [(next(i for i, a in enumerate(he.arms) if not a.is_placebo), "il2", "IL-2 1 MIU",
             IL2_COLOUR),
            (he.arms.index(he.control_arm), "placebo", "placebo", PLACEBO_COLOUR)]
    reg = he.arms[arms[0][0]].regimen
    phases = dosing_phases(dose_schedule(reg, he.horizon_days).times, reg.every_days)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=SIZE)
    shade(ax1, phases)
    shade(ax2, phases, label=None)
    for k, (a, label, name, colour) in enumerate(arms):
        off = (-0.25, 0.25)[k]
        sl = [np.concatenate([r.visits.sledai[(r.arm == a) & r.visits.observed[:, j], j]
                              for r in results]) for j in range(weeks.size)]
        q25, q50, q75 = (np.array([np.percentile(s, q) for s in sl]) for q in (25, 50, 75))
        ax1.fill_between(weeks, q25, q75, color=colour, alpha=0.10, lw=0)
        ax1.plot(weeks, q50, color=colour, marker="o", ms=3, label=f"{name}, simulated")
        pub = tg[f"he2020.sledai.median.{label}"]
        ax1.plot(np.asarray(pub["weeks"]) + off, pub["values"], ls="none", marker="D",
                 mfc="white", mec=colour, mew=1.5, ms=6, label=f"{name}, He 2020")
        later = weeks[1:]
        rate = np.array([np.mean([sri(r.visits, w)[r.arm == a].mean() for r in results])
                         for w in later])
        ax2.plot(later, 100 * rate, color=colour, marker="o", ms=3, label=f"{name}, simulated")
        pw, pr, plo, phi = [], [], [], []
        for w in (12, 24):
            t = tg[f"he2020.sri4.week{w}.{label}"]
            pw.append(w + off)
            pr.append(100 * t["rate"])
            plo.append(100 * (t["rate"] - t["ci95"][0]))
            phi.append(100 * (t["ci95"][1] - t["rate"]))
        ax2.errorbar(pw, pr, yerr=[plo, phi], ls="none", marker="D", mfc="white", mec=colour,
                     ecolor=colour, mew=1.5, ms=6, capsize=3,
                     label=f"{name}, He 2020 (95% CI)")
    ax1.set_xlabel("week")
    ax1.set_ylabel("SLEDAI-2K (points)")
    ax1.set_title("Median SLEDAI-2K (IQR band)", fontsize=10)
    ax1.set_xlim(-0.5, 24.5)
    ax1.set_ylim(0, 20)
    ax1.set_xticks(range(0, 25, 4))
    ax1.legend(fontsize=7, loc="upper right")
    ax2.set_xlabel("week")
    ax2.set_ylabel("SRI-4 responders (%)")
    ax2.set_title("SRI-4 response rate", fontsize=10)
    ax2.set_xlim(0, 24.5)
    ax2.set_ylim(0, 105)
    ax2.set_xticks(range(0, 25, 4))
    ax2.legend(fontsize=7, loc="upper left")
    fig.suptitle(f"He 2020 (29 IL-2 + 30 placebo): {REPS_SLEDAI} simulated trials vs published",
                 fontsize=11)
    save(fig, "he2020_sledai.png")


# --------------------------------------------------------------------------------------
def _wilson(x: float, n: float, z: float = 1.959964) -> tuple[float, float]:
    p = x / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def fig_dose_response() -> None:
    prot = load_protocol(PROTOCOLS / "dose-ranging.toml")
    results = simulate_trials(prot, range(REPS_DOSE))
    week = prot.endpoint.week
    xs, labels, rmax, kmax, sri4, fever = [], [], [], [], [], []
    for a, arm in enumerate(prot.arms):
        reg = arm.regimen
        if reg is None:
            xs.append(0.08)
            labels.append("placebo")
        else:
            xs.append(reg.dose_miu)
            labels.append(f"{reg.dose_miu:g}\ni.v. q8h" if reg.route == "iv"
                          else f"{reg.dose_miu:g}")
        rmax.append(np.median(pooled(results, a, lambda r: r.trajectory.extremes["R_max"])))
        kmax.append(np.median(pooled(results, a, lambda r: r.trajectory.extremes["K_max"])))
        s = pooled(results, a, lambda r: r.responder)          # primary endpoint: SRI-4
        f = pooled(results, a, lambda r: r.adverse["fever"].to_numpy())
        sri4.append((s.mean(), *_wilson(s.sum(), s.size)))
        fever.append((f.mean(), *_wilson(f.sum(), f.size)))
    xs = np.array(xs)
    sri4, fever = np.array(sri4), np.array(fever)
    for i, arm in enumerate(prot.arms):
        print(f"  {arm.name:>13}: peak Treg {rmax[i]:.2f}x, peak NK/CD8 {kmax[i]:.2f}x, "
              f"SRI-4 wk{week:g} {100 * sri4[i, 0]:.1f}%, fever {100 * fever[i, 0]:.1f}%")
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=SIZE)
    sc = np.array([a.regimen is None or a.regimen.route == "sc" for a in prot.arms])

    def curve(ax, y, marker, colour, label, err=None):
        """Solid through the s.c. arms, dotted to the i.v. arm (a different regimen)."""
        y = np.asarray(y)
        for mask, ls, lab in ((sc, "-", label), (~sc, "none", None)):
            yerr = err[:, mask] if err is not None else None
            ax.errorbar(xs[mask], y[mask], yerr=yerr, marker=marker, ls=ls, color=colour,
                        capsize=3, label=lab)
        last = np.flatnonzero(sc)[-1]
        for i in np.flatnonzero(~sc):
            ax.plot(xs[[last, i]], y[[last, i]], ":", color=colour)

    curve(ax1, rmax, "o", "tab:green", "peak Treg")
    curve(ax1, kmax, "s", "tab:purple", "peak NK/CD8")
    ax1.axhline(1.0, color="0.5", lw=0.8)
    ax1.set_yscale("log")
    ax1.set_yticks([1, 2, 3, 5, 10])
    ax1.set_yticklabels(["1", "2", "3", "5", "10"])
    ax1.set_ylabel("median peak, × baseline")
    ax1.set_title("Cell expansion", fontsize=10)
    curve(ax2, 100 * sri4[:, 0], "o", "tab:red", f"SRI-4 at week {week:g}",
          err=100 * np.abs(sri4[:, 1:].T - sri4[:, 0]))
    curve(ax2, 100 * fever[:, 0], "^", "tab:orange", "fever (any time)",
          err=100 * np.abs(fever[:, 1:].T - fever[:, 0]))
    ax2.set_ylabel("patients (%), 95% CI")
    ax2.set_ylim(0, 105)
    ax2.set_title("Efficacy and fever", fontsize=10)
    for ax in (ax1, ax2):
        ax.set_xscale("log")
        ax.set_xticks(xs)
        ax.set_xticklabels(labels, fontsize=8)
        ax.minorticks_off()
        ax.set_xlim(0.05, 80)
        ax.set_xlabel("dose per administration (MIU); s.c. q2d unless noted")
        ax.axvspan(20, 80, color="0.9", zorder=0)
        ax.legend(fontsize=8, loc="upper left")
    ax1.xaxis.label.set_size(8)
    ax2.xaxis.label.set_size(8)
    n = prot.population.n * REPS_DOSE // len(prot.arms)
    fig.suptitle(f"Dose ranging (He 2020 cycles; cancer regimen shaded): ~{n} patients per arm",
                 fontsize=11)
    save(fig, "dose_response.png")


# --------------------------------------------------------------------------------------
def fig_daily() -> None:
    prot = load_protocol(PROTOCOLS / "daily-dosing.toml")
    # The protocol's visits are weekly to week 8 then 12 and 16; weekly to the end shows how
    # fast Treg fall once dosing stops (same seed, endpoint week unchanged).
    data = prot.model_dump()
    data["visits"]["weeks"] = list(range(0, int(prot.visits.weeks[-1]) + 1))
    prot = parse_protocol(data, source="daily-dosing (weekly visits)")
    results = simulate_trials(prot, range(REPS_DAILY))
    weeks = np.asarray(prot.visits.weeks)
    fig, ax = plt.subplots(figsize=SIZE)
    for a, arm in enumerate(prot.arms):
        if arm.regimen is not None:
            reg = arm.regimen
            shade(ax, dosing_phases(dose_schedule(reg, prot.horizon_days).times,
                                    reg.every_days),
                  f"daily dosing, {reg.dose_miu:g} MIU s.c.")
        arr = pooled(results, a, lambda r: r.trajectory["R"])
        q25, q50, q75 = np.percentile(arr, [25, 50, 75], axis=0)
        colour = PLACEBO_COLOUR if arm.is_placebo else IL2_COLOUR
        ax.fill_between(weeks, q25, q75, color=colour, alpha=0.15, lw=0)
        ax.plot(weeks, q50, "o-", color=colour, ms=4, label=f"Treg, {arm.name} (median, IQR)")
        print(f"  {arm.name}: median Treg by week " + " ".join(f"{x:.2f}" for x in q50))
        if arm.regimen is not None:
            peak = np.median(pooled(results, a, lambda r: r.trajectory.extremes["R_max"]))
            ax.axhline(peak, color=colour, ls=":", lw=1,
                       label=f"median of each patient's peak Treg ({peak:.1f}×)")
    ax.plot([4], [8], marker="^", ls="none", color="k", ms=8,
            label="cGVHD, Koreth 2011: > 8× at week 4 (not reproduced)")
    ax.axhline(1.0, color="0.5", lw=0.8)
    ax.set_xlim(0, weeks[-1])
    ax.set_ylim(0, 9)
    ax.set_xlabel("week")
    ax.set_ylabel("Treg × baseline")
    n = prot.population.n * REPS_DAILY // len(prot.arms)
    ax.set_title("Daily dosing for 8 weeks: Treg peak in week 1, then drift down "
                 f"(~{n} patients per arm)", fontsize=10)
    ax.legend(fontsize=8, loc="upper right")
    save(fig, "daily_tachyphylaxis.png")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    fig_pk()
    fig_immunology()
    fig_sledai()
    fig_dose_response()
    fig_daily()
    print(f"done in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
