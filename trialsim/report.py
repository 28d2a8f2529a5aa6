"""Terminal rendering of a run: cohort, arms, comparisons and operating characteristics."""

from __future__ import annotations

from typing import Any

import numpy as np
from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from trialsim.design import DesignResult
from trialsim.protocol import Protocol
from trialsim.reports import cells


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _table(title: str, columns: tuple[str, ...]) -> Table:
    """A table whose first column (the arm) is left-aligned and the rest right-aligned."""
    t = Table(title=escape(title))
    for i, col in enumerate(columns):
        t.add_column(escape(col), justify="left" if i == 0 else "right", no_wrap=i == 0)
    return t


def cohort_panel(summary: dict[str, Any]) -> Panel:
    c = summary["cohort"]
    fails = ", ".join(f"{k} {v}" for k, v in c["screen_failures"].items()) or "none"
    text = (f"screened {c['screened']}, enrolled {c['enrolled']} (screen failures: {fails})\n"
            f"female {_pct(c['female_fraction'])}, mean age {c['mean_age']:.1f} y, "
            f"baseline SLEDAI-2K mean {c['mean_sledai']:.1f} (median "
            f"{c['median_sledai']:g}), renal {_pct(c['renal_fraction'])}, "
            f"dropouts {c['dropouts']}, rescued {c.get('rescued', 0)}")
    return Panel(text, title="Cohort (replicate 0)", expand=False)


def arms_table(protocol: Protocol, result: DesignResult) -> Table:
    ep = protocol.endpoint
    first = result.first.analysis
    kind = first.primary.kind
    arms = [a.to_dict() for a in first.arms]
    t = _table(f"{ep.primary.upper()} at week {ep.week:g} by arm",
               tuple(cells.arm_headers(kind, cells.level(arms[0]))))
    pd_cols = result.oc is not None
    if pd_cols:
        t.add_column(f"mean {arms[0]['statistic']} over {result.oc.replicates} trials",
                     justify="right")
    for k, a in enumerate(arms):
        row = cells.arm_cells(kind, a)
        if pd_cols:
            oc = result.oc.arms[k]
            row.append(_mean_se(oc.mean_rate, oc.mean_rate_se, kind))
        t.add_row(*row)
    return t


def _mean_se(mean: float, se: float, kind: str) -> str:
    if not np.isfinite(mean):
        return cells.DASH
    if kind == "binary":
        return f"{_pct(mean)} ± {_pct(se) if np.isfinite(se) else cells.DASH}"
    return f"{mean:.3f} ± {se:.3f}" if np.isfinite(se) else f"{mean:.3f}"


def comparisons_table(protocol: Protocol, result: DesignResult) -> Table:
    a = protocol.analysis
    first = result.first.analysis
    kind = first.primary.kind
    comps = [c.to_dict() for c in first.comparisons]
    adjusted = len(comps) > 1 and a.multiplicity != "none"
    with_or = any(c.get("odds_ratio") is not None for c in comps)
    t = _table(f"Comparisons vs control ({first.primary.method}, {a.sided}-sided, "
               f"alpha {a.alpha:g})", tuple(cells.comparison_headers(kind, comps, adjusted)))
    if result.oc is not None:
        t.add_column(f"power over {result.oc.replicates} trials (± MC SE)", justify="right")
    for k, c in enumerate(comps):
        row = cells.comparison_cells(c, kind, adjusted, with_or)
        if result.oc is not None:
            oc = result.oc.comparisons[k]
            row.append(f"{_pct(oc.power)} ± {_pct(oc.power_se)}")
        t.add_row(*row)
    return t


def secondary_tables(protocol: Protocol, result: DesignResult) -> list[Table]:
    """One table per secondary endpoint of the trial shown: arms, then comparisons."""
    out = []
    analysis = result.first.analysis
    for e in analysis.endpoints[1:]:
        d = e.to_dict()
        arms = d["arms"]
        t = _table(f"{e.endpoint} ({e.role}, {e.method}) by arm",
                   tuple(cells.arm_headers(e.kind, cells.level(arms[0]))))
        for a in arms:
            t.add_row(*cells.arm_cells(e.kind, a))
        out.append(t)
        comps = d["comparisons"]
        adjusted = e.role == "secondary"
        with_or = any(c.get("odds_ratio") is not None for c in comps)
        c_t = _table(f"{e.endpoint}: comparisons vs control",
                     tuple(cells.comparison_headers(e.kind, comps, adjusted)))
        for c in comps:
            c_t.add_row(*cells.comparison_cells(c, e.kind, adjusted, with_or))
        out.append(c_t)
    return out


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


