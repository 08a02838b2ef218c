"""Validate an API-format workflow the way ComfyUI 0.3.75's `validate_prompt` does, and a little stricter.

ComfyUI's checks are mirrored exactly (same traversal from the output nodes, same error `type`, `message`,
`details` and `extra_info` keys). Checks beyond ComfyUI carry `extra_info["origin"] == "gateway"` and only run
with `strict=True` (the default), so a caller can tell "ComfyUI would refuse this" from "this would fail or
misbehave at run time".

Partial validity: ComfyUI answers 200 when at least one output node validates, runs only those outputs and
returns the others' problems in `node_errors`. `ValidationReport.comfy_accepts` says what ComfyUI would do;
`ValidationReport.ok` is stricter and is False whenever any error exists, so the gateway never runs half a
workflow silently. `error` is set whenever `ok` is False (ComfyUI's own top-level shape).

Differences on purpose (documented for the differential test):
- links to a missing node or slot: ComfyUI raises inside validation (KeyError / IndexError); we report the
  same error `type` (`exception_during_validation` on an output node, `exception_during_inner_validation`
  on the node below the one holding the link, exactly where ComfyUI puts it) with an empty traceback and a
  readable `extra_info["reason"]`.
- `dependent_outputs` lists the failed outputs that really depend on the node (ComfyUI appends every failed
  output processed after the node failed, in hash order).
- errors of one node come in `input_order` (ComfyUI iterates a set: arbitrary order).
- custom `VALIDATE_INPUTS` functions: the core loaders' "file exists in input/" checks (LoadImage,
  LoadImageMask, LoadVideo, LoadAudio, LoadLatent) are mirrored; those of a few API nodes cannot be known
  from `/object_info` and are not run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from node_catalog.catalog import Catalog
from node_catalog.errors import LimitExceeded
from node_catalog.gateway_checks import GATEWAY_CHECKS, gateway_node_errors
from node_catalog.input_checks import LinkFailure, NodeValidator
from node_catalog.limits import GraphLimits, check_document, longest_chain
from node_catalog.rules import GATEWAY
from node_catalog.specs import FOLDER_ALIASES

__all__ = ["GATEWAY", "ValidationReport", "validate"]


@dataclass
class ValidationReport:
    """The verdict on one workflow; `comfy_body()` is ComfyUI's 400 body for it."""

    ok: bool
    error: dict[str, Any] | None
    node_errors: dict[str, dict[str, Any]]
    warnings: list[dict[str, Any]] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    good_outputs: list[str] = field(default_factory=list)
    comfy_accepts: bool = False  # whether ComfyUI itself would queue it (HTTP 200)
    strict: bool = True

    def comfy_body(self) -> dict[str, Any]:
        return {"error": self.error, "node_errors": self.node_errors}

    def errors(self) -> list[tuple[str, dict[str, Any]]]:
        """(node_id, error) pairs, the top-level error under node id ''."""
        flat: list[tuple[str, dict[str, Any]]] = []
        if self.error is not None and not self.node_errors:
            flat.append(("", self.error))
        for node_id, entry in self.node_errors.items():
            flat.extend((node_id, err) for err in entry["errors"])
        return flat

    def summary(self) -> str:
        if self.ok:
            return "valid"
        lines = [f"{self.error['message'] if self.error else 'invalid'}"]
        for node_id, err in self.errors():
            where = f"node {node_id}" if node_id else "workflow"
            lines.append(f"{where}: {err['message']}: {err['details']}")
        return "\n".join(lines)


# ComfyUI validates links recursively (about three frames a node, Python's limit is 1000 frames).
SAFE_DEPTH = 250


def _over_limits(workflow: Mapping[str, Any], limits: GraphLimits | None) -> str | None:
    if limits is not None:
        try:
            check_document(workflow, limits)  # generated graphs reach here without the request's check
        except LimitExceeded as exc:
            return exc.message
    if limits is not None and len(workflow) > limits.max_nodes:
        return f"the workflow has {len(workflow)} nodes, over the limit of {limits.max_nodes} (MAX_NODES)"
    bound = min(limits.max_depth, SAFE_DEPTH) if limits is not None else SAFE_DEPTH
    depth = longest_chain(workflow)
    if depth > bound:
        return (
            f"the workflow has a chain of {depth} linked nodes, over the limit of {bound} (MAX_GRAPH_DEPTH)"
        )
    return None


def _top(type_: str, message: str, details: str = "") -> dict[str, Any]:
    return {"type": type_, "message": message, "details": details, "extra_info": {}}


