"""``report.html`` of a ``run`` folder, built from the folder's own files.

The report reads ``summary.json``, ``protocol.toml``, ``patients.csv``, ``visits.csv`` and
(with replicates) ``replicates.csv``, so ``trialsim report RUN_DIR`` rebuilds exactly what
``trialsim run`` wrote. Sections: protocol in plain words, provenance, CONSORT-style flow,
baseline table, primary and secondary endpoints (with multiplicity), figures, and the
operating characteristics over replicates; each is labelled as one trial or as averaged over
the replicates.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trialsim.protocol import Protocol
from trialsim.reports import cells
from trialsim.reports import run_figures as figs
from trialsim.reports.html import esc, img, kv, page, pct, scope, table
from trialsim.reports.tables import is_sampled, read_table


def describe_regimen(regimen: Any) -> str:
    """A regimen in words, e.g. '1 MIU s.c. every 2 days for 14 days, then 14 days off,
    3 cycles'."""
    if regimen is None:
        return "placebo (standard of care only)"
    route = "i.v." if regimen.route == "iv" else "s.c."
    text = f"{regimen.dose_miu:g} MIU {route} every {regimen.every_days:g} days"
    if regimen.on_days is not None:
        text += f" for {regimen.on_days:g} days"
        if regimen.off_days:
            text += f", then {regimen.off_days:g} days off"
        text += f", {regimen.cycles} cycles" if regimen.cycles else ", repeated"
    if regimen.start_day:
        text += f", from day {regimen.start_day:g}"
    if regimen.induction is not None:
        ind = regimen.induction
        text = (f"induction {ind.dose_miu:g} MIU every {ind.every_days:g} days for "
                f"{ind.days:g} days, then " + text)
    return text


def protocol_in_words(p: Protocol) -> list[str]:
    pop = p.population
    a = p.analysis
    control = p.control_arm.name
    arms = "; ".join(f"{arm.name} (ratio {arm.ratio}): {describe_regimen(arm.regimen)}"
                     for arm in p.arms)
    strata = ", ".join(p.randomization.stratify_by) or "none"
    lines = [
        f"{pop.n} patients with SLE aged {pop.age.min:g}–{pop.age.max:g}, SLEDAI-2K ≥ "
        f"{pop.min_sledai}" + (f", PGA ≥ {pop.min_pga:g}" if pop.min_pga else "")
        + (", positive serology" if pop.require_serology else "")
        + f", {pct(pop.female_fraction, 0)} women.",
        f"Arms: {arms}. Control: {control}.",
        f"Randomisation: permuted blocks stratified by {strata}.",
        "Visits at weeks " + ", ".join(f"{w:g}" for w in p.visits.weeks) + ".",
        f"Primary endpoint: {p.endpoint.primary.upper()} response at week {p.endpoint.week:g};"
        f" missing data: {a.missing} ({pct(a.dropout_per_year, 0)} dropout per year, "
        f"{p.conduct.dropout.upper()})"
        + (f"; rescue therapy at a SLEDAI-2K rise ≥ {p.conduct.rescue_sledai_increase} is "
           "treatment failure" if p.conduct.rescue_sledai_increase else "") + ".",
        "Secondary endpoints: " + (", ".join(p.endpoint.secondary) or "none")
        + (f" (continuous: {a.missing_continuous})" if p.endpoint.secondary else "") + ".",
        f"Analysis: {a.test} for binary, {a.continuous} for continuous and "
        f"{a.time_to_event} for time-to-event endpoints, {a.sided}-sided alpha {a.alpha:g} "
        f"({100 * (1 - a.alpha * (3 - a.sided)):g}% confidence intervals); each active arm "
        f"versus {control}"
        + (f", multiplicity: {a.multiplicity}" if len(p.arms) > 2 else "")
        + (f"; then, in fixed sequence: {', '.join(a.sequence)}" if a.sequence else "") + ".",
        f"Outcome model: {p.outcome.model}"
        + (" with between-trial placebo response" if p.model.between_trial
           and p.outcome.model == "mechanistic" else "") + ".",
    ]
    if p.interim is not None:
        lines.append("Interim looks at information " + ", ".join(
            f"{x:g}" for x in p.interim.looks) + f" ({p.interim.spending} spending); `run` "
            "analyses every trial at full size.")
    return lines