def endpoints_table(summary: dict[str, Any]) -> Table:
    """Every endpoint of the trial shown, per arm (descriptive: responders/assessed, mean
    (SD), events/follow-up), from the summary document's ``endpoints``."""
    eps = summary.get("endpoints") or []
    arms = [a["name"] for a in eps[0]["arms"]] if eps else []
    t = _table("Endpoints (replicate 0)", ("endpoint", "when", *arms))
    for e in eps:
        when = (f"week {e['week']:g}, {e['missing_rule']}" if "week" in e
                else "whole follow-up")
        label = e["label"] + (" (primary)" if e.get("primary") else "")
        t.add_row(label, when, *(cells.endpoint_summary_cell(e["kind"], a) for a in e["arms"]))
    return t


def render_run(console: Console, protocol: Protocol, result: DesignResult,
               summary: dict[str, Any]) -> None:
    """Print the whole run to ``console``."""
    parts: list[Any] = [cohort_panel(summary), arms_table(protocol, result),
                        comparisons_table(protocol, result)]
    if len(summary.get("endpoints") or []) > 1:
        parts.append(endpoints_table(summary))
    comps = summary.get("comparisons", [])
    if len(comps) > 1:
        parts.append(Text(cells.multiplicity_note(summary.get("analysis", {}), comps)))
    parts += secondary_tables(protocol, result)
    for w in summary.get("warnings", []):
        parts.append(Text(f"warning (replicate 0): {w}", style="yellow"))
    if result.first.detail is not None:   # the fixed-rates model has no immunology
        parts.append(immunology_table(protocol, result))
    if protocol.interim is not None and result.oc is not None:
        parts.append(Text("Interim looks are not applied by `run` (it analyses every trial "
                          "at full size): `trialsim power` simulates the group-sequential "
                          "design.", style="yellow"))
    fam = (summary.get("operating_characteristics") or {}).get("family")
    if fam:
        parts.append(Text(
            f"some comparison significant ({protocol.analysis.multiplicity}): "
            f"{_pct(fam['any_significant'])} ± {_pct(fam['any_significant_se'])}; without "
            f"adjustment: {_pct(fam['any_significant_unadjusted'])} ± "
            f"{_pct(fam['any_significant_unadjusted_se'])} (the family-wise error rate when "
            "no arm works)"))
    if result.oc is not None:
        line = (f"power ({result.uncertainty}): {_pct(summary['power'])} ± "
                f"{_pct(summary['power_se'])}")
        if result.oc_conditional is not None:
            line += (f"; conditional (typical placebo response): "
                     f"{_pct(summary['power_conditional'])} ± "
                     f"{_pct(summary['power_conditional_se'])}")
        parts.append(Text(line))
    console.print(Group(*parts))
    if summary.get("run_dir"):
        console.print(Text(f"written to {summary['run_dir']}", style="dim"))


