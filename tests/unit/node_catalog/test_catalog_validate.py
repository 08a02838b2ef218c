"""validate(): ComfyUI's answers in samples/errors.json reproduced exactly, plus the extra checks."""

from __future__ import annotations

import copy
import json
from collections import Counter
from typing import Any

import pytest

from node_catalog import Catalog, validate
from node_catalog.validation import GATEWAY
from tests.support import SAMPLES, load_sample

ERRORS: dict[str, Any] = json.loads((SAMPLES / "errors.json").read_text())
PROMPT_CASES = {
    k: v
    for k, v in ERRORS.items()
    if isinstance(v.get("request"), dict) and isinstance(v["request"].get("prompt"), dict)
}
# keys ComfyUI puts in extra_info that we cannot reproduce byte for byte (server-side tracebacks)
_VOLATILE = {"traceback"}
# keys we add on top of ComfyUI's (documented in node_catalog.validation)
_OURS = {"reason", "input_name", "linked_node", "closest", "model_folder"}


@pytest.fixture(scope="module")
def captured() -> Catalog:
    """The catalog of the very backend that produced errors.json (its model lists are authoritative)."""
    return Catalog.from_object_info(json.loads((SAMPLES.parent / "object_info.json").read_text()))


def _norm_error(err: dict[str, Any], comfy_keys: set[str] | None = None) -> str:
    extra = {k: v for k, v in err["extra_info"].items() if k not in _VOLATILE}
    if comfy_keys is not None:
        extra = {k: v for k, v in extra.items() if k in comfy_keys or k not in _OURS}
    return json.dumps({**err, "extra_info": extra}, sort_keys=True)


@pytest.mark.parametrize("name", sorted(PROMPT_CASES))
def test_reproduces_comfyui_answer(name: str, captured: Catalog) -> None:
    case = PROMPT_CASES[name]
    body = case["body"]
    report = validate(copy.deepcopy(case["request"]["prompt"]), captured, strict=False)
    assert report.comfy_accepts == (case["status"] == 200)
    if case["status"] == 200:
        assert report.ok and report.error is None and body["node_errors"] == report.node_errors == {}
        return
    assert report.error == body["error"]
    assert set(report.node_errors) == set(body["node_errors"])
    for node_id, want in body["node_errors"].items():
        got = report.node_errors[node_id]
        assert got["class_type"] == want["class_type"]
        assert set(got["dependent_outputs"]) == set(want["dependent_outputs"])
        want_errs = Counter(_norm_error(e) for e in want["errors"])
        got_errs = Counter(
            _norm_error(e, set(e["extra_info"]) & {k for w in want["errors"] for k in w["extra_info"]})
            for e in got["errors"]
        )
        assert got_errs == want_errs
    assert report.comfy_body() == {"error": body["error"], "node_errors": report.node_errors}


def test_link_errors_explain_themselves(captured: Catalog) -> None:
    report = validate(PROMPT_CASES["link_to_missing_node"]["request"]["prompt"], captured)
    err = report.node_errors["2"]["errors"][0]
    assert err["extra_info"]["exception_type"] == "KeyError"
    assert "not in the workflow" in err["extra_info"]["reason"]
    inner = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0}},
        "3": {"class_type": "ImageInvert", "inputs": {"image": ["1", 7]}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "x"}},
    }
    report = validate(inner, captured)
    # ComfyUI blames the node below the one holding the bad link, with the parent's input name
    assert list(report.node_errors) == ["3"]
    err = report.node_errors["3"]["errors"][0]
    assert err["type"] == "exception_during_inner_validation" and err["details"] == "tuple index out of range"
    assert err["extra_info"]["linked_node"] == ["3", 0] and "1 output" in err["extra_info"]["reason"]


def test_bad_linked_input_and_missing_inputs_object(captured: Catalog) -> None:
    wf = {"1": {"class_type": "SaveImage", "inputs": {"images": ["1", 0, 2], "filename_prefix": "x"}}}
    report = validate(wf, captured)
    assert report.node_errors["1"]["errors"][0]["type"] == "bad_linked_input"
    report = validate({"1": {"class_type": "SaveImage"}}, captured)
    assert report.node_errors["1"]["errors"][0]["type"] == "exception_during_validation"