def _provenance(summary: dict[str, Any], run_dir: Path) -> str:
    pv = summary.get("provenance") or {}
    m = pv.get("machine") or {}
    return kv([
        ("trialsim version", pv.get("trialsim_version", "unknown")),
        ("git commit", pv.get("git_commit") or "not a git checkout"),
        ("protocol file", summary.get("protocol_file") or "–"),
        ("protocol digest", summary.get("protocol_digest", "–")),
        ("seed", f"{summary.get('seed')} (entropy {summary.get('seed_entropy')})"),
        ("replicates", summary.get("replicates")),
        ("started (UTC)", pv.get("started_utc", "–")),
        ("run time", f"{pv['run_seconds']:.1f} s" if "run_seconds" in pv else "–"),
        ("machine", f"{m.get('host', '?')} — {m.get('platform', '?')}, Python "
                    f"{m.get('python', '?')}, {m.get('cpus', '?')} CPUs" if m else "–"),
        ("run folder", summary.get("run_dir") or str(run_dir)),
    ])


def _flow(summary: dict[str, Any], patients: pd.DataFrame, arms: list[str],
          p: Protocol) -> str:
    c = summary["cohort"]
    fails = c["screen_failures"]
    excluded = "<br>".join(f"{esc(k)}: {esc(v)}" for k, v in fails.items()) or "none"
    boxes = []
    for arm in arms:
        g = patients[patients["arm"] == arm]
        dropped = int(g["dropout"].astype(bool).sum())
        boxes.append(
            f'<div class="box"><b>{esc(arm)}</b><br>randomised {len(g)}<br>'
            f"completed {len(g) - dropped}<br>dropped out {dropped}</div>")
    return (
        '<div class="flow">'
        f'<div class="box">screened {esc(c["screened"])}</div><div class="arrow">↓</div>'
        f'<div class="row"><div class="box side">not enrolled '
        f'{esc(c["screened"] - c["enrolled"])}<br>{excluded}</div></div>'
        f'<div class="arrow">↓</div><div class="box">randomised {esc(c["enrolled"])}</div>'
        f'<div class="arrow">↓</div><div class="row">{"".join(boxes)}</div></div>'
        '<p class="note">Screen failures are counted by the first criterion a candidate '
        f"failed. Dropout: {esc(_dropout_words(p))}; rescued (treatment failures): "
        f"{esc(c.get('rescued', 0))}. Visits after dropout are not recorded.</p>")


def _dropout_words(p: Protocol) -> str:
    c = p.conduct
    text = (f"{pct(p.analysis.dropout_per_year, 0)} per year, "
            + {"mcar": "completely at random", "mar": "depending on the last recorded "
               "SLEDAI-2K", "mnar": "depending on unrecorded current activity"}[c.dropout])
    if c.dropout_activity:
        text += f" (log hazard ratio {c.dropout_activity:g} per unit of relative activity)"
    if c.dropout_after_adverse_event != 1.0:
        text += f", × {c.dropout_after_adverse_event:g} after an adverse event"
    ratios = ", ".join(f"{k} × {v:g}" for k, v in c.dropout_ratio)
    return text + (f", by arm {ratios}" if ratios else "")


def _mean_sd(x: pd.Series, digits: int = 1) -> str:
    return f"{x.mean():.{digits}f} ({x.std(ddof=1):.{digits}f})" if len(x) else "–"


def _median_iqr(x: pd.Series, digits: int = 1) -> str:
    if not len(x):
        return "–"
    q = x.quantile([0.25, 0.5, 0.75])
    return f"{q[0.5]:.{digits}f} ({q[0.25]:.{digits}f}–{q[0.75]:.{digits}f})"


