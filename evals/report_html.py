"""report.html: one self-contained page (inline CSS and SVG, no script, no CDN) with the metric tables and
three charts: scores by task, the latency histogram and the failure reasons."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from evals.metrics import CaseResult
from evals.report import (
    HEADLINE_NAMES,
    METRIC_NAMES,
    Report,
    headline,
    metric_cell,
    metric_value,
    refusal_cell,
    refusal_counts,
)

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem;color:#1d2433;max-width:1200px}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #dde3ee;padding-bottom:.3rem}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}
th,td{border:1px solid #dde3ee;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f6fb}td.num{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#1a7f37}.bad{color:#b42318}.muted{color:#667085}
svg text{font-family:system-ui,sans-serif;font-size:11px;fill:#1d2433}

.cards{display:flex;flex-wrap:wrap;gap:.75rem}
.card{border:1px solid #dde3ee;border-radius:6px;padding:.5rem .8rem}
.card b{display:block;font-size:1.2rem}
.card.headline{border-color:#3b6fd8;border-width:2px}.card.headline b{font-size:1.8rem}
"""
_COLORS = ("#3b6fd8", "#1a9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e")
_SCORES = (
    "pass_rate",
    "executed_rate",
    "format_validity",
    "alignment",
    "aligned_pass_rate",
    "operation_rate",
    "live_pass_rate",
    "refusal_accuracy",
)


def _grouped_bars(groups: dict[str, dict[str, float | None]], series: Sequence[str]) -> str:
    """Vertical grouped bars of shares in [0, 1], one group per task, with a legend."""
    width_per_group = 24 * len(series) + 30
    left, top, height = 40, 30, 200
    width = left + width_per_group * max(len(groups), 1) + 20
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{top + height + 90}" role="img">'
    ]
    for i, name in enumerate(series):
        parts.append(
            f'<rect x="{left + i * 150}" y="5" width="10" height="10" fill="{_COLORS[i % len(_COLORS)]}"/>'
            f'<text x="{left + i * 150 + 14}" y="14">{escape(name)}</text>'
        )
    for tick in range(0, 101, 25):
        y = top + height - height * tick / 100
        parts.append(
            f'<line x1="{left}" x2="{width - 10}" y1="{y}" y2="{y}" stroke="#e5e9f2"/>'
            f'<text x="{left - 6}" y="{y + 4}" text-anchor="end">{tick}%</text>'
        )
    for g, (label, values) in enumerate(groups.items()):
        x0 = left + g * width_per_group + 10
        for i, name in enumerate(series):
            value = values.get(name)
            if value is None:
                continue
            h = height * value
            parts.append(
                f'<rect x="{x0 + i * 24}" y="{top + height - h:.1f}" width="20" height="{h:.1f}" '
                f'fill="{_COLORS[i % len(_COLORS)]}"><title>{escape(label)} {escape(name)}: '
                f"{value * 100:.1f}%</title></rect>"
            )
        cx = x0 + 12 * len(series)
        parts.append(
            f'<text x="{cx}" y="{top + height + 14}" text-anchor="end" '
            f'transform="rotate(-30 {cx} {top + height + 14})">{escape(label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _histogram(values: Sequence[float], bins: int = 20) -> str:
    if not values:
        return '<p class="muted">No latency measured.</p>'
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    counts = [0] * bins
    for v in values:
        counts[min(int((v - lo) / span * bins), bins - 1)] += 1
    left, top, height, bar = 40, 10, 160, 26
    width = left + bins * bar + 20
    peak = max(counts)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{top + height + 40}" role="img">'
    ]
    for i, c in enumerate(counts):
        h = height * c / peak
        a, b = lo + span * i / bins, lo + span * (i + 1) / bins
        parts.append(
            f'<rect x="{left + i * bar}" y="{top + height - h:.1f}" width="{bar - 2}" height="{h:.1f}" '
            f'fill="{_COLORS[0]}"><title>{a:.1f}-{b:.1f} ms: {c} cases</title></rect>'
        )
    parts.append(
        f'<text x="{left - 6}" y="{top + 10}" text-anchor="end">{peak}</text>'
        f'<text x="{left - 6}" y="{top + height}" text-anchor="end">0</text>'
        f'<text x="{left}" y="{top + height + 16}">{lo:.1f} ms</text>'
        f'<text x="{left + bins * bar}" y="{top + height + 16}" text-anchor="end">{hi:.1f} ms</text>'
        f'<text x="{left + bins * bar / 2}" y="{top + height + 32}" text-anchor="middle">'
        "generation latency per case</text></svg>"
    )
    return "".join(parts)