def test_hunyuan_sample_valid_with_models(captured: Catalog) -> None:
    wf = load_sample("09_hunyuan_t2v_official.prompt.json")
    models = {
        "diffusion_models": ["hunyuan_video_t2v_720p_bf16.safetensors"],
        "clip": ["clip_l.safetensors", "llava_llama3_fp8_scaled.safetensors"],
        "vae": ["hunyuan_video_vae_bf16.safetensors"],
    }
    report = validate(wf, captured, models=models)
    assert report.ok, report.summary()
    assert report.good_outputs == ["80"] and report.warnings == []


def test_missing_model_lists_closest_names(captured: Catalog) -> None:
    wf = load_sample("09_hunyuan_t2v_official.prompt.json")
    models = {
        "diffusion_models": ["hunyuan_video_720_cfgdistill_fp8_e4m3fn.safetensors", "flux1-dev.safetensors"]
    }
    report = validate(wf, Catalog.bundled(), models=models)
    assert not report.ok and not report.comfy_accepts
    err = report.node_errors["12"]["errors"][0]
    assert (
        err["type"] == "value_not_in_list" and "origin" not in err["extra_info"]
    )  # ComfyUI would say so too
    assert err["extra_info"]["model_folder"] == "diffusion_models"
    assert err["extra_info"]["closest"][0].startswith("hunyuan_video")
    # the snapshot's (empty) file lists are never used: the other loaders are only warned about
    assert {w["type"] for w in report.warnings} == {"model_not_checked"}


def _gateway_types(report: Any) -> set[tuple[str, str]]:
    return {(n, e["type"]) for n, e in report.errors() if e["extra_info"].get("origin") == GATEWAY}


def test_new_style_combo_is_checked_only_in_strict_mode(captured: Catalog) -> None:
    wf = PROMPT_CASES["combo_v3_not_in_list"]["request"]["prompt"]
    strict = validate(wf, captured)
    assert not strict.ok and strict.comfy_accepts
    assert _gateway_types(strict) == {("2", "value_not_in_list")}
    assert strict.error is not None and strict.error["type"] == "prompt_outputs_failed_validation"
    lenient = validate(wf, captured, strict=False)
    assert lenient.ok and lenient.node_errors == {}


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        ({"width": 850}, "value_not_multiple_of_step"),
        ({"height": 470}, "value_not_multiple_of_step"),
        ({"length": 24}, "invalid_video_length"),
        ({"length": 73}, None),
        ({"width": 1280, "height": 720, "length": 129}, None),
    ],
)
def test_hunyuan_video_constraints(captured: Catalog, inputs: dict[str, int], expected: str | None) -> None:
    wf = {
        "1": {
            "class_type": "EmptyHunyuanLatentVideo",
            "inputs": {"width": 848, "height": 480, "length": 25, "batch_size": 1, **inputs},
        },
        "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}},
    }
    report = validate(wf, captured)
    assert report.comfy_accepts
    if expected is None:
        assert report.ok, report.summary()
    else:
        ((node, type_),) = _gateway_types(report)
        assert (node, type_) == ("1", expected)
        suggestion = report.node_errors["1"]["errors"][0]["extra_info"]["suggestion"]
        assert validate(
            {**wf, "1": {**wf["1"], "inputs": {**wf["1"]["inputs"], **{next(iter(inputs)): suggestion}}}},
            captured,
        ).ok


def test_int_step_grid(captured: Catalog) -> None:
    wf = {
        "1": {"class_type": "EmptyLatentImage", "inputs": {"width": 100, "height": 64, "batch_size": 1}},
        "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}},
    }
    assert _gateway_types(validate(wf, captured)) == {("1", "value_not_multiple_of_step")}
    wf["1"]["inputs"]["width"] = 104
    assert validate(wf, captured).ok


def test_cycles_are_reported(captured: Catalog) -> None:
    wf = {
        "1": {"class_type": "ImageInvert", "inputs": {"image": ["2", 0]}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "x"}},
    }
    report = validate(wf, captured)
    assert not report.ok and report.good_outputs == []
    assert _gateway_types(report) == {("1", "dependency_cycle"), ("2", "dependency_cycle")}
    assert report.node_errors["1"]["dependent_outputs"] == ["3"]


def test_partial_validity_is_not_ok(captured: Catalog) -> None:
    good = load_sample("01_emptyimage_saveimage.prompt.json")
    wf = {**good, "9": {"class_type": "SaveImage", "inputs": {"images": ["1", 0]}}}
    report = validate(wf, captured)
    assert report.comfy_accepts and not report.ok
    assert report.good_outputs == ["2"] and report.node_errors["9"]["dependent_outputs"] == ["9"]
    assert report.error is not None and "filename_prefix" in report.error["details"]


