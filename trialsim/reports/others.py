"""``report.html`` of ``power``, ``compare`` and ``calibrate`` run folders.

Each page embeds its figure (the PNG the folder also holds) as a data URI and shows the
result's table and provenance; all text is escaped (:func:`trialsim.reports.html.esc`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from trialsim.reports.html import esc, figure_png, img, kv, page, pct, pyplot, scope, table
from trialsim.reports.provenance import git_commit, version


def _provenance(digest: str | None, seed: Any, run_dir: Any) -> str:
    from datetime import UTC, datetime

    return "<h2>Provenance</h2>" + kv([
        ("trialsim version", version()), ("git commit", git_commit() or "not a git checkout"),
        ("protocol digest", digest or "–"), ("seed", seed),
        ("written (UTC)", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")),
        ("run folder", run_dir)])


def power_report_html(curve: Any, png: bytes, run_dir: Any) -> str:
    """The power curve: simulated power with MC intervals, fit, analytic curve, chosen n."""
    d = curve.to_dict()
    arm, control = d["comparison"].split(" vs ")
    rows = [*curve.rows, *([curve.confirm] if curve.confirm is not None else [])]
    body = [f"<h1>{esc(d['protocol'])}: power by sample size</h1>",
            f"<p class=\"lede\">{esc(d['comparison'])}, {esc(d['endpoint']['primary'].upper())}"
            f" at week {esc(format(d['endpoint']['week'], 'g'))}, "
            f"{esc(d['analysis']['method'])}, multiplicity {esc(d['analysis']['multiplicity'])},"
            f" {esc(d['analysis']['sided'])}-sided alpha {esc(d['analysis']['alpha'])}; power "
            f"is {esc(d['uncertainty'])}.</p>",
            f"<h2>Power curve{scope(False, curve.replicates)}</h2>",
            img(png, "power curve", "Simulated power (95% Monte-Carlo interval), probit fit on "
                "√n, normal-approximation curve at the simulated rates, and the chosen n.")]
    if curve.required_n is not None:
        ci = (f" (95% bootstrap interval {curve.required_n_ci95[0]}–"
              f"{curve.required_n_ci95[1]})" if curve.required_n_ci95 else "")
        conf = (f"; confirming run at that n: {pct(curve.confirm.power)} ± "
                f"{pct(curve.confirm.power_se)}" if curve.confirm is not None else "")
        body.append(f"<p><b>Smallest n for {esc(pct(curve.target))} power: "
                    f"{esc(curve.required_n)}</b>{esc(ci + conf)}</p>")
    if curve.fit is not None:
        body.append(f"<p class=\"note\">Fit: power = Φ({curve.fit['intercept']:.4f} + "
                    f"{curve.fit['slope']:.4f}·√n)</p>")
    binary = curve.kind == "binary"

    def level(x: float) -> str:
        return pct(x) if binary else f"{x:.3f}"

    stat = "rate" if binary else "mean"
    multi = len(curve.protocol.arms) > 2
    body.append(table(
        ["n", "per arm", "power ± MC SE", "95% MC interval", "analytic", f"{stat} {control}",
         f"{stat} {arm}", "difference", "screened",
         *([f"any arm ({d['analysis']['multiplicity']})", "any arm, unadjusted"]
           if multi else [])],
        [(f"{r.n}" if i < len(curve.rows) else f"{r.n} (confirm)",
          "/".join(map(str, r.n_per_arm)), f"{pct(r.power)} ± {pct(r.power_se)}",
          f"{pct(r.ci95[0])} – {pct(r.ci95[1])}", pct(r.analytic_power),
          level(r.mean_rates[control]), level(r.mean_rates[arm]),
          f"{100 * r.mean_difference:+.1f} pts" if binary else f"{r.mean_difference:+.3f}",
          f"{r.expected_screened:.0f}",
          *([pct(r.any_power), pct(r.any_power_unadjusted)] if multi else []))
         for i, r in enumerate(rows)]))
    if curve.note:
        body.append(f"<p class=\"note\">{esc(curve.note)}</p>")
    body.append(_provenance(d.get("protocol_digest"), d["seed"], run_dir))
    return page(f"{d['protocol']} — power", "".join(body))


def compare_report_html(comparison: Any, png: bytes, run_dir: Any,
                        digests: str | None = None) -> str:
    """Designs ranked by power on common virtual patients, with the chart."""
    c = comparison
    rows = [(r.rank, r.name, r.n, r.comparison, f"{pct(r.power)} ± {pct(r.power_se)}",
             f"{100 * r.paired_difference:+.1f} ± {100 * r.paired_se:.1f}",
             f"{pct(r.p_beats_reference)} / {pct(r.p_reference_beats)}", pct(r.p_selected),
             f"{100 * r.mean_effect:+.1f} pts", f"{r.screened_per_enrolled:.2f}",
             pct(r.fever), pct(r.injection_site_reaction),
             "–" if r.peak_treg is None else f"{r.peak_treg:.2f}×") for r in c.rows]
    body = [f"<h1>Design comparison: {esc(len(c.rows))} designs</h1>",
            f"<p class=\"lede\">{esc(c.replicates)} simulated trials per design on common "
            f"virtual patients (seed {esc(c.seed)}); reference {esc(c.reference)}.</p>",
            f"<h2>Ranked designs{scope(False, c.replicates)}</h2>",
            table(["rank", "design", "n", "comparison", "power", f"Δ power vs {c.reference}, "
                   "pts (paired SE)", "P(win / loss)", "P(selected)", "effect",
                   "screened per enrolled", "fever", "inj. site", "peak Treg"], rows),
            f"<p>Best design by mean effect: {esc(c.correct_selection['best'])}; P(correct "
            f"selection) {esc(pct(c.correct_selection['p_correct_selection']))}.</p>",
            img(png, "power per design", "Power per design with 95% Monte-Carlo interval; "
                "the reference in orange.")]
    for r in c.rows:
        ds = r.dose_selection
        if ds is not None:
            body.append(f"<h3>{esc(r.name)}: dose selection</h3>" + table(
                ["arm", "P(selected as best)"], [(a, pct(p)) for a, p in ds["p_selected"].items()])
                + f"<p class=\"note\">Minimum effective dose (difference ≥ "
                f"{esc(round(100 * ds['delta']))} pts): "
                f"{esc(ds['minimum_effective_dose'] or 'none')}.</p>")
    body.append(_provenance(digests, c.seed, run_dir))
    return page("trialsim — design comparison", "".join(body))


def calibrate_png(checks: list[Any]) -> bytes:
    """Forest-style plot: per numeric target, the published interval and value (open) and
    the simulated value (filled: green pass, red fail)."""
    plt = pyplot()
    num = [c for c in checks if not isinstance(c.published, str)
           and not isinstance(c.simulated, str)]
    fig, ax = plt.subplots(figsize=(8.5, 1.0 + 0.28 * max(1, len(num))), dpi=110)
    y = np.arange(len(num))[::-1]
    for yi, c in zip(y, num, strict=True):
        if c.interval:
            ax.hlines(yi, c.interval[0], c.interval[1], color="#7f7f7f", lw=2.5, alpha=0.6)
        ax.scatter([c.published], [yi], facecolor="white", edgecolor="black", zorder=3, s=28)
        ax.scatter([c.simulated], [yi], color="#2e7d32" if c.passed else "#c62828", zorder=4,
                   s=22, marker="D")
    ax.set_yticks(y, [c.id for c in num], fontsize=6)
    ax.set_xlabel("value (rates as fractions; medians in score points)")
    ax.set_title("Published (open circle, bar: accepted interval) vs simulated (diamond)",
                 fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return figure_png(fig)


def calibrate_report_html(checks: list[Any], replicates: int, png: bytes, run_dir: Any) -> str:
    passed = sum(1 for c in checks if c.passed)
    rows = [(c.id, c.what, c.published,
             f"{c.interval[0]:g} – {c.interval[1]:g}" if c.interval else "–", c.simulated,
             "–" if c.percentile is None else f"{c.percentile:.2f}",
             "pass" if c.passed else "FAIL") for c in checks]
    body = [f"<h1>Calibration: {passed} of {len(checks)} published targets reproduced</h1>",
            f"<p class=\"lede\">The default model against He 2020, BLISS, TULIP and published "
            f"placebo arms; {esc(replicates)} simulated trials per protocol.</p>",
            f"<h2>Published vs simulated{scope(False, replicates)}</h2>",
            img(png, "calibration forest plot", "Each numeric target: published value and "
                "accepted interval, simulated value (green pass, red fail)."),
            table(["target", "what", "published", "interval", "simulated",
                   "percentile of published", "result"], rows),
            _provenance(None, "protocols' own seeds", run_dir)]
    return page("trialsim — calibration", "".join(body))
