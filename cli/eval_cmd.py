"""`comfy-gateway eval run|compare`: offline (and live) evaluation of the generator over a prompt set.

Exit codes: 0 when the run finished (whatever the scores), 1 on a runner error (bad set, unreachable ComfyUI,
unwritable folder, unreadable report), 2 on bad command-line usage."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from evals.compare import compare_reports
from evals.errors import EvalError
from evals.report import METRIC_NAMES, RATE_NAMES, fmt, load_report

app = typer.Typer(no_args_is_help=True, help="Evaluate the workflow generator over JSONL prompt sets.")


def _llm_config() -> Any:
    """The LLM endpoint from the gateway settings (OPENAI_BASE_URL ...), or None when none is configured."""
    from api.settings import Settings

    config = Settings().llm_config()
    # an eval of the LLM strategy must not silently score the planner
    return config.model_copy(update={"fallback_to_planner": False}) if config is not None else None


@app.command("run")
def run_cmd(
    set_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="The prompt set (JSONL)"),
    strategy: str = typer.Option("planner", help="Generator strategy: planner or llm"),
    comfyui: str | None = typer.Option(
        None, "--comfyui", help="Live ComfyUI URL: scores live_pass_rate and runs weight-free graphs"
    ),
    out: Path = typer.Option(Path("eval-out"), "--out", help="Results folder (rerun the same to resume)"),
    concurrency: int = typer.Option(4, min=1, max=64, help="Cases in flight at once"),
    inputs: Path | None = typer.Option(
        None, "--inputs", file_okay=False, help="Folder with the input files cases name (else placeholders)"
    ),
    limit: int | None = typer.Option(None, min=1, help="Only the first N cases (after --tag)"),
    tag: list[str] = typer.Option([], "--tag", help="Only cases with this tag (repeatable: all must match)"),
    execute_timeout: float = typer.Option(120.0, min=1, help="Seconds to wait for one weight-free run"),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show the progress bar"),
    fresh: bool = typer.Option(False, "--fresh", help="Discard earlier results in --out instead of resuming"),
    execute_smoke: str = typer.Option(
        "smoke",
        "--execute-smoke",
        "--execute-video",
        help="smoke: run image and video graphs whose weight files are all smoke weights on the live backend "
        "(downscaled to 64x64, 5 frames, 2 steps, batch 1; counted in executed_rate only if the output "
        "decodes and its frames check out); never: acceptance only. --execute-video is the older name",
    ),
    smoke_timeout: float = typer.Option(
        600.0, "--smoke-timeout", "--video-timeout", min=1, help="Seconds to wait for one smoke-weight run"
    ),
) -> None:
    """Run SET.jsonl and write OUT/results.jsonl, report.json, report.md and report.html."""
    from evals.runner import run_eval

    if strategy not in ("planner", "llm"):
        raise typer.BadParameter("use planner or llm", param_hint="--strategy")
    if execute_smoke not in ("smoke", "never"):
        raise typer.BadParameter("use smoke or never", param_hint="--execute-smoke")
    console = Console()
    try:
        llm = _llm_config() if strategy == "llm" else None
        report = asyncio.run(
            run_eval(
                set_path,
                strategy="llm" if strategy == "llm" else "planner",
                comfyui_url=comfyui,
                out_dir=out,
                concurrency=concurrency,
                inputs_dir=inputs,
                limit=limit,
                tags=tag or None,
                llm=llm,
                execute_timeout=execute_timeout,
                progress=progress,
                fresh=fresh,
                execute_smoke="smoke" if execute_smoke == "smoke" else "never",
                smoke_timeout=smoke_timeout,
            )
        )
    except EvalError as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from exc
    # METRIC_NAMES starts with the headline pair, pass_rate and executed_rate.
    table = Table(title=f"{report.metrics.cases} cases, strategy {strategy}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name in METRIC_NAMES:
        table.add_row(name, fmt(name, getattr(report.metrics, name)))
    console.print(table)
    console.print(f"reports: {out / 'report.md'}, {out / 'report.html'}, {out / 'report.json'}")


@app.command("compare")
def compare_cmd(
    a: Path = typer.Argument(..., help="Baseline report.json"),
    b: Path = typer.Argument(..., help="New report.json"),
    show_same: bool = typer.Option(False, help="Also list cases whose failure reasons changed but not rank"),
) -> None:
    """What got better or worse from A to B: metric deltas, then case by case."""
    try:
        comparison = compare_reports(load_report(a), load_report(b), a_name=str(a), b_name=str(b))
    except EvalError as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from exc
    console = Console()
    colors = {"better": "green", "worse": "red", "same": "white"}
    metrics = Table(title=f"A = {a}   B = {b}")
    for col in ("metric", "A", "B", "delta", ""):
        metrics.add_column(col, justify="left" if col in ("metric", "") else "right")
    for d in comparison.metrics:
        delta = (
            "-"
            if d.delta is None
            else (f"{d.delta * 100:+.1f} pt" if d.name in RATE_NAMES else f"{d.delta:+.1f}")
        )
        metrics.add_row(
            d.name, fmt(d.name, d.a), fmt(d.name, d.b), delta, f"[{colors[d.verdict]}]{d.verdict}"
        )
    console.print(metrics)
    shown = [c for c in comparison.changes if show_same or c.verdict != "same"]
    if shown:
        cases = Table(title=f"{len(comparison.better)} better, {len(comparison.worse)} worse")
        for col in ("case", "", "A", "B", "fixed", "broken"):
            cases.add_column(col)
        for c in sorted(shown, key=lambda c: (c.verdict != "worse", c.id)):
            cases.add_row(
                c.id, f"[{colors[c.verdict]}]{c.verdict}", c.a, c.b, ", ".join(c.fixed), ", ".join(c.broken)
            )
        console.print(cases)
    else:
        console.print("No case changed.")
    if comparison.only_in_a or comparison.only_in_b:
        console.print(
            f"only in A: {len(comparison.only_in_a)} cases; only in B: {len(comparison.only_in_b)} cases"
        )
