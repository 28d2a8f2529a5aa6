"""Table cells of an analysis, shared by the terminal and HTML reports.

Every function reads the JSON form of the results (``ArmSummary.to_dict()``,
``Comparison.to_dict()``, as in ``summary.json``), so a report rebuilt from a run folder
and the terminal tables of the run show the same text. An undefined number (``None``) shows
as "–".
"""

from __future__ import annotations

from typing import Any

DASH = "–"


def _pct(x: float | None, digits: int = 1) -> str:
    return DASH if x is None else f"{100 * x:.{digits}f}%"


def _num(x: float | None, fmt: str = "{:.2f}") -> str:
    return DASH if x is None else fmt.format(x)


def level(rec: dict[str, Any]) -> str:
    """``95%`` from a record's ``ci_level``."""
    return f"{100 * rec.get('ci_level', 0.95):g}%"


def arm_headers(kind: str, ci_level: str = "95%") -> list[str]:
    if kind == "binary":
        return ["arm", "n", "responders", "rate", f"{ci_level} CI (Wilson)"]
    if kind == "continuous":
        return ["arm", "n", "analysed", "mean (SD)", f"{ci_level} CI"]
    return ["arm", "n", "events", "patient-years", "events / patient-year",
            f"{ci_level} CI (exact)"]


def arm_cells(kind: str, a: dict[str, Any]) -> list[str]:
    lo, hi = a["ci"]
    if kind == "binary":
        ci = DASH if lo is None else f"{_pct(lo)} – {_pct(hi)}"
        return [a["name"], str(a["n"]), str(a["responders"]), _pct(a["rate"]), ci]
    if kind == "continuous":
        ci = DASH if lo is None else f"{lo:.2f} – {hi:.2f}"
        return [a["name"], str(a["n"]), str(a["analysed"]),
                f"{_num(a['mean'])} ({_num(a['sd'])})", ci]
    ci = DASH if lo is None else f"{lo:.3f} – {hi:.3f}"
    return [a["name"], str(a["n"]), str(a["events"]), _num(a["patient_years"], "{:.1f}"),
            _num(a["estimate"], "{:.3f}"), ci]


def estimate_cells(c: dict[str, Any], kind: str) -> list[str]:
    """``[estimate, interval]`` of a comparison: percentage points for a difference in
    rates, the value for other differences, the ratio for ratios."""
    lo, hi = c["ci"]
    est = c["estimate"]
    if c["scale"] == "ratio":
        return [_num(est), DASH if lo is None else f"{lo:.2f} – {hi:.2f}"]
    if kind == "binary":
        return [DASH if est is None else f"{100 * est:+.1f} pts",
                DASH if lo is None else f"{100 * lo:+.1f} – {100 * hi:+.1f}"]
    return [_num(est, "{:+.2f}"), DASH if lo is None else f"{lo:+.2f} – {hi:+.2f}"]


def p_cell(p: float | None) -> str:
    if p is None:
        return DASH
    return "<0.0001" if p < 1e-4 else f"{p:.4f}"


def decision_cell(sig: bool | None) -> str:
    return "descriptive" if sig is None else ("yes" if sig else "no")


def estimate_name(c: dict[str, Any], kind: str) -> str:
    """A short column title for a comparison's estimate."""
    if c["scale"] == "ratio":
        return "odds ratio" if "odds" in c["estimand"] else "hazard ratio"
    return "difference"


CI_METHOD = {"chisq": "Newcombe", "chisq-yates": "Newcombe", "fisher": "Newcombe",
             "cmh": "MH, Sato", "logistic": "Wald", "ancova": "t", "gee": "bias-reduced sandwich",
             "logrank": "Peto", "cox": "Wald"}


def comparison_headers(kind: str, comps: list[dict[str, Any]], adjusted: bool) -> list[str]:
    first = comps[0] if comps else {"scale": "difference", "estimand": "", "ci_level": 0.95}
    name = estimate_name(first, kind)
    how = CI_METHOD.get(first.get("test", ""))
    cols = ["comparison", name, f"{level(first)} CI" + (f" ({how})" if how else ""), "p-value"]
    if adjusted:
        cols.append(f"adjusted p ({first.get('multiplicity', 'none')})")
    cols.append("significant")
    if any(c.get("odds_ratio") is not None for c in comps):
        cols.append(f"MH odds ratio ({level(first)} CI)")
    return cols


def comparison_cells(c: dict[str, Any], kind: str, adjusted: bool,
                     with_or: bool = False) -> list[str]:
    row = [f"{c['arm']} vs {c['control']}", *estimate_cells(c, kind), p_cell(c["p_value"])]
    if adjusted:
        row.append(p_cell(c["p_adjusted"]))
    row.append(decision_cell(c["significant"]))
    if with_or:
        o, ci = c.get("odds_ratio"), c.get("odds_ratio_ci") or [None, None]
        row.append(DASH if o is None else f"{o:.2f} ({_num(ci[0])} – {_num(ci[1])})")
    return row


def multiplicity_note(summary_analysis: dict[str, Any], comps: list[dict[str, Any]]) -> str:
    """One sentence on how the comparisons' decisions were made."""
    k = len(comps)
    rule = summary_analysis.get("multiplicity", "none")
    alpha = summary_analysis.get("alpha", 0.05)
    if k <= 1:
        return "One comparison with control: no multiplicity adjustment is needed."
    if rule == "none":
        return (f"{k} comparisons with control, each tested at alpha {alpha:g} without "
                "adjustment: the family-wise error is not controlled.")
    names = {"bonferroni": "Bonferroni", "holm": "Holm (step-down)",
             "hochberg": "Hochberg (step-up)", "dunnett": "Dunnett (single-step, many-to-one)"}
    return (f"{k} comparisons with control; decisions use {names.get(rule, rule)}-adjusted "
            f"p-values against alpha {alpha:g}, controlling the family-wise error.")


def endpoint_summary_cell(kind: str, a: dict[str, Any]) -> str:
    """One arm of a descriptive endpoint summary (``summary.json`` ``endpoints``):
    responders/assessed (rate), mean (SD, n), or events per follow-up."""
    if kind == "binary":
        return DASH if a["rate"] is None else f"{a['responders']}/{a['n']} ({_pct(a['rate'])})"
    if kind == "continuous":
        if a["mean"] is None:
            return DASH
        return f"{a['mean']:.2f} (SD {_num(a['sd'])}, n {a['n']})"
    return f"{a['events']} events, {a['follow_up_days'] / 365.25:.1f} patient-years"
