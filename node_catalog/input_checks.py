"""Per-node checks mirroring ComfyUI 0.3.75's `validate_inputs` (execution.py), with the gateway's extras.

`NodeValidator.node(id)` walks links upstream exactly as ComfyUI does (no recursion past a type mismatch, a
cache of validated nodes, exceptions for links to missing nodes or slots) and returns
`(comfy_valid, errors, strict_valid)`; errors beyond ComfyUI's carry `extra_info["origin"] == "gateway"`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from node_catalog.catalog import Catalog
from node_catalog.files import looks_like_model_file
from node_catalog.rules import GATEWAY, gateway_value_errors
from node_catalog.search import closest_names
from node_catalog.specs import FOLDER_ALIASES, InputSpec, NodeSpec, types_match

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


class LinkFailure(Exception):
    """ComfyUI's validator would raise here (KeyError/IndexError/TypeError on a bad link)."""

    def __init__(self, exc: Exception, input_name: str, link: Any, reason: str) -> None:
        super().__init__(str(exc))
        self.exc = exc
        self.input_name = input_name
        self.link = link
        self.reason = reason


def _input_config(spec: InputSpec, options: Sequence[Any] | None = None) -> list[Any]:
    extra = spec.extra
    if spec.combo_style == "list":
        return [list(options if options is not None else spec.options or ()), extra]
    return [spec.comfy_type, extra]


def _slot_repr(exc: Exception) -> str:
    return str(exc)


class NodeValidator:
    """Validates the nodes one workflow's outputs depend on, caching each node's verdict like ComfyUI."""

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
            raise LinkFailure(KeyError("inputs"), "", None, "the node has no 'inputs' object")
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
            raise LinkFailure(
                exc, name, val, f"input {name!r} links to node {o_id!r}, which is not in the workflow"
            ) from exc
        src_spec = self.catalog.get(source["class_type"])
        assert src_spec is not None
        out_types = tuple(o.type for o in src_spec.outputs)
        try:
            received = out_types[slot]
        except (IndexError, TypeError) as exc:
            raise LinkFailure(
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
        except LinkFailure as failure:
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
