"""A rich progress bar with running scores (format validity, pass rate, alignment, live pass, refusals)."""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from evals.metrics import CaseResult, compute_metrics


def scores_line(results: Sequence[CaseResult]) -> str:
    if not results:
        return ""
    m = compute_metrics(results)
    parts = []
    if m.graph_cases:
        parts += [
            f"FV {m.format_validity:.0%}",
            f"PA {m.pass_rate:.0%}",
            f"align {m.alignment:.0%}",
            f"PIA {m.aligned_pass_rate:.0%}",
        ]
    if m.live_pass_rate is not None:
        parts.append(f"live {m.live_pass_rate:.0%}")
    if m.executed_rate is not None:
        parts.append(f"ran {m.executed_rate:.0%}")
    if m.refusal_accuracy is not None:
        parts.append(f"refused {m.refusal_accuracy:.0%}")
    return "  ".join(parts)


class ProgressDisplay:
    """`with ProgressDisplay(total=n, already=done) as d: runner.on_result = d.update`. Writes to stderr so
    that stdout stays for the command's own output."""

    def __init__(self, *, total: int, already: Sequence[CaseResult] = (), console: Console | None = None):
        self._progress = Progress(
            TextColumn("[bold]eval"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[scores]}"),
            console=console or Console(stderr=True),
            transient=False,
        )
        self._total = total
        self._already = list(already)
        self._task: TaskID | None = None

    def __enter__(self) -> ProgressDisplay:
        self._progress.__enter__()
        self._task = self._progress.add_task(
            "eval", total=self._total, completed=len(self._already), scores=scores_line(self._already)
        )
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._progress.__exit__(exc_type, exc, tb)

    def update(self, result: CaseResult, finished: Sequence[CaseResult]) -> None:
        if self._task is not None:
            self._progress.update(self._task, completed=len(finished), scores=scores_line(finished))
