"""Model and input files: what a model file name looks like, which files a workflow names per folder."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from node_catalog.catalog import Catalog

# Weight file extensions ComfyUI's folder_paths lists (supported_pt_extensions), plus .gguf and .onnx.
MODEL_EXTENSIONS = (".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".gguf", ".sft", ".pt2", ".pkl", ".onnx")


def looks_like_model_file(value: Any) -> bool:
    return isinstance(value, str) and value.lower().endswith(MODEL_EXTENSIONS)


def required_files(workflow: Mapping[str, Any], catalog: Catalog) -> dict[str, list[str]]:
    """Folder ("checkpoints", "vae", "input", ...) -> the file names the workflow's widget values name.

    Useful to check a backend before queueing, or to create placeholder files for acceptance tests.
    """
    used: dict[str, list[str]] = {}
    for node in workflow.values():
        if not isinstance(node, Mapping):
            continue
        spec = catalog.get(str(node.get("class_type")))
        inputs = node.get("inputs")
        if spec is None or not isinstance(inputs, Mapping):
            continue
        for name, value in inputs.items():
            ispec = spec.inputs.get(name)
            if ispec is not None and ispec.model_folder and isinstance(value, str) and value:
                names = used.setdefault(ispec.model_folder, [])
                if value not in names:
                    names.append(value)
    return used