def _baseline(patients: pd.DataFrame, arms: list[str]) -> str:
    groups = [patients[patients["arm"] == a] for a in arms] + [patients]
    rows = [
        ("n", *(len(g) for g in groups)),
        ("female, %", *(pct((g["sex"] == "F").mean()) for g in groups)),
        ("age, mean (SD)", *(_mean_sd(g["age"]) for g in groups)),
        ("SLEDAI-2K, mean (SD)", *(_mean_sd(g["sledai_baseline"]) for g in groups)),
        ("SLEDAI-2K ≥ 10, %", *(pct((g["sledai_baseline"] >= 10).mean()) for g in groups)),
        ("PGA, mean (SD)", *(_mean_sd(g["pga_baseline"], 2) for g in groups)),
        ("anti-dsDNA IU/mL, median (IQR)", *(_median_iqr(g["anti_dsdna_baseline"])
                                            for g in groups)),
        ("C3 g/L, mean (SD)", *(_mean_sd(g["c3_baseline"], 2) for g in groups)),
        ("renal involvement, %", *(pct(g["renal"].astype(bool).mean()) for g in groups)),
    ]
    for anc in sorted(patients["ancestry"].dropna().unique()):
        rows.append((f"ancestry {anc}, %", *(pct((g["ancestry"] == anc).mean())
                                             for g in groups)))
    return table(["characteristic", *arms, "all"], rows)


def _endpoint_tables(kind: str, arms: list[dict[str, Any]], comps: list[dict[str, Any]],
                     adjusted: bool) -> str:
    with_or = any(c.get("odds_ratio") is not None for c in comps)
    level = cells.level(arms[0]) if arms else "95%"
    return (table(cells.arm_headers(kind, level), [cells.arm_cells(kind, a) for a in arms])
            + table(cells.comparison_headers(kind, comps, adjusted),
                    [cells.comparison_cells(c, kind, adjusted, with_or) for c in comps]))


def _warnings(summary: dict[str, Any]) -> str:
    w = summary.get("warnings") or []
    if not w:
        return ""
    return ('<p class="note"><b>Undefined results</b> (shown as –): '
            + esc("; ".join(w)) + ".</p>")


def _primary(summary: dict[str, Any]) -> str:
    ep = summary["endpoint"]
    comps = summary["comparisons"]
    kind = (summary.get("primary") or {}).get("kind", "binary")
    a = summary.get("analysis", {})
    adjusted = len(comps) > 1
    estimand = comps[0]["estimand"] if comps else ""
    wk = f"{ep['week']:g}"
    return (f"<h3>{esc(ep['primary'].upper())} at week {esc(wk)}, primary"
            f"{scope(True)}</h3>"
            + (f'<p class="note">Estimand: {esc(estimand)}.</p>' if estimand else "")
            + _endpoint_tables(kind, summary["arms"], comps, adjusted)
            + f'<p class="note">{esc(cells.multiplicity_note(a, comps))}</p>'
            + _warnings(summary))


def _analysed_secondary(summary: dict[str, Any]) -> str:
    """Secondary endpoints analysed by the protocol's methods: those in the fixed sequence
    with decisions, the others descriptive."""
    sec = summary.get("secondary") or []
    if not sec:
        return ""
    seq = (summary.get("analysis") or {}).get("sequence") or []
    parts = []
    for e in sec:
        comps = e["comparisons"]
        est = comps[0]["estimand"] if comps else ""
        parts.append(f"<h3>{esc(e['endpoint'])} ({esc(e['role'])}, {esc(e['method'])})"
                     f"{scope(True)}</h3>"
                     + (f'<p class="note">Estimand: {esc(est)}.</p>' if est else "")
                     + _endpoint_tables(e["kind"], e["arms"], comps, e["role"] == "secondary"))
    note = ("Secondary endpoints in the fixed sequence (" + ", ".join(seq) + ") are tested "
            "in that order after the primary, each only if every earlier hypothesis was "
            "rejected; their adjusted p-values carry the sequence. Others are descriptive."
            if seq else "No fixed sequence: secondary endpoints are descriptive.")
    return "".join(parts) + f'<p class="note">{esc(note)}</p>'


