"""Reports: self-contained HTML pages for run, power, compare and calibrate folders."""

from trialsim.reports.run import ReplicateEffects, run_report_html, write_run_report

__all__ = ["ReplicateEffects", "run_report_html", "write_run_report"]
