"""Template files (`*.json` here and in the user's templates_dir) loaded into typed `Template`s.

A template is an API-format graph plus parameters; each parameter has a type, a default, optional bounds
and the `[node_id, input_name]` targets it writes. Rendering checks every value, so a bad value is a
`TemplateParameterError` the API answers with 422, never a graph ComfyUI rejects.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

log = logging.getLogger(__name__)

BUNDLED_DIR = Path(__file__).parent
ParamType = Literal["string", "int", "float", "bool", "enum", "model", "image", "video"]


class TemplateError(Exception):
    """Base of template errors; `message` is meant for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TemplateNotFound(TemplateError):
    """No template of that name."""


class TemplateFormatError(TemplateError):
    """A template file is not a valid template."""


class TemplateParameterError(TemplateError):
    """A parameter value is unknown, of the wrong type or out of range."""

    def __init__(self, message: str, *, parameter: str | None = None) -> None:
        super().__init__(message)
        self.parameter = parameter


class ParameterSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: ParamType
    default: Any = None
    description: str = ""
    min: int | float | None = None
    max: int | float | None = None
    step: int | float | None = None
    choices: list[str] | None = None
    folder: str | None = Field(None, description="Model folder for `model` parameters")
    targets: list[tuple[str, str]] = Field(min_length=1)

    def coerce(self, name: str, value: Any) -> Any:
        """Check and convert one value; numbers are snapped to the step grid counted from `min`."""
        if self.type in {"string", "model", "image", "video"}:
            if not isinstance(value, str):
                raise TemplateParameterError(f"{name} must be a string", parameter=name)
            if self.type != "string" and not value.strip():
                raise TemplateParameterError(f"{name} must name a file", parameter=name)
            return value
        if self.type == "bool":
            if not isinstance(value, bool):
                raise TemplateParameterError(f"{name} must be true or false", parameter=name)
            return value
        if self.type == "enum":
            if value not in (self.choices or []):
                raise TemplateParameterError(f"{name} must be one of {self.choices}", parameter=name)
            return value
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise TemplateParameterError(f"{name} must be a number", parameter=name)
        if self.type == "int" and float(value) != int(value):
            raise TemplateParameterError(f"{name} must be a whole number", parameter=name)
        if self.min is not None and value < self.min:
            raise TemplateParameterError(f"{name} must be at least {self.min:g}", parameter=name)
        if self.max is not None and value > self.max:
            raise TemplateParameterError(f"{name} must be at most {self.max:g}", parameter=name)
        if self.step and self.type == "int":
            base = self.min or 0
            value = base + round((value - base) / self.step) * self.step
        return int(value) if self.type == "int" else float(value)

    def public(self) -> dict[str, Any]:
        return self.model_dump(exclude={"targets"}, exclude_none=True)


