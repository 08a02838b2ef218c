"""The report files of a run folder: report.json, report.md and report.html."""

from __future__ import annotations

from pathlib import Path

from evals.errors import RunDirError
from evals.report import Report, report_json
from evals.report_html import report_html
from evals.report_markdown import report_markdown


def write_reports(report: Report, out_dir: Path) -> None:
    try:
        (out_dir / "report.json").write_text(report_json(report), encoding="utf-8")
        (out_dir / "report.md").write_text(report_markdown(report), encoding="utf-8")
        (out_dir / "report.html").write_text(report_html(report), encoding="utf-8")
    except OSError as exc:
        raise RunDirError(f"cannot write reports to {out_dir}: {exc}") from exc