def _cycles(prompt: Mapping[str, Any]) -> list[list[str]]:
    """Strongly connected groups of nodes linked in a loop (ComfyUI recurses until RecursionError)."""
    from node_catalog.topology import link_cycles

    return link_cycles(prompt)


def validate(
    workflow: Mapping[str, Any],
    catalog: Catalog,
    *,
    models: Mapping[str, Sequence[str]] | None = None,
    strict: bool = True,
    partial_execution_targets: Sequence[str] | None = None,
    limits: GraphLimits | None = None,
) -> ValidationReport:
    """Validate an API-format workflow; see the module docstring for what `strict` adds.

    `limits` (strict only) adds the size limits and the cost policy; without them a chain of links deeper
    than `SAFE_DEPTH` is still refused, since ComfyUI's recursive validation (mirrored here) cannot follow it.
    """
    if not isinstance(workflow, Mapping):
        err = _top(
            "invalid_prompt",
            "Cannot execute because the workflow is not an object of nodes.",
            f"got {type(workflow).__name__}",
        )
        return ValidationReport(False, err, {}, strict=strict)
    warnings: list[dict[str, Any]] = []
    outputs: list[str] = []
    for node_id, node in workflow.items():
        if not isinstance(node, Mapping) or "class_type" not in node:
            err = _top(
                "invalid_prompt",
                "Cannot execute because a node is missing the class_type property.",
                f"Node ID '#{node_id}'",
            )
            return ValidationReport(False, err, {}, strict=strict)
        class_type = node["class_type"]
        spec = catalog.get(class_type) if isinstance(class_type, str) else None
        if spec is None:
            err = _top(
                "invalid_prompt",
                f"Cannot execute because node {class_type} does not exist.",
                f"Node ID '#{node_id}'",
            )
            warnings.append(
                {
                    "type": "unknown_class_type",
                    "node_id": str(node_id),
                    "class_type": class_type,
                    "closest": [h.name for h in catalog.closest(str(class_type), limit=3)],
                }
            )
            return ValidationReport(False, err, {}, warnings=warnings, strict=strict)
        if spec.output_node and (partial_execution_targets is None or node_id in partial_execution_targets):
            outputs.append(str(node_id))
    if not outputs:
        return ValidationReport(False, _top("prompt_no_outputs", "Prompt has no outputs"), {}, strict=strict)

    too_big = _over_limits(workflow, limits)
    if too_big is not None:
        return ValidationReport(False, _top("limit_exceeded", "The workflow is over a limit", too_big), {})
    v = NodeValidator(workflow, catalog, models, strict)
    node_errors: dict[str, dict[str, Any]] = {}
    good: list[str] = []
    failed_reasons: list[tuple[str, list[dict[str, Any]]]] = []
    cycle_nodes: set[str] = set()
    if strict:
        for group in _cycles(workflow):
            cycle_nodes.update(group)
            for node_id in group:
                node_errors.setdefault(
                    node_id,
                    {"errors": [], "dependent_outputs": [], "class_type": workflow[node_id]["class_type"]},
                )
                node_errors[node_id]["errors"].append(
                    {
                        "type": "dependency_cycle",
                        "message": "Node is part of a dependency cycle",
                        "details": " -> ".join(group + group[:1]),
                        "extra_info": {"cycle": group, "origin": GATEWAY},
                    }
                )
        max_pixels = limits.max_pixels if limits is not None else None
        for node_id, errors in gateway_node_errors(workflow, catalog, max_pixels=max_pixels).items():
            node_errors.setdefault(
                node_id,
                {"errors": [], "dependent_outputs": [], "class_type": workflow[node_id]["class_type"]},
            )["errors"].extend(errors)
    comfy_good: list[str] = []
    for out in outputs:
        try:
            comfy_ok, reasons, strict_ok = v.node(out)
        except RecursionError:
            message = "the workflow's links are chained too deep to validate"
            return ValidationReport(
                False, _top("limit_exceeded", "The workflow is over a limit", message), {}
            )
        except LinkFailure as failure:
            reasons = [
                {
                    "type": "exception_during_validation",
                    "message": "Exception when validating node",
                    "details": str(failure.exc),
                    "extra_info": {
                        "exception_type": type(failure.exc).__name__,
                        "traceback": [],
                        "input_name": failure.input_name,
                        "linked_node": failure.link,
                        "reason": failure.reason,
                    },
                }
            ]
            v.validated[out] = (False, reasons, False)
            comfy_ok = strict_ok = False
        if comfy_ok:
            comfy_good.append(out)
        if (strict_ok if strict else comfy_ok) and not _feeds_from(workflow, out, cycle_nodes):
            good.append(out)
        else:
            failed_reasons.append((out, reasons))
    failed = [o for o, _ in failed_reasons]
    deps = _upstream_sets(workflow, failed)
    for node_id, (_, reasons, _) in v.validated.items():
        shown = reasons if strict else [r for r in reasons if r["extra_info"].get("origin") != GATEWAY]
        if not shown:
            continue
        entry = node_errors.setdefault(
            node_id, {"errors": [], "dependent_outputs": [], "class_type": workflow[node_id]["class_type"]}
        )
        entry["errors"].extend(shown)
    for node_id, entry in node_errors.items():
        entry["dependent_outputs"] = [o for o in failed if node_id in deps[o]]
    warnings.extend(_warnings(workflow, catalog, outputs, models, strict))
    error: dict[str, Any] | None = None
    ok = not failed and not node_errors
    if not ok:
        details = "\n".join(
            f"{r['message']}: {r['details']}"
            for _, rs in failed_reasons
            for r in rs
            if strict or r["extra_info"].get("origin") != GATEWAY
        ) or "\n".join(
            f"{e['message']}: {e['details']}"
            for entry in node_errors.values()
            for e in entry["errors"]
            if e["extra_info"].get("origin") == GATEWAY and e["type"] in GATEWAY_CHECKS
        )
        error = _top("prompt_outputs_failed_validation", "Prompt outputs failed validation", details)
    return ValidationReport(
        ok=ok,
        error=error,
        node_errors=node_errors,
        warnings=warnings,
        outputs=outputs,
        good_outputs=good,
        comfy_accepts=bool(comfy_good),
        strict=strict,
    )


