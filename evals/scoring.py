"""Scoring one case: format validity, catalog validation (offline), and the `expect` checks (alignment)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

from pydantic import BaseModel

from evals import graph_facts
from evals.cases import Expect, Range, normalize_task
from node_catalog.files import looks_like_model_file

# Intent field names a generator may use for the task (the runner reads the first one present).
_TASK_FIELDS = ("task", "task_type", "kind")
_NEGATIVE_FIELDS = ("negative_prompt", "negative")


class Check(BaseModel):
    """One `expect` key tested against the graph (and the intent where the graph cannot say)."""

    name: str
    ok: bool
    expected: Any = None
    actual: Any = None
    node: str | None = None  # the node the value was read from (or should have been on)


class Problem(BaseModel):
    """One validation error, flattened from ComfyUI's `node_errors` shape."""

    type: str
    message: str
    node_id: str | None = None
    class_type: str | None = None
    input_name: str | None = None
    received_value: Any = None

    @property
    def reason(self) -> str:
        where = self.class_type or "graph"
        return f"validation:{self.type}@{where}" + (f".{self.input_name}" if self.input_name else "")


Validator = Callable[[Mapping[str, Any]], list[Problem]]


def problems_from_report(error: Mapping[str, Any] | None, node_errors: Mapping[str, Any]) -> list[Problem]:
    """ComfyUI's 400 body (`error`, `node_errors`) -> flat problems. Used for the catalog's report and for
    a live ComfyUI's answer alike."""
    out: list[Problem] = []
    for node_id, entry in (node_errors or {}).items():
        if not isinstance(entry, Mapping):
            continue
        for err in entry.get("errors", []) or []:
            extra = err.get("extra_info") or {}
            out.append(
                Problem(
                    type=str(err.get("type", "error")),
                    message=str(err.get("message", ""))
                    + (f": {err['details']}" if err.get("details") else ""),
                    node_id=str(node_id),
                    class_type=entry.get("class_type"),
                    input_name=extra.get("input_name") if isinstance(extra, Mapping) else None,
                    received_value=extra.get("received_value") if isinstance(extra, Mapping) else None,
                )
            )
    if not out and error:
        out.append(Problem(type=str(error.get("type", "error")), message=str(error.get("message", ""))))
    return out


def forgive_present_files(
    problems: Iterable[Problem], *, input_files: Collection[str], assume_models: bool
) -> tuple[list[Problem], list[Problem]]:
    """Split `problems` into (still failing, forgiven). A COMBO miss on a case's input file (uploaded or to
    be uploaded) is forgiven; so is one on a model file when `assume_models` (offline: the snapshot catalog
    lists no model files; whether the backend has them is what the live check measures)."""
    failing: list[Problem] = []
    forgiven: list[Problem] = []
    for p in problems:
        value = p.received_value
        is_combo_miss = p.type == "value_not_in_list" or "model" in p.type
        present = isinstance(value, str) and (
            value in input_files or (assume_models and looks_like_model_file(value))
        )
        if is_combo_miss and present:
            forgiven.append(p)
            continue
        failing.append(p)
    return failing, forgiven


def _in(expected: int | Range, value: float) -> bool:
    return expected.contains(value) if isinstance(expected, Range) else math.isclose(value, expected)


def _describe(expected: int | Range) -> Any:
    return str(expected) if isinstance(expected, Range) else expected


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.casefold()).strip()


def intent_value(intent: Mapping[str, Any] | None, names: Iterable[str]) -> Any:
    for name in names:
        if intent and intent.get(name) not in (None, ""):
            return intent[name]
    return None


def _first_match(expected: int | Range, candidates: list[tuple[float, str]]) -> tuple[bool, Any, str | None]:
    for value, node in candidates:
        if _in(expected, value):
            return True, value, node
    if candidates:
        return False, [v for v, _ in candidates], candidates[0][1]
    return False, None, None


def check_expectations(
    expect: Expect,
    workflow: Mapping[str, Any],
    intent: Mapping[str, Any] | None,
    *,
    output_classes: Iterable[str] = (),
) -> list[Check]:
    """Every `expect` key that is set becomes one check (each `contains` phrase and each node is its own).
    Values come from the graph: a graph that says 121 frames where 73 are expected fails, whatever the intent
    says. The task is read from the intent (the graph cannot state it) with the graph's shape as fallback."""
    checks: list[Check] = []
    if expect.task is not None:
        raw = intent_value(intent, _TASK_FIELDS)
        actual = normalize_task(str(raw)) if raw is not None else graph_facts.infer_task(workflow)
        checks.append(Check(name="task", ok=actual == expect.task, expected=expect.task, actual=actual))
    sizes = graph_facts.sizes(workflow)
    for dim, expected, index in (("width", expect.width, 0), ("height", expect.height, 1)):
        if expected is None:
            continue
        found = [(float(s[index]), s[2]) for s in sizes]
        ok, actual, node = _first_match(expected, found)
        checks.append(Check(name=dim, ok=ok, expected=_describe(expected), actual=actual, node=node))
    if expect.frames is not None:
        found = [(float(n), node) for n, node in graph_facts.frame_counts(workflow)]
        ok, actual, node = _first_match(expect.frames, found)
        checks.append(
            Check(name="frames", ok=ok, expected=_describe(expect.frames), actual=actual, node=node)
        )
    if expect.fps is not None:
        found = graph_facts.fps_values(workflow)
        ok = any(math.isclose(v, expect.fps, abs_tol=0.01) for v, _ in found)
        checks.append(
            Check(
                name="fps",
                ok=ok,
                expected=expect.fps,
                actual=[v for v, _ in found] or None,
                node=found[0][1] if found else None,
            )
        )
    if expect.seed is not None:
        found_seeds = graph_facts.seeds(workflow)
        ok = any(s == expect.seed for s, _ in found_seeds)
        checks.append(
            Check(name="seed", ok=ok, expected=expect.seed, actual=[s for s, _ in found_seeds] or None)
        )
    positive, negative = graph_facts.prompt_texts(workflow)
    if not negative:
        # HunyuanVideo's official graph has no negative input; a generator may keep it in the intent only.
        neg = intent_value(intent, _NEGATIVE_FIELDS)
        negative = [neg] if isinstance(neg, str) else []
    pos_text, neg_text = _norm(" \n ".join(positive)), _norm(" \n ".join(negative))
    for phrase in expect.contains:
        checks.append(
            Check(
                name="contains", ok=_norm(phrase) in pos_text, expected=phrase, actual=pos_text[:200] or None
            )
        )
    for phrase in expect.negative_contains:
        checks.append(
            Check(
                name="negative_contains",
                ok=_norm(phrase) in neg_text,
                expected=phrase,
                actual=neg_text[:200] or None,
            )
        )
    present = graph_facts.class_types(workflow)
    for node_class in expect.nodes:
        checks.append(Check(name="nodes", ok=node_class in present, expected=node_class, node=node_class))
    for group in expect.nodes_any:
        doing = [c for c in group if c in present]
        checks.append(
            Check(name="operation", ok=bool(doing), expected=" | ".join(group), actual=doing or None)
        )
    if expect.output is not None:
        kinds = graph_facts.output_kinds(workflow, output_classes)
        checks.append(
            Check(
                name="output", ok=expect.output in kinds, expected=expect.output, actual=sorted(kinds) or None
            )
        )
    return checks


def check_reason(check: Check) -> str:
    """The failure-reason key of a failed check: which check and, for nodes, which node."""
    if check.name in ("nodes", "operation"):
        return f"check:{check.name}:{check.expected}"
    return f"check:{check.name}"