def power_renderable(curve: Any) -> Group:
    """A :class:`~trialsim.design.sizes.PowerCurve` as terminal tables."""
    p = curve.protocol
    arm, control = curve.to_dict()["comparison"].split(" vs ")
    a = p.analysis
    title = (f"Power of {arm} vs {control}: {p.endpoint.primary.upper()} at week "
             f"{p.endpoint.week:g}, {curve.method}, {a.sided}-sided alpha {a.alpha:g}, "
             f"{curve.replicates} simulated trials per size ({p.outcome.model} model)")
    stat = "rate" if curve.kind == "binary" else "mean"
    cols = ["n", "per arm", "power", "95% MC interval", "analytic", f"{stat} {control}",
            f"{stat} {arm}", "difference", "screened"]
    multi = len(p.arms) > 2
    if multi:
        cols += [f"any arm ({a.multiplicity})", "all arms"]
    if p.interim is not None:
        cols += ["E[n] enrolled", "stop early (eff/fut)"]
    t = _table(title, tuple(cols))
    rows = list(curve.rows) + ([curve.confirm] if curve.confirm is not None else [])
    binary = curve.kind == "binary"

    def level(x: float) -> str:
        return _pct(x) if binary else f"{x:.3f}"

    for i, r in enumerate(rows):
        label = f"{r.n}" if i < len(curve.rows) else f"{r.n} (confirm)"
        row = [label, "/".join(str(x) for x in r.n_per_arm),
               f"{_pct(r.power)} ± {_pct(r.power_se)}", f"{_pct(r.ci95[0])} – {_pct(r.ci95[1])}",
               cells.DASH if r.analytic_power is None else _pct(r.analytic_power),
               level(r.mean_rates[control]), level(r.mean_rates[arm]),
               f"{100 * r.mean_difference:+.1f} pts" if binary else f"{r.mean_difference:+.3f}",
               f"{r.expected_screened:.0f}"]
        if multi:
            row += [_pct(r.any_power), _pct(r.all_power)]
        if r.sequential is not None:
            sq = r.sequential
            row += [f"{sq['expected_n_enrolled']:.1f}",
                    f"{_pct(sum(sq['stop_efficacy'][:-1]))} / {_pct(sum(sq['stop_futility']))}"]
        t.add_row(*row)
    parts: list[Any] = [t]
    if multi:
        c = _table(f"Power per comparison ({a.multiplicity}; unadjusted in brackets)",
                   ("n", *(f"{x['arm']} vs {x['control']}" for x in curve.rows[0].comparisons),
                    "any arm, unadjusted"))
        for r in curve.rows:
            c.add_row(str(r.n), *(f"{_pct(x['power'])} ± {_pct(x['power_se'])} "
                                  f"({_pct(x['power_unadjusted'])})" for x in r.comparisons),
                      _pct(r.any_power_unadjusted))
        parts.append(c)
    if curve.bounds is not None:
        b = curve.bounds
        g = _table(f"Efficacy bounds ({b['spending']}, alpha {b['alpha']:g}, {b['sided']}-sided)",
                   ("look", "information", "z bound", "cumulative alpha"))
        for j, t_j in enumerate(b["information"]):
            z = b["efficacy"][j]
            g.add_row(str(j + 1), f"{t_j:g}", "∞" if z is None else f"{z:.4f}",
                      f"{b['alpha_spent'][j]:.5f}")
        parts.append(g)
    if curve.required_n is not None:
        ci = (f" (95% bootstrap interval {curve.required_n_ci95[0]}–"
              f"{curve.required_n_ci95[1]})" if curve.required_n_ci95 else "")
        msg = (f"smallest n for {_pct(curve.target)} power by the fitted probit curve: "
               f"[bold]{curve.required_n}[/bold]{ci}")
        if curve.confirm is not None:
            msg += (f"; confirmed: {_pct(curve.confirm.power)} ± "
                    f"{_pct(curve.confirm.power_se)}")
        parts.append(Text.from_markup(msg))
    if curve.rows and curve.rows[0].power_conditional is not None:
        parts.append(Text(f"power above is {curve.uncertainty} (assurance over the "
                          "between-trial placebo response); conditional (typical placebo "
                          "response): " + ", ".join(
                              f"n={r.n} {_pct(r.power_conditional)}" for r in curve.rows)
                          + (f"; smallest n for the target: {curve.required_n_conditional}"
                             if curve.required_n_conditional else "")))
    if curve.note:
        parts.append(Text(curve.note))
    return Group(*parts)


def compare_renderable(comparison: Any) -> Group:
    """A :class:`~trialsim.design.compare.DesignComparison` as ranked terminal tables."""
    c = comparison
    comparisons = {r.comparison for r in c.rows}
    same = len(comparisons) == 1
    t = _table(f"Designs ranked by power: {c.replicates} simulated trials each on common "
               f"virtual patients (seed {c.seed})"
               + (f", {next(iter(comparisons))}" if same else ""),
               ("rank", "design", "n", *(() if same else ("comparison",)), "power",
                f"Δ power vs {c.reference}, pts (paired SE)", "unpaired SE", "P(win / loss)",
                "P(selected)", "effect", "screened per enrolled", "fever", "inj. site",
                "peak Treg"))
    t.columns[1].no_wrap = True

    def opt(v: float | None, f: Any) -> str:
        return "–" if v is None else f(v)

    for r in c.rows:
        t.add_row(str(r.rank), r.name, str(r.n), *(() if same else (r.comparison,)),
                  f"{_pct(r.power)} ± {_pct(r.power_se)}",
                  f"{100 * r.paired_difference:+.1f} ± {100 * r.paired_se:.1f}",
                  f"{100 * r.unpaired_se:.1f}",
                  f"{_pct(r.p_beats_reference)} / {_pct(r.p_reference_beats)}",
                  _pct(r.p_selected), f"{100 * r.mean_effect:+.1f} pts",
                  f"{r.screened_per_enrolled:.2f}", opt(r.fever, _pct),
                  opt(r.injection_site_reaction, _pct),
                  opt(r.peak_treg, lambda v: f"{v:.2f}×"))
    parts: list[Any] = [t, Text(
        f"best design by mean effect: {c.correct_selection['best']}; "
        f"P(correct selection) {_pct(c.correct_selection['p_correct_selection'])}")]
    for r in c.rows:
        ds = r.dose_selection
        if ds is None:
            continue
        d = _table(f"{r.name}: dose selection (best arm {ds['best']}; minimum effective dose, "
                   f"difference ≥ {100 * ds['delta']:.0f} pts: "
                   f"{ds['minimum_effective_dose'] or 'none'})",
                   ("arm", "P(selected as best)"))
        for arm, p in ds["p_selected"].items():
            d.add_row(arm, _pct(p))
        parts.append(d)
        parts.append(Text(f"P(correct selection) {_pct(ds['p_correct_selection'])}, "
                          f"P(minimum effective dose identified) {_pct(ds['p_med_identified'])}"))
    return Group(*parts)