def _feeds_from(prompt: Mapping[str, Any], out: str, bad: set[str]) -> bool:
    if not bad:
        return False
    return bool(_upstream_sets(prompt, [out])[out] & bad)


def _upstream_sets(prompt: Mapping[str, Any], outs: Sequence[str]) -> dict[str, set[str]]:
    result: dict[str, set[str]] = {}
    for out in outs:
        seen = {out}
        stack = [out]
        while stack:
            node = prompt.get(stack.pop())
            inputs = node.get("inputs") if isinstance(node, Mapping) else None
            if not isinstance(inputs, Mapping):
                continue
            for val in inputs.values():
                if (
                    isinstance(val, list)
                    and len(val) == 2
                    and isinstance(val[0], str)
                    and val[0] in prompt
                    and val[0] not in seen
                ):
                    seen.add(val[0])
                    stack.append(val[0])
        result[out] = seen
    return result


def _warnings(
    prompt: Mapping[str, Any],
    catalog: Catalog,
    outputs: Sequence[str],
    models: Mapping[str, Sequence[str]] | None,
    strict: bool,
) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    used: set[str] = set()
    for reach in _upstream_sets(prompt, outputs).values():
        used |= reach
    checked_folders = {FOLDER_ALIASES.get(k, k) for k in (models or {})}
    for node_id, node in prompt.items():
        spec = catalog.get(node["class_type"])
        if spec is None:
            continue
        if node_id not in used:
            found.append(
                {
                    "type": "unused_node",
                    "node_id": node_id,
                    "class_type": spec.name,
                    "message": "Node feeds no output node; ComfyUI will not run it",
                }
            )
        if spec.deprecated:
            found.append(
                {
                    "type": "deprecated_node",
                    "node_id": node_id,
                    "class_type": spec.name,
                    "message": f"{spec.name} is deprecated",
                }
            )
        inputs = node.get("inputs")
        if not isinstance(inputs, Mapping):
            continue
        for name, val in inputs.items():
            ispec = spec.inputs.get(name)
            if ispec is None or ispec.section == "hidden":
                found.append(
                    {
                        "type": "unknown_input",
                        "node_id": node_id,
                        "class_type": spec.name,
                        "input_name": name,
                        "message": f"{spec.name} has no input {name!r}; ignored",
                    }
                )
            elif (
                strict
                and ispec.model_folder
                and not isinstance(val, list)
                and ispec.model_folder not in checked_folders
                and not catalog.models_authoritative
            ):
                found.append(
                    {
                        "type": "model_not_checked",
                        "node_id": node_id,
                        "class_type": spec.name,
                        "input_name": name,
                        "model_folder": ispec.model_folder,
                        "message": f"{val!r} was not checked against the backend's "
                        f"{ispec.model_folder} files",
                    }
                )
    return found