def _secondary(summary: dict[str, Any], patients: pd.DataFrame, arms: list[str]) -> str:
    parts = []
    eps = [e for e in summary.get("endpoints") or [] if not e.get("primary")]
    if eps:
        rows = [(e["label"], e["kind"],
                 f"week {e['week']:g}, {e['missing_rule']}" if "week" in e else
                 "whole follow-up", *(cells.endpoint_summary_cell(e["kind"], a) for a in e["arms"]))
                for e in eps]
        parts.append(f"<h3>Secondary endpoints{scope(True)}</h3>"
                     + table(["endpoint", "kind", "when, missing data", *arms], rows))
    ae = [c for c in ("injection_site_reaction", "fever", "flu_like") if c in patients.columns]
    if ae:
        rows = [(c.replace("_", " "), *(pct(patients.loc[patients["arm"] == a, c].astype(bool)
                                           .mean()) for a in arms)) for c in ae]
        parts.append(f"<h3>Adverse events, share of patients{scope(True)}</h3>"
                     + table(["event", *arms], rows))
    parts.append('<p class="note">Secondary endpoints are descriptive: responders/assessed, '
                 "mean (SD) or events per follow-up; no tests and no adjustment for "
                 "multiplicity.</p>")
    return "".join(parts)


def _replicates(summary: dict[str, Any], reps: pd.DataFrame | None) -> str:
    oc = summary.get("operating_characteristics")
    if not oc:
        return ""
    r = oc["replicates"]
    kind = (summary.get("primary") or {}).get("kind", "binary")
    binary = kind == "binary"

    def mean(v: float | None, digits: int = 3) -> str:
        if v is None:
            return "–"
        return pct(v) if binary else f"{v:.{digits}f}"

    arms = table(["arm", f"mean {oc['arms'][0].get('statistic', 'rate')}", "MC SE"],
                 [(a["name"], mean(a.get("mean_estimate", a.get("mean_rate"))),
                   pct(a.get("mean_estimate_se"), 2) if binary
                   else mean(a.get("mean_estimate_se"), 4)) for a in oc["arms"]])
    cond = {c["arm"]: c for c in
            (summary.get("operating_characteristics_conditional") or {}).get("comparisons", [])}
    comps = oc["comparisons"]

    def effect(c: dict[str, Any]) -> str:
        d = c["mean_difference"]
        if d is None:
            return "–"
        return f"{100 * d:+.1f} pts" if binary and c.get("scale") == "difference" else (
            f"{d:+.3f}" if c.get("scale") == "difference" else f"{d:.3f}")

    rows = [(f"{c['arm']} vs {c['control']}", f"{pct(c['power'])} ± {pct(c['power_se'])}",
             pct(c.get("power_unadjusted")),
             f"{pct(cond[c['arm']]['power'])}" if c["arm"] in cond else "–", effect(c))
            for c in comps]
    out = (f"<h2>Over {esc(r)} simulated trials{scope(False, r)}</h2>"
           f"<p>Power is {esc(summary.get('uncertainty', 'conditional'))} "
           "(± Monte-Carlo SE); decisions follow the multiplicity rule "
           f"({esc(oc.get('multiplicity', 'none'))}).</p>" + arms
           + table(["comparison", "power", "unadjusted (p < alpha)", "conditional power",
                    "mean estimate"], rows))
    fam = oc.get("family")
    if fam:
        out += (f"<p><b>Some comparison significant</b> ({esc(oc.get('multiplicity'))}): "
                f"{esc(pct(fam['any_significant']))} ± {esc(pct(fam['any_significant_se']))}; "
                f"<b>without adjustment</b>: {esc(pct(fam['any_significant_unadjusted']))} ± "
                f"{esc(pct(fam['any_significant_unadjusted_se']))}. When no arm works these "
                "are the family-wise error rates with and without the adjustment.</p>")
    for sec in oc.get("secondary", []):
        out += (f"<h3>{esc(sec['endpoint'])} (fixed sequence)</h3>" + table(
            ["comparison", "power", "unadjusted (p < alpha)"],
            [(f"{c['arm']} vs {c['control']}", f"{pct(c['power'])} ± {pct(c['power_se'])}",
              pct(c.get("power_unadjusted"))) for c in sec["comparisons"]]))
    if reps is not None and len(reps):
        first = {f"{c['arm']} vs {c['control']}": c["estimate"]
                 for c in summary["comparisons"]}
        scale = comps[0].get("scale", "difference") if comps else "difference"
        label = ("estimated difference in response" if binary and scale == "difference"
                 else "estimated " + (comps[0].get("scale", "difference") if comps else ""))
        out += img(figs.effects_png(reps, first, binary and scale == "difference", label),
                   "distribution of the estimated effect",
                   f"Estimated effect in each of {r} simulated trials; dashed: the trial "
                   "shown (replicate 0).")
    return out


