"""Workflow composition (issue #11): a request -> a `Plan` of typed operations -> ONE graph chained from
verified fragments (bundled templates, the official template library, core nodes), checked against a catalog.

    plan = plan_request("make a fox in the snow, then upscale it 3x", files=["photo.png"])   # deterministic
    plan = await LLMPlanner(llm_client, fallback=Planner()).plan(text, files)   # LLM strategy, same Plan
    comp = compose(plan, catalog, files=..., models=backend_models)
    comp.link_list / comp.workflow / comp.models / comp.fragments / comp.notes

Errors: `MissingCapability` (code `missing_capability`), `PortMismatch`, `PlanError`, and
`agents.errors.InputRequiredError` when a step needs an input file the request does not give.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from agents.compose.composer import Composer, Composition, compose, plan_graph
from agents.compose.errors import ComposeError, MissingCapability, PlanError, PortMismatch
from agents.compose.fragments import Fragment, FragmentLibrary
from agents.compose.llm_plan import LLMPlanner
from agents.compose.operations import (
    OPERATION_NAMES,
    OPERATIONS,
    PORT_TYPES,
    OperationSpec,
    operations_for_llm,
)
from agents.compose.plan import PLAN_JSON_SCHEMA, Plan, Step, parse_plan
from agents.compose.planner import Planner, plan_request
from agents.compose.wiring import file_type
from node_catalog import Catalog


def compose_request(
    text: str,
    catalog: Catalog,
    *,
    files: Mapping[str, str] | Sequence[str] = (),
    models: Mapping[str, Sequence[str]] | None = None,
    library: FragmentLibrary | None = None,
) -> Composition:
    """Plan a request deterministically and compose its graph."""
    return compose(plan_request(text, files), catalog, files=files, models=models, library=library)


__all__ = [
    "OPERATIONS",
    "OPERATION_NAMES",
    "PLAN_JSON_SCHEMA",
    "PORT_TYPES",
    "ComposeError",
    "Composer",
    "Composition",
    "Fragment",
    "FragmentLibrary",
    "LLMPlanner",
    "MissingCapability",
    "OperationSpec",
    "Plan",
    "PlanError",
    "Planner",
    "PortMismatch",
    "Step",
    "compose",
    "compose_request",
    "file_type",
    "operations_for_llm",
    "parse_plan",
    "plan_graph",
    "plan_request",
]