def _hbars(items: Sequence[tuple[str, int]]) -> str:
    if not items:
        return '<p class="ok">No failures.</p>'
    label_w, bar_w, row = 360, 360, 20
    peak = max(n for _, n in items)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + bar_w + 60}" '
        f'height="{row * len(items) + 10}" role="img">'
    ]
    for i, (label, n) in enumerate(items):
        y = 5 + i * row
        w = max(bar_w * n / peak, 1)
        short = label if len(label) <= 58 else label[:55] + "..."
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end">{escape(short)}</text>'
            f'<rect x="{label_w}" y="{y + 2}" width="{w:.1f}" height="{row - 6}" fill="{_COLORS[2]}">'
            f"<title>{escape(label)}: {n}</title></rect>"
            f'<text x="{label_w + w + 4:.1f}" y="{y + 13}">{n}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _yn(v: bool | None) -> str:
    if v is None:
        return '<td class="muted">-</td>'
    return '<td class="ok">yes</td>' if v else '<td class="bad">no</td>'


def _refusal(result: CaseResult) -> str:
    return f'<td class="{"ok" if result.refusal_met else "bad"}">{escape(refusal_cell(result))}</td>'


def _share(value: float | int | None) -> float | None:
    return None if value is None else float(value)


def report_html(report: Report) -> str:
    m = report.metrics
    run = report.run
    cards = "".join(
        f'<div class="card{" headline" if name in HEADLINE_NAMES else ""}">{escape(name)}'
        f"<b>{escape(metric_cell(m, name))}</b></div>"
        for name in METRIC_NAMES
    )
    counts = refusal_counts(m)
    cols = ["cases", *METRIC_NAMES]
    task_rows = "".join(
        f"<tr><td>{escape(task)}</td>"
        + "".join(f'<td class="num">{escape(metric_cell(tm, c))}</td>' for c in cols)
        + "</tr>"
        for task, tm in report.by_task.items()
    )
    series = [s for s in _SCORES if metric_value(m, s) is not None]
    groups = {task: {s: _share(metric_value(tm, s)) for s in series} for task, tm in report.by_task.items()}
    groups["all"] = {s: _share(metric_value(m, s)) for s in series}
    reasons = report.failure_reasons[:30]
    reason_rows = "".join(
        f"<tr><td><code>{escape(fr.reason)}</code></td><td class='num'>{fr.count}</td>"
        f"<td>{escape(', '.join(fr.cases[:8]))}{' ...' if len(fr.cases) > 8 else ''}</td></tr>"
        for fr in report.failure_reasons
    )
    case_rows = "".join(
        f"<tr><td>{escape(r.id)}</td><td>{escape(r.task)}</td>"
        + (
            f"{_yn(None)}{_yn(None)}{_yn(r.live_passed)}{_yn(r.executed)}{_refusal(r)}<td class='num'>-</td>"
            if r.expects_refusal
            else f"{_yn(r.format_valid)}{_yn(r.passed)}{_yn(r.live_passed)}{_yn(r.executed)}"
            f"<td class='muted'>-</td><td class='num'>{r.alignment * 100:.0f}%</td>"
        )
        + f"<td class='num'>{r.latency_ms:.1f}</td><td>{escape(', '.join(r.failure_reasons)) or '-'}</td>"
        f"<td>{escape(r.prompt[:160])}</td></tr>"
        for r in report.cases
    )
    where = f"live ComfyUI {escape(run.comfyui_url)}" if run.comfyui_url else "offline (no ComfyUI)"
    latencies = [r.latency_ms for r in report.cases if math.isfinite(r.latency_ms)]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Eval report: {escape(run.set_path)}</title>
<style>{_CSS}</style></head><body>
<h1>Eval report: {escape(run.set_path)}</h1>
<p>Strategy <code>{escape(run.strategy)}</code>, {m.cases} cases, {where}; {escape(run.started_at)} to
{escape(run.finished_at)}{f"; {run.resumed} cases resumed" if run.resumed else ""}.</p>
<p class="headline"><strong>{escape(headline(m))}</strong></p>
<div class="cards">{cards}</div>
{f'<p class="muted">{escape(counts)}.</p>' if counts else ""}
<h2>Scores by task</h2>{_grouped_bars(groups, series)}
<table><tr><th>task</th>{"".join(f"<th>{escape(c)}</th>" for c in cols)}</tr>{task_rows}</table>
<h2>Latency</h2>{_histogram(latencies)}
<h2>Failure reasons</h2>{_hbars([(fr.reason, fr.count) for fr in reasons])}
<table><tr><th>reason</th><th>cases</th><th>which</th></tr>{reason_rows}</table>
<h2>Cases</h2>
<table><tr><th>id</th><th>task</th><th>valid</th><th>pass</th><th>live</th><th>executed</th><th>refusal</th>
<th>alignment</th><th>ms</th><th>failures</th><th>prompt</th></tr>{case_rows}</table>
</body></html>
"""
