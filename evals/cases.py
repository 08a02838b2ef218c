"""Prompt sets: the JSONL case format (a contract shared with outside sets) and its strict parser."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from agents.compose import file_type
from evals.errors import SetFormatError

# Input kinds a case may name; the runner knows how to make a placeholder of each.
InputKind = Literal["image", "video", "mask"]
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,127}$")
# An error code a system answers with instead of a graph (pipeline's `GenerationResult.error_code`).
_ERROR_CODE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class Range(BaseModel):
    """An inclusive bound on an integer: `{"min": a, "max": b}` (either may be left out, not both)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min: int | None = None
    max: int | None = None

    @model_validator(mode="after")
    def _bounded(self) -> Range:
        if self.min is None and self.max is None:
            raise ValueError("a range needs at least one of min, max")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is greater than max {self.max}")
        return self

    def contains(self, value: float) -> bool:
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)

    def __str__(self) -> str:
        return f"{'' if self.min is None else self.min}..{'' if self.max is None else self.max}"


IntOrRange = Annotated[int, Field(strict=True)] | Range


class Expect(BaseModel):
    """What a correct graph must show for a case, or (`error`) the error code a correct answer refuses with
    instead of any graph. Every key is optional; unknown keys are errors; `error` stands alone."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task: str | None = None
    width: IntOrRange | None = None
    height: IntOrRange | None = None
    frames: IntOrRange | None = None
    fps: float | None = Field(None, gt=0)
    contains: list[str] = Field(default_factory=list)
    negative_contains: list[str] = Field(default_factory=list)
    nodes: list[str] = Field(default_factory=list)
    # The operations asked for: groups of node classes, one class of each group must appear (e.g. an edit done
    # by Qwen-Image-Edit or Flux Kontext). A graph ignoring an asked operation fails its `operation` check.
    nodes_any: list[Annotated[list[str], Field(min_length=1)]] = Field(default_factory=list)
    seed: int | None = None
    output: Literal["video", "image", "audio"] | None = None
    error: Annotated[str, Field(strict=True)] | None = None

    @field_validator("task")
    @classmethod
    def _task_form(cls, value: str | None) -> str | None:
        return None if value is None else normalize_task(value)

    @field_validator("error")
    @classmethod
    def _error_code(cls, value: str | None) -> str | None:
        if value is not None and not _ERROR_CODE.match(value):
            raise ValueError(
                f"{value!r} is not an error code (lowercase letters, digits and _, e.g. 'input_required')"
            )
        return value

    @model_validator(mode="after")
    def _error_stands_alone(self) -> Expect:
        if self.error is not None:
            others = sorted(self.model_fields_set - {"error"})
            if others:
                raise ValueError(
                    f"a case expecting the error {self.error!r} has no graph to check; "
                    f"drop {', '.join(others)}"
                )
        return self

    @property
    def refusal(self) -> bool:
        """The correct answer is a refusal (`error`), not a graph."""
        return self.error is not None


class Case(BaseModel):
    """One line of a prompt set."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=200)
    prompt: str = Field(min_length=1)
    inputs: dict[InputKind, str] = Field(default_factory=dict)
    # More input files the prompt names (a join's clips, a second picture), provided like `inputs`; each one's
    # kind follows its name (clips by extension, masks by "mask" in the name).
    files: list[str] = Field(default_factory=list, max_length=16)
    expect: Expect = Field(default_factory=Expect)
    tags: list[str] = Field(default_factory=list)

    @field_validator("inputs")
    @classmethod
    def _plain_file_names(cls, value: dict[InputKind, str]) -> dict[InputKind, str]:
        for kind, name in value.items():
            if not _SAFE_NAME.match(name) or ".." in name:
                raise ValueError(f"inputs.{kind}: {name!r} must be a plain file name (no folders)")
        return value

    @field_validator("files")
    @classmethod
    def _plain_extra_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not _SAFE_NAME.match(name) or ".." in name:
                raise ValueError(f"files: {name!r} must be a plain file name (no folders)")
        return value

    @property
    def task(self) -> str:
        return self.expect.task or "unspecified"

    def given_files(self) -> list[tuple[InputKind, str]]:
        """Every input file of the case with its kind: `inputs`, then `files`."""
        extra = [(file_kind(name), name) for name in self.files if name not in self.inputs.values()]
        return [*self.inputs.items(), *extra]


def file_kind(name: str) -> InputKind:
    """An input file's kind from its name, as the composer reads it (`agents.compose.file_type`)."""
    kind = file_type(name)
    return "video" if kind == "VIDEO" else "mask" if kind == "MASK" else "image"


def normalize_task(value: str) -> str:
    """`Text_To_Video`, `text to video` and `text-to-video` are one task."""
    return re.sub(r"[\s_]+", "-", value.strip().lower())


def _describe(exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"] if not str(p).startswith(("function-", "int", "Range")))
        branch = any(str(p) == "int" or "Range" in str(p) for p in err["loc"])
        if branch and err["type"] == "int_type" and isinstance(err.get("input"), dict):
            continue  # a range was meant: its own errors say what is wrong
        if branch and err["type"] in (
            "int_type",
            "int_parsing",
            "int_from_float",
            "model_type",
            "model_attributes_type",
            "dict_type",
        ):
            out.append(f'{loc}: must be an integer or {{"min": a, "max": b}}')
        elif err["type"] == "extra_forbidden":
            out.append(f"unknown key {loc!r}")
        elif err["type"] == "missing":
            out.append(f"missing key {loc!r}")
        else:
            out.append(f"{loc or 'case'}: {err['msg'].removeprefix('Value error, ')}")
    # A union (int | Range) reports each branch; keep each message once.
    return list(dict.fromkeys(out))


def parse_set(text: str, *, source: str = "<set>") -> list[Case]:
    """Parse JSONL text; every problem (bad JSON, unknown or wrong keys, duplicate ids) is collected with its
    line number and raised together as one `SetFormatError`. Blank lines are allowed."""
    cases: list[Case] = []
    problems: list[str] = []
    first_line: dict[str, int] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"{source}:{lineno}: invalid JSON: {exc.msg} (column {exc.colno})")
            continue
        if not isinstance(raw, dict):
            problems.append(f"{source}:{lineno}: a case must be a JSON object, got {type(raw).__name__}")
            continue
        try:
            case = Case.model_validate(raw)
        except ValidationError as exc:
            problems.extend(f"{source}:{lineno}: {msg}" for msg in _describe(exc))
            continue
        if case.id in first_line:
            problems.append(
                f"{source}:{lineno}: duplicate id {case.id!r} (first on line {first_line[case.id]})"
            )
            continue
        first_line[case.id] = lineno
        cases.append(case)
    if problems:
        raise SetFormatError(source, problems)
    if not cases:
        raise SetFormatError(source, [f"{source}: the set holds no case"])
    return cases


def load_set(path: str | Path) -> list[Case]:
    """Read and parse one JSONL prompt set."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SetFormatError(str(p), [f"{p}: cannot read: {exc}"]) from exc
    return parse_set(text, source=str(p))


def select(cases: list[Case], *, tags: list[str] | None = None, limit: int | None = None) -> list[Case]:
    """Cases carrying every one of `tags` (when given), the first `limit` of them (when given)."""
    chosen = [c for c in cases if not tags or set(tags) <= set(c.tags)]
    return chosen[:limit] if limit is not None else chosen
