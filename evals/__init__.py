"""Offline (and live) evaluation of the workflow generator over JSONL prompt sets.

`run_eval(set_path, *, strategy, comfyui_url, out_dir, concurrency) -> Report` (docs/architecture.md);
CLI `comfy-gateway eval run|compare`. Modules: `cases` (the set format and its strict parser), `graph`
(facts read from an API-format graph), `scoring` (validation problems and `expect` checks), `metrics`
(per-case results and the contract metrics), `system` (the system-under-test protocol and the
`pipeline.Generator` adapter), `inputs` (placeholder input files), `live` (a live ComfyUI), `runner`
(concurrency, resumability), `report`, `html`, `compare`, `progress`, `errors`.
"""

from evals.cases import Case, Expect, Range, load_set, parse_set
from evals.compare import Comparison, compare_reports
from evals.errors import BackendError, EvalError, InputFileError, ReportError, RunDirError, SetFormatError
from evals.metrics import CaseResult, Metrics, compute_metrics
from evals.report import Report, load_report
from evals.runner import Runner, run_eval
from evals.system import GeneratorSystem, SystemOutput, SystemUnderTest

__all__ = [
    "BackendError",
    "Case",
    "CaseResult",
    "Comparison",
    "EvalError",
    "Expect",
    "GeneratorSystem",
    "InputFileError",
    "Metrics",
    "Range",
    "Report",
    "ReportError",
    "RunDirError",
    "Runner",
    "SetFormatError",
    "SystemOutput",
    "SystemUnderTest",
    "compare_reports",
    "compute_metrics",
    "load_report",
    "load_set",
    "parse_set",
    "run_eval",
]
