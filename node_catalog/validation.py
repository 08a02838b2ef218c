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
- custom `VALIDATE_INPUTS` functions of a few nodes (e.g. LoadImage's file check) cannot be known from
  `/object_info` and are not run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from node_catalog.catalog import (
    FOLDER_ALIASES,
    Catalog,
    InputSpec,
    NodeSpec,
    closest_names,
    looks_like_model_file,
    types_match,
)
from node_catalog.rules import gateway_value_errors

GATEWAY = "gateway"
_MAX_LISTED_OPTIONS = 20
# Core nodes whose VALIDATE_INPUTS checks that a file exists in input/ (ComfyUI then skips the COMBO check).
CUSTOM_FILE_CHECKS: dict[tuple[str, str], str] = {
    ("LoadImage", "image"): "Invalid image file: {}",
    ("LoadImageMask", "image"): "Invalid image file: {}",
    ("LoadVideo", "file"): "Invalid video file: {}",
    ("LoadAudio", "audio"): "Invalid audio file: {}",
    ("LoadLatent", "latent"): "Invalid latent file: {}",
}
_ANNOTATIONS = (" [input]", " [output]", " [temp]")


class _LinkFailure(Exception):
    """ComfyUI's validator would raise here (KeyError/IndexError/TypeError on a bad link)."""

    def __init__(self, exc: Exception, input_name: str, link: Any, reason: str) -> None:
        super().__init__(str(exc))
        self.exc = exc
        self.input_name = input_name
        self.link = link
        self.reason = reason


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


def _top(type_: str, message: str, details: str = "") -> dict[str, Any]:
    return {"type": type_, "message": message, "details": details, "extra_info": {}}


def _input_config(spec: InputSpec, options: Sequence[Any] | None = None) -> list[Any]:
    extra = spec.extra
    if spec.combo_style == "list":
        return [list(options if options is not None else spec.options or ()), extra]
    return [spec.comfy_type, extra]


def _slot_repr(exc: Exception) -> str:
    return str(exc)


class _Validator:
    def __init__(
        self,
        prompt: Mapping[str, Any],
        catalog: Catalog,
        models: Mapping[str, Sequence[str]] | None,
        strict: bool,
    ) -> None:
        self.prompt = prompt
        self.catalog = catalog
        self.strict = strict
        self.models = {FOLDER_ALIASES.get(k, k): list(v) for k, v in (models or {}).items()}
        # node id -> (comfy_valid, errors, strict_valid)
        self.validated: dict[str, tuple[bool, list[dict[str, Any]], bool]] = {}
        self.in_progress: set[str] = set()
        self.warnings: list[dict[str, Any]] = []

    def spec(self, node_id: str) -> NodeSpec:
        spec = self.catalog.get(self.prompt[node_id]["class_type"])
        assert spec is not None  # every class was checked before traversal
        return spec

    def node(self, node_id: str) -> tuple[bool, list[dict[str, Any]], bool]:
        if node_id in self.validated:
            return self.validated[node_id]
        if node_id in self.in_progress:
            # A cycle: ComfyUI recurses until RecursionError and ends with the cycle's nodes invalid but
            # without errors of their own; strict mode adds `dependency_cycle` errors on them.
            return False, [], False
        self.in_progress.add(node_id)
        try:
            result = self._node(node_id)
        finally:
            self.in_progress.discard(node_id)
        self.validated[node_id] = result
        return result

    def _node(self, node_id: str) -> tuple[bool, list[dict[str, Any]], bool]:
        node = self.prompt[node_id]
        if not isinstance(node.get("inputs"), Mapping):
            raise _LinkFailure(KeyError("inputs"), "", None, "the node has no 'inputs' object")
        inputs: Mapping[str, Any] = node["inputs"]
        spec = self.spec(node_id)
        errors: list[dict[str, Any]] = []
        valid = True
        strict_valid = True
        for name, ispec in spec.inputs.items():
            if ispec.section == "hidden":
                continue
            if name not in inputs:
                if ispec.section == "required":
                    errors.append(
                        {
                            "type": "required_input_missing",
                            "message": "Required input is missing",
                            "details": name,
                            "extra_info": {"input_name": name},
                        }
                    )
                continue
            val = inputs[name]
            if isinstance(val, list):
                link_ok, link_strict = self._link(node_id, name, ispec, val, errors)
                valid = valid and link_ok
                strict_valid = strict_valid and link_strict
            else:
                self._value(node_id, spec, name, ispec, val, errors)
        for name in spec.inputs:
            message = CUSTOM_FILE_CHECKS.get((spec.name, name))
            val = inputs.get(name)
            if message is not None and isinstance(val, str) and not self._file_exists(spec.inputs[name], val):
                errors.append(
                    {
                        "type": "custom_validation_failed",
                        "message": "Custom validation failed for node",
                        "details": f"{name} - {message.format(val)}",
                        "extra_info": {"input_name": name},
                    }
                )
        comfy_errors = [e for e in errors if e["extra_info"].get("origin") != GATEWAY]
        comfy_valid = valid and not comfy_errors
        return comfy_valid, errors, comfy_valid and strict_valid and not errors

    def _link(
        self, node_id: str, name: str, ispec: InputSpec, val: list[Any], errors: list[dict[str, Any]]
    ) -> tuple[bool, bool]:
        info = _input_config(ispec)
        if len(val) != 2:
            errors.append(
                {
                    "type": "bad_linked_input",
                    "message": "Bad linked input, must be a length-2 list of [node_id, slot_index]",
                    "details": name,
                    "extra_info": {"input_name": name, "input_config": info, "received_value": val},
                }
            )
            return True, True
        o_id, slot = val
        try:
            source = self.prompt[o_id]
        except (KeyError, TypeError) as exc:
            raise _LinkFailure(
                exc, name, val, f"input {name!r} links to node {o_id!r}, which is not in the workflow"
            ) from exc
        src_spec = self.catalog.get(source["class_type"])
        assert src_spec is not None
        out_types = tuple(o.type for o in src_spec.outputs)
        try:
            received = out_types[slot]
        except (IndexError, TypeError) as exc:
            raise _LinkFailure(
                exc,
                name,
                val,
                f"input {name!r} links to output slot {slot!r} of node "
                f"{o_id!r} ({source['class_type']}), which has {len(out_types)} "
                "output(s)",
            ) from exc
        if isinstance(slot, bool) or slot < 0:
            errors.append(
                self._gateway(
                    "bad_linked_input",
                    "Bad linked input, slot must be a non-negative integer",
                    name,
                    {"input_config": info, "received_value": val},
                )
            )
        if not self._type_ok(received, ispec):
            errors.append(
                {
                    "type": "return_type_mismatch",
                    "message": "Return type mismatch between linked nodes",
                    "details": f"{name}, received_type({received}) mismatch input_type({ispec.comfy_type})",
                    "extra_info": {
                        "input_name": name,
                        "input_config": info,
                        "received_type": received,
                        "linked_node": val,
                    },
                }
            )
            return True, True
        try:
            ok, _, strict_ok = self.node(o_id)
        except _LinkFailure as failure:
            reason = failure.reason
            self.validated[o_id] = (
                False,
                [
                    {
                        "type": "exception_during_inner_validation",
                        "message": "Exception when validating inner node",
                        "details": _slot_repr(failure.exc),
                        "extra_info": {
                            "input_name": name,
                            "input_config": info,
                            "exception_message": _slot_repr(failure.exc),
                            "exception_type": type(failure.exc).__name__,
                            "traceback": [],
                            "linked_node": val,
                            "reason": reason,
                        },
                    }
                ],
                False,
            )
            return False, False
        return ok, strict_ok

    @staticmethod
    def _type_ok(received: str, ispec: InputSpec) -> bool:
        if ispec.combo_style == "list":  # an options list only takes a `*` output
            return received == "*"
        return types_match(received, ispec.type)

    def _gateway(
        self, type_: str, message: str, name: str, extra: dict[str, Any], details: str | None = None
    ) -> dict[str, Any]:
        return {
            "type": type_,
            "message": message,
            "details": details if details is not None else name,
            "extra_info": {"input_name": name, **extra, "origin": GATEWAY},
        }

    def _value(
        self,
        node_id: str,
        spec: NodeSpec,
        name: str,
        ispec: InputSpec,
        val: Any,
        errors: list[dict[str, Any]],
    ) -> None:
        info = _input_config(ispec)
        if isinstance(val, Mapping) and "__value__" in val:
            val = val["__value__"]
        try:
            if ispec.comfy_type == "INT":
                val = int(val)
            elif ispec.comfy_type == "FLOAT":
                val = float(val)
            elif ispec.comfy_type == "STRING":
                val = str(val)
            elif ispec.comfy_type == "BOOLEAN":
                val = bool(val)
        except Exception as exc:
            errors.append(
                {
                    "type": "invalid_input_type",
                    "message": f"Failed to convert an input value to a {ispec.comfy_type} value",
                    "details": f"{name}, {val}, {exc}",
                    "extra_info": {
                        "input_name": name,
                        "input_config": info,
                        "received_value": val,
                        "exception_message": str(exc),
                    },
                }
            )
            return
        extra = ispec.extra
        try:
            if "min" in extra and val < extra["min"]:
                errors.append(
                    {
                        "type": "value_smaller_than_min",
                        "message": "Value {} smaller than min of {}".format(val, extra["min"]),
                        "details": name,
                        "extra_info": {"input_name": name, "input_config": info, "received_value": val},
                    }
                )
                return
            if "max" in extra and val > extra["max"]:
                errors.append(
                    {
                        "type": "value_bigger_than_max",
                        "message": "Value {} bigger than max of {}".format(val, extra["max"]),
                        "details": name,
                        "extra_info": {"input_name": name, "input_config": info, "received_value": val},
                    }
                )
                return
        except TypeError as exc:
            errors.append(
                self._gateway(
                    "invalid_input_type",
                    f"Value of type {type(val).__name__} cannot be compared with the limits of {name}",
                    name,
                    {"input_config": info, "received_value": val, "exception_message": str(exc)},
                )
            )
            return
        if (spec.name, name) in CUSTOM_FILE_CHECKS:
            return  # ComfyUI skips min/max/COMBO for inputs its custom validation checks
        if ispec.combo_style == "list" and self._combo_error(name, ispec, val, errors):
            return
        if self.strict:
            errors.extend(gateway_value_errors(spec, ispec, val, info, self.options_for(ispec)))

    def _file_exists(self, ispec: InputSpec, val: str) -> bool:
        """ComfyUI's exists_annotated_filepath against the known input files (unknown -> assume present)."""
        for note in _ANNOTATIONS:
            if val.endswith(note):
                if note != " [input]":
                    return True  # output/ and temp/ are not listed anywhere we can see
                val = val[: -len(note)]
        files = self.options_for(ispec)
        return files is None or val in files

    def options_for(self, ispec: InputSpec) -> Sequence[Any] | None:
        """The choices the backend would offer; None when they are unknown (a snapshot's model lists)."""
        options: Sequence[Any] = ispec.options or ()
        folder = ispec.model_folder
        if folder is None:
            return options
        if folder in self.models:
            # built-in choices such as VAELoader's "pixel_space" stay valid next to the files
            return [*self.models[folder], *(o for o in options if not looks_like_model_file(o))]
        return options if self.catalog.models_authoritative else None

    def _combo_error(self, name: str, ispec: InputSpec, val: Any, errors: list[dict[str, Any]]) -> bool:
        folder = ispec.model_folder
        options = self.options_for(ispec)
        if options is None:
            return False
        try:
            present = val in options
        except TypeError:
            present = False
        if present:
            return False
        config: list[Any] | None = _input_config(ispec, options)
        if len(options) > _MAX_LISTED_OPTIONS:
            list_info, config = f"(list of length {len(options)})", None
        else:
            list_info = str(list(options))
        extra: dict[str, Any] = {"input_name": name, "input_config": config, "received_value": val}
        if self.strict and folder is not None:
            extra["model_folder"] = folder
            extra["closest"] = closest_names(str(val), [str(o) for o in options])
        errors.append(
            {
                "type": "value_not_in_list",
                "message": "Value not in list",
                "details": f"{name}: '{val}' not in {list_info}",
                "extra_info": extra,
            }
        )
        return True


def _cycles(prompt: Mapping[str, Any]) -> list[list[str]]:
    """Strongly connected groups of nodes linked in a loop (ComfyUI recurses until RecursionError)."""
    from node_catalog.graph import link_cycles

    return link_cycles(prompt)


def validate(
    workflow: Mapping[str, Any],
    catalog: Catalog,
    *,
    models: Mapping[str, Sequence[str]] | None = None,
    strict: bool = True,
    partial_execution_targets: Sequence[str] | None = None,
) -> ValidationReport:
    """Validate an API-format workflow; see the module docstring for what `strict` adds."""
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

    v = _Validator(workflow, catalog, models, strict)
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
    comfy_good: list[str] = []
    for out in outputs:
        try:
            comfy_ok, reasons, strict_ok = v.node(out)
        except _LinkFailure as failure:
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