def test_warnings_for_unused_nodes_and_unknown_inputs(captured: Catalog) -> None:
    wf = load_sample("01_emptyimage_saveimage.prompt.json")
    wf = {
        **wf,
        "7": {
            "class_type": "EmptyImage",
            "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0, "colour": 3},
        },
    }
    report = validate(wf, captured)
    assert report.ok
    kinds = {(w["type"], w["node_id"]) for w in report.warnings}
    assert kinds == {("unused_node", "7"), ("unknown_input", "7")}


def test_input_files_follow_loadimage_custom_validation(captured: Catalog) -> None:
    wf = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "cat.png"}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}},
    }
    report = validate(wf, captured, strict=False)
    err = report.node_errors["1"]["errors"][0]
    assert err == {
        "type": "custom_validation_failed",
        "message": "Custom validation failed for node",
        "details": "image - Invalid image file: cat.png",
        "extra_info": {"input_name": "image"},
    }
    assert validate(wf, captured, models={"input": ["cat.png"]}).ok
    assert validate(wf, Catalog.bundled()).ok  # unknown files: not guessed


def test_not_a_workflow(captured: Catalog) -> None:
    report = validate([1, 2], captured)  # type: ignore[arg-type]
    assert not report.ok and report.error is not None and report.error["type"] == "invalid_prompt"
    report = validate({"1": "x"}, captured)
    assert report.error is not None and "class_type" in report.error["message"]


def test_unknown_class_suggests_closest(captured: Catalog) -> None:
    report = validate({"1": {"class_type": "KSampler2", "inputs": {}}}, captured)
    assert report.node_errors == {} and report.error is not None
    assert report.warnings[0]["closest"][0] == "KSampler"


def test_partial_execution_targets_limit_the_outputs(captured: Catalog) -> None:
    good = load_sample("01_emptyimage_saveimage.prompt.json")
    wf = {**good, "9": {"class_type": "SaveImage", "inputs": {"images": ["1", 0]}}}
    report = validate(wf, captured, partial_execution_targets=["2"])
    assert report.ok and report.outputs == ["2"]
    report = validate(wf, captured, partial_execution_targets=["nope"])
    assert report.error is not None and report.error["type"] == "prompt_no_outputs"


def test_required_files_lists_models_and_inputs(captured: Catalog) -> None:
    from node_catalog.files import required_files

    wf = load_sample("09_hunyuan_t2v_official.prompt.json")
    wf["90"] = {"class_type": "LoadImage", "inputs": {"image": "cat.png"}}
    assert required_files(wf, captured) == {
        "text_encoders": ["clip_l.safetensors", "llava_llama3_fp8_scaled.safetensors"],
        "diffusion_models": ["hunyuan_video_t2v_720p_bf16.safetensors"],
        "vae": ["hunyuan_video_vae_bf16.safetensors"],
        "input": ["cat.png"],
    }


def test_deep_chain_is_reported_not_recursed() -> None:
    """ComfyUI's validation recurses once per link; a chain past SAFE_DEPTH is an error, never a crash."""
    from node_catalog import Catalog
    from node_catalog.validation import SAFE_DEPTH

    graph: dict[str, Any] = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}}
    }
    for i in range(2, 2000):
        graph[str(i)] = {"class_type": "ImageInvert", "inputs": {"image": [str(i - 1), 0]}}
    graph["out"] = {"class_type": "SaveImage", "inputs": {"images": ["1999", 0], "filename_prefix": "x"}}
    report = validate(graph, Catalog.bundled())
    assert not report.ok and report.error is not None
    assert report.error["type"] == "limit_exceeded" and str(SAFE_DEPTH) in report.error["details"]


def test_limits_are_walked_iteratively() -> None:
    from node_catalog.limits import GraphLimits, LimitExceeded, check_document, longest_chain

    deep: Any = 1
    for _ in range(100_000):  # far past Python's recursion limit
        deep = [deep]
    with pytest.raises(LimitExceeded, match="MAX_JSON_NESTING"):
        check_document(deep, GraphLimits())
    chain = {str(i): {"class_type": "X", "inputs": {"a": [str(i - 1), 0]}} for i in range(1, 50_000)}
    assert longest_chain(chain) == 49_999
    with pytest.raises(LimitExceeded, match="64-bit"):
        check_document({"a": [2**64]}, GraphLimits())
    with pytest.raises(LimitExceeded, match="finite"):
        check_document({"a": float("inf")}, GraphLimits())
