"""Every bundled template is a verified graph: valid against the bundled catalog with its models provided,
parameters consistent with the catalog's ranges, and rendering refuses bad values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from node_catalog import Catalog, validate
from pipeline.templates import TemplateLibrary, TemplateNotFound, TemplateParameterError

LIBRARY = TemplateLibrary.bundled()
INPUTS = {"image": ["example.png"], "video": ["example.mp4"]}


@pytest.mark.parametrize("name", LIBRARY.names())
def test_template_validates_with_its_models(name: str) -> None:
    template = LIBRARY.get(name)
    catalog = Catalog.bundled()
    report = validate(template.render(), catalog, models=template.models())
    assert report.ok, report.summary()
    for pname, spec in template.parameters.items():
        for node_id, input_name in spec.targets:
            ispec = catalog[template.workflow[node_id]["class_type"]].inputs[input_name]
            if spec.min is not None and ispec.min is not None:
                assert spec.min >= ispec.min, (pname, input_name)
            if spec.max is not None and ispec.max is not None:
                assert spec.max <= ispec.max, (pname, input_name)
            if spec.type == "model":
                assert ispec.model_folder in {spec.folder, "clip" if spec.folder == "text_encoders" else None}


def test_library_covers_the_tasks() -> None:
    tasks = {task for t in LIBRARY for task in t.tasks}
    assert {"text-to-video", "image-to-video", "video-to-video", "text-to-image", "image-to-image", "upscale",
            "test-video", "test-image"} <= tasks  # fmt: skip
    t2v = LIBRARY.get("hunyuan_t2v")
    classes = {n["class_type"] for n in t2v.workflow.values()}
    assert {"EmptyHunyuanLatentVideo", "SamplerCustomAdvanced", "SaveVideo"} <= classes
    i2v = {n["class_type"] for n in LIBRARY.get("hunyuan_i2v").workflow.values()}
    assert {
        "HunyuanImageToVideo",
        "CLIPVisionLoader",
        "CLIPVisionEncode",
        "TextEncodeHunyuanVideo_ImageToVideo",
    } <= i2v
    assert LIBRARY.select("text-to-image", "flux")[0].name == "flux_t2i"


def test_render_checks_and_snaps_values() -> None:
    t2v = LIBRARY.get("hunyuan_t2v")
    graph = t2v.render({"frames": 50, "width": 1000, "prompt": "a fox"})
    latent = next(n for n in graph.values() if n["class_type"] == "EmptyHunyuanLatentVideo")
    assert latent["inputs"]["length"] == 49 and latent["inputs"]["width"] == 1008
    with pytest.raises(TemplateParameterError, match="at most"):
        t2v.render({"steps": 100000})
    with pytest.raises(TemplateParameterError, match="no parameter"):
        t2v.render({"bogus": 1})
    with pytest.raises(TemplateParameterError, match="number"):
        t2v.render({"steps": "many"})
    with pytest.raises(TemplateNotFound):
        LIBRARY.get("nope")


def test_user_templates_are_added_and_broken_ones_skipped(tmp_path: Path) -> None:
    mine = json.loads((Path(__file__).parents[3] / "pipeline/templates/test_image.json").read_text())
    mine["name"] = "my_red_square"
    (tmp_path / "mine.json").write_text(json.dumps(mine))
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "bad_target.json").write_text(json.dumps({**mine, "name": "x", "parameters": {
        "w": {"type": "int", "default": 1, "targets": [["99", "width"]]}}}))  # fmt: skip
    library = TemplateLibrary.load(tmp_path)
    assert "my_red_square" in library and library.get("my_red_square").source == "user"
    assert "x" not in library and len(library) == len(LIBRARY) + 1