class Template(BaseModel):
    """One verified workflow with typed parameters."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,80}$")
    version: str
    title: str
    description: str = ""
    tasks: list[str] = Field(min_length=1)
    model_family: str = "none"
    model_free: bool = False
    output: Literal["image", "video"] = "image"
    parameters: dict[str, ParameterSpec] = Field(default_factory=dict)
    workflow: dict[str, dict[str, Any]]
    source: str = Field("bundled", description="bundled or user")

    @model_validator(mode="after")
    def _targets_exist(self) -> Template:
        for pname, spec in self.parameters.items():
            for node_id, input_name in spec.targets:
                node = self.workflow.get(node_id)
                if node is None:
                    raise ValueError(
                        f"parameter {pname} targets node {node_id}, which is not in the workflow"
                    )
                if input_name not in node.get("inputs", {}):
                    raise ValueError(
                        f"parameter {pname} targets {node_id}.{input_name}, which the node lacks"
                    )
        return self

    def defaults(self) -> dict[str, Any]:
        return {name: spec.default for name, spec in self.parameters.items()}

    def render(
        self, values: Mapping[str, Any] | None = None, *, ignore_unknown: bool = False
    ) -> dict[str, Any]:
        """The API graph with `values` written into their targets (others keep the template's defaults)."""
        workflow = copy.deepcopy(self.workflow)
        for name, value in (values or {}).items():
            spec = self.parameters.get(name)
            if spec is None:
                if ignore_unknown:
                    continue
                raise TemplateParameterError(
                    f"template {self.name} has no parameter {name!r}; it has {sorted(self.parameters)}",
                    parameter=name,
                )
            if value is None:
                continue
            checked = spec.coerce(name, value)
            for node_id, input_name in spec.targets:
                workflow[node_id]["inputs"][input_name] = checked
        return workflow

    def models(self, values: Mapping[str, Any] | None = None) -> dict[str, list[str]]:
        """Model folder -> file names the rendered graph names (what the backend must have)."""
        out: dict[str, list[str]] = {}
        for name, spec in self.parameters.items():
            if spec.type == "model" and spec.folder:
                chosen = (values or {}).get(name) or spec.default
                out.setdefault(spec.folder, []).append(str(chosen))
        return out

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "title": self.title,
            "description": self.description,
            "tasks": self.tasks,
            "model_family": self.model_family,
            "model_free": self.model_free,
            "output": self.output,
            "source": self.source,
        }

    def public(self) -> dict[str, Any]:
        return {
            **self.summary(),
            "parameters": {name: spec.public() for name, spec in self.parameters.items()},
            "workflow": self.workflow,
        }


class TemplateLibrary:
    """Templates by name; later directories override earlier ones (a user may replace a bundled one)."""

    def __init__(self, templates: Sequence[Template]) -> None:
        self._by_name: dict[str, Template] = {}
        for template in templates:
            self._by_name[template.name] = template

    @classmethod
    @functools.cache
    def bundled(cls) -> TemplateLibrary:
        return cls(load_dir(BUNDLED_DIR, source="bundled"))

    @classmethod
    def load(cls, user_dir: Path | str | None = None) -> TemplateLibrary:
        """The bundled templates plus every `*.json` in `user_dir` (a broken user file is logged, skipped)."""
        templates = list(cls.bundled())
        if user_dir is not None:
            templates.extend(load_dir(Path(user_dir), source="user", strict=False))
        return cls(templates)

    def __iter__(self) -> Iterator[Template]:
        return iter(sorted(self._by_name.values(), key=lambda t: t.name))

    def __len__(self) -> int:
        return len(self._by_name)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def get(self, name: str) -> Template:
        try:
            return self._by_name[name]
        except KeyError:
            raise TemplateNotFound(f"no template named {name!r}; known: {self.names()}") from None

    def serves(self, task: str, family: str) -> bool:
        """Whether some template does `task` on `family` (a plan's family name: `hunyuan_video` is the
        templates' `hunyuan-video`)."""
        return any(
            task in t.tasks and t.model_family.replace("-", "_") == family for t in self._by_name.values()
        )

    def select(
        self, task: str, family: str | None = None, *, model_free: bool | None = None
    ) -> list[Template]:
        """Templates for a task, best first: the requested family, then user templates, then by name."""
        found = [t for t in self._by_name.values() if task in t.tasks]
        if model_free is not None:
            found = [t for t in found if t.model_free == model_free] or found
        return sorted(
            found, key=lambda t: (family is not None and t.model_family != family, t.source != "user", t.name)
        )


def load_dir(directory: Path, *, source: str, strict: bool = True) -> list[Template]:
    out: list[Template] = []
    if not directory.is_dir():
        if strict:
            raise TemplateFormatError(f"template folder {directory} does not exist")
        log.warning("template folder %s does not exist", directory)
        return out
    for path in sorted(directory.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            data.setdefault("source", source)
            out.append(Template.model_validate(data))
        except (OSError, ValueError, ValidationError) as exc:
            if strict:
                raise TemplateFormatError(f"{path.name}: {exc}") from exc
            log.warning("skipping template %s: %s", path, exc)
    return out
