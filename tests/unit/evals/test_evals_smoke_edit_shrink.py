"""The shrunk copy of an edit graph: ImageScaleToTotalPixels (which makes the latent an edit graph samples)
goes to its smallest target, so the run no longer encodes, samples and decodes a 1-megapixel image; the nodes
stay the same, and its output is checked for clean pixels, not for 64x64 (the node sets the size)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from evals.smoke import MEGAPIXELS, STEPS, downscaled
from node_catalog import Catalog

ROOT = Path(__file__).resolve().parents[3]


def qwen_edit_graph() -> dict[str, Any]:
    """The composer's Qwen-Image-Edit 2509 fragment as an API graph, with its input image and saver."""
    family = json.loads((ROOT / "agents" / "compose" / "fragments" / "qwen_image.json").read_text())
    (fragment,) = [f for f in family["fragments"] if f["name"] == "qwen_image_edit.edit"]
    graph: dict[str, Any] = json.loads(json.dumps(fragment["nodes"]))
    graph["load"] = {"class_type": "LoadImage", "inputs": {"image": "photo.png"}}
    graph["scale"]["inputs"]["image"] = ["load", 0]
    graph["save"] = {"class_type": "SaveImage", "inputs": {"images": ["decode", 0], "filename_prefix": "x"}}
    return graph


def test_an_edit_graph_samples_its_smallest_scaled_image() -> None:
    original = qwen_edit_graph()
    run = downscaled(original)
    assert original == qwen_edit_graph()
    assert {k: n["class_type"] for k, n in run.workflow.items()} == {
        k: n["class_type"] for k, n in original.items()
    }
    assert original["scale"]["inputs"]["megapixels"] == 1.0
    assert run.workflow["scale"]["inputs"]["megapixels"] == MEGAPIXELS
    assert run.workflow["sampler"]["inputs"]["steps"] == STEPS
    assert (run.expect_frames, run.expect_size) == (None, None)


def test_the_megapixel_target_is_the_smallest_the_node_accepts() -> None:
    spec = Catalog.bundled()["ImageScaleToTotalPixels"].inputs["megapixels"]
    assert spec.min == MEGAPIXELS