VISIT_COLUMNS = ["id", "arm", "week", "sledai", "anti_dsdna", "treg", "tfh", "th17"]


def run_report_html(run_dir: Path) -> str:
    """The report of the run folder ``run_dir`` as one self-contained HTML document."""
    from trialsim.protocol import load_protocol

    run_dir = Path(run_dir)
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    p = load_protocol(run_dir / "protocol.toml")
    patients = read_table(run_dir, "patients")
    # a large trial's time course from its first patient chunk (20,000 patients): the
    # quartile bands are the same to the pixel and memory stays bounded
    visits = read_table(run_dir, "visits", VISIT_COLUMNS, first_groups=1)
    sampled = is_sampled(run_dir, "visits", 1)
    reps = (pd.read_csv(run_dir / "replicates.csv")
            if (run_dir / "replicates.csv").is_file() else None)
    arms = [a["name"] for a in summary["arms"]]
    week = float(summary["endpoint"]["week"])
    name = summary.get("protocol", p.trial.name)

    body = [f"<h1>{esc(name)}</h1><p class=\"lede\">Virtual trial report — "
            f"{esc(summary['endpoint']['primary'].upper())} at week {esc(f'{week:g}')}; "
            f"{esc(summary.get('replicates', 1))} simulated trial(s).</p>",
            "<h2>Protocol</h2><ul class=\"plain\">"
            + "".join(f"<li>{esc(line)}</li>" for line in protocol_in_words(p)) + "</ul>",
            "<h2>Provenance</h2>" + _provenance(summary, run_dir),
            f"<h2>Participant flow{scope(True)}</h2>"
            + _flow(summary, patients, arms, p),
            f"<h2>Baseline characteristics{scope(True)}</h2>" + _baseline(patients, arms),
            "<h2>Endpoints</h2>" + _primary(summary) + _analysed_secondary(summary)
            + _secondary(summary, patients, arms),
            f"<h2>Figures{scope(True)}</h2>",
            img(figs.response_png(summary), "primary endpoint per arm",
                "Primary endpoint per arm with its confidence interval (one trial)"
                + ("; diamonds: mean over the replicates." if summary.get(
                    "operating_characteristics") else "."))]
    if visits is not None:
        body.append(img(figs.time_course_png(visits, arms), "immune markers over time",
                        "Median and interquartile band by arm, observed patients (one "
                        "trial" + ("; its first 20,000 patients" if sampled else "")
                        + ")."))
        body.append(img(figs.il2_png(p), "IL-2 concentration",
                        "Plasma IL-2 of a typical patient (population PK parameters) per "
                        "arm."))
    body.append(_replicates(summary, reps))
    return page(f"{name} — trialsim report", "".join(body))


def write_run_report(run_dir: Path, into: Path | None = None) -> Path:
    """Write ``report.html`` for ``run_dir`` (into ``into`` when given) and return its path."""
    path = Path(into or run_dir) / "report.html"
    path.write_text(run_report_html(run_dir), encoding="utf-8")
    return path


class ReplicateEffects:
    """A ``keep`` callback for :func:`~trialsim.design.run_design` that records, per replicate
    and comparison of the primary endpoint, the estimate (``difference`` repeats it), the raw
    and adjusted p-values and the decision (not the patients)."""

    COLUMNS = ("replicate", "comparison", "estimate", "difference", "p_value", "p_adjusted",
               "significant")

    def __init__(self) -> None:
        self.rows: list[tuple[Any, ...]] = []

    def __call__(self, res: Any) -> None:
        self.rows.extend((res.replicate, f"{c.arm} vs {c.control}", c.estimate, c.estimate,
                          c.p_value, c.p_adjusted, bool(c.significant))
                         for c in res.analysis.comparisons)

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=list(self.COLUMNS)).astype(
            {"replicate": np.int64, "significant": bool})
