"""The one exception tree of `evals`: every error an evaluation run can raise on purpose."""

from __future__ import annotations

from collections.abc import Sequence


class EvalError(Exception):
    """Base of every error raised by `evals` (a runner error: the CLI exits non-zero on it)."""


class SetFormatError(EvalError):
    """A prompt set that cannot be used; `problems` are `path:line: message` strings, one per bad line."""

    def __init__(self, path: str, problems: Sequence[str]) -> None:
        self.path = path
        self.problems = list(problems)
        shown = "\n  ".join(self.problems[:50])
        more = f"\n  ... and {len(self.problems) - 50} more" if len(self.problems) > 50 else ""
        super().__init__(f"invalid prompt set {path}:\n  {shown}{more}")


class InputFileError(EvalError):
    """A case names an input file that is neither in --inputs nor a kind the runner can make."""


class RunDirError(EvalError):
    """The output folder holds results of another run (other set or strategy) or cannot be written."""


class BackendError(EvalError):
    """The live ComfyUI given with --comfyui cannot be reached or answers nonsense."""


class ReportError(EvalError):
    """A report.json that cannot be read (for `compare`)."""
