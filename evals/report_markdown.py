"""report.md: the metric tables, failure reasons, model files and one row per case, in Markdown."""

from __future__ import annotations

from pathlib import Path

from evals.report import METRIC_NAMES, Report, headline, metric_cell, refusal_cell


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def report_markdown(report: Report) -> str:
    m = report.metrics
    lines = [
        f"# Eval report: {Path(report.run.set_path).name}",
        "",
        f"**{headline(m)}**",
        "",
        f"Strategy `{report.run.strategy}`, {m.cases} cases"
        + (f", live ComfyUI {report.run.comfyui_url}" if report.run.comfyui_url else ", offline (no ComfyUI)")
        + f", {report.run.started_at} to {report.run.finished_at}"
        + (f", {report.run.resumed} cases resumed from an earlier run" if report.run.resumed else "")
        + ".",
        "",
        "## Metrics",
        "",
        "| metric | value |",
        "|---|---|",
    ]
    lines += [f"| {name} | {metric_cell(m, name)} |" for name in METRIC_NAMES]
    if m.executed_rate is not None:
        lines.append(f"| executed_cases (base of executed_rate) | {m.executed_cases} |")
    if m.operation_rate is not None:
        lines.append(f"| operation_cases (base of operation_rate) | {m.operation_cases} |")
    if m.refusal_cases:
        lines.append(f"| refusal_cases (base of refusal_accuracy) | {m.refusal_cases} |")
        lines.append(f"| refusals_met | {m.refusals_met} |")
        lines.append(f"| graph_cases (base of the graph metrics) | {m.graph_cases} |")
    lines += ["", "## By task", ""]
    cols = ["cases", *METRIC_NAMES]
    lines.append("| task | " + " | ".join(cols) + " |")
    lines.append("|---" * (len(cols) + 1) + "|")
    for task, tm in report.by_task.items():
        lines.append(f"| {task} | " + " | ".join(metric_cell(tm, c) for c in cols) + " |")
    lines += ["", "## Failure reasons", ""]
    if report.failure_reasons:
        lines += ["| reason | cases | examples |", "|---|---|---|"]
        for fr in report.failure_reasons:
            examples = ", ".join(fr.cases[:5]) + (" ..." if len(fr.cases) > 5 else "")
            lines.append(f"| `{_md_escape(fr.reason)}` | {fr.count} | {examples} |")
    else:
        lines.append("None: every case passed with every check met.")
    if report.model_files:
        lines += [
            "",
            "## Model files the graphs name",
            "",
            "A live backend needs these (to score `live_pass_rate`, empty placeholders suffice).",
            "",
            "| folder | files |",
            "|---|---|",
        ]
        lines += [f"| {folder} | {', '.join(names)} |" for folder, names in report.model_files.items()]
    lines += [
        "",
        "## Cases",
        "",
        "| id | task | valid | pass | live | executed | refusal | alignment | latency | failures |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]

    def yn(v: bool | None) -> str:
        return "-" if v is None else ("yes" if v else "no")

    for r in report.cases:
        graph_case = not r.expects_refusal
        lines.append(
            f"| {r.id} | {r.task} | {yn(r.format_valid if graph_case else None)} | "
            f"{yn(r.passed if graph_case else None)} | {yn(r.live_passed)} | {yn(r.executed)} | "
            f"{_md_escape(refusal_cell(r))} | {f'{r.alignment * 100:.0f}%' if graph_case else '-'} | "
            f"{r.latency_ms:.1f} ms | {_md_escape(', '.join(r.failure_reasons)) or '-'} |"
        )
    return "\n".join(lines) + "\n"
