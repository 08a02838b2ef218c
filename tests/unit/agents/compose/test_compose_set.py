"""evals/sets/compose.jsonl, offline: every case is planned and composed (bundled catalog, no backend) and
checked at the operation level: each `nodes_any` group has a class in the graph, the graph validates, the
output kind and the prompt text are right; `error` cases must be refused with that code. Figures by tag."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from agents.compose import MissingCapability, compose_request
from agents.errors import AgentError
from evals.cases import load_set
from node_catalog import Catalog, validate

SET = Path(__file__).parents[4] / "evals" / "sets" / "compose.jsonl"
CATALOG = Catalog.bundled()


def _rows() -> list[dict[str, Any]]:
    return [json.loads(line) for line in SET.read_text(encoding="utf-8").splitlines() if line.strip()]


def score(row: dict[str, Any]) -> tuple[bool, str]:
    expect = row["expect"]
    files = {name: kind for kind, name in row.get("inputs", {}).items()}
    try:
        comp = compose_request(row["prompt"], CATALOG, files=files)
    except MissingCapability as exc:
        return expect.get("error") == exc.code, exc.message
    except AgentError as exc:
        return expect.get("error") == getattr(exc, "code", type(exc).__name__), exc.message
    if "error" in expect:
        return False, f"composed {comp.plan.describe()} instead of refusing"
    classes = {n["class_type"] for n in comp.workflow.values()}
    missing = [group for group in expect["nodes_any"] if not set(group) & classes]
    report = validate(comp.workflow, CATALOG, models={**comp.models, "input": comp.input_files})
    output = "video" if "SaveVideo" in classes else "image"
    text = " ".join(
        str(v) for n in comp.workflow.values() for v in n["inputs"].values() if isinstance(v, str)
    )
    absent = [c for c in expect.get("contains", []) if c.lower() not in text.lower()]
    ok = not missing and report.ok and output == expect["output"] and not absent
    return ok, f"{comp.plan.describe()}: missing {missing}, valid {report.ok}, {output}, absent {absent}"


def test_the_set_is_well_formed() -> None:
    rows = _rows()
    assert len(rows) >= 150
    assert len({r["id"] for r in rows}) == len(rows)
    for row in rows:
        expect = row["expect"]
        assert set(row) <= {"id", "prompt", "inputs", "files", "expect", "tags"}
        assert set(row.get("inputs", {})) <= {"image", "video", "mask"}
        if "error" in expect:
            assert expect == {"error": "missing_capability"}
        else:
            assert expect["nodes_any"] and all(isinstance(g, list) and g for g in expect["nodes_any"])
    assert len(load_set(SET)) == len(rows)  # the evals' own reader takes every line
    refusals = sum("error" in r["expect"] for r in rows)
    multi = sum(any(t in ("steps-2", "steps-3", "steps-4") for t in r["tags"]) for r in rows)
    assert refusals >= 15 and multi >= 60


def test_operation_level_figures() -> None:
    figures: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    failures = []
    for row in _rows():
        ok, why = score(row)
        for tag in {*row["tags"], "all"}:
            figures[tag][0] += ok
            figures[tag][1] += 1
        if not ok:
            failures.append(f"{row['id']}: {row['prompt']} -> {why}")
    report = "\n".join(f"{tag:18} {a}/{b}" for tag, (a, b) in sorted(figures.items()))
    passed, total = figures["all"]
    assert passed / total >= 0.95, report + "\n" + "\n".join(failures)
