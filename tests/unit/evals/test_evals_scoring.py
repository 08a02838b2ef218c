"""Metrics on hand-made graphs with known answers."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
from evals_handmade import fake_validator, hunyuan_t2v, load, red_video

from evals import graph_facts
from evals.cases import Expect, Range
from evals.metrics import CaseResult, alignment_of, compute_metrics, failure_reasons, percentile
from evals.scoring import Check, Problem, check_expectations, forgive_present_files, problems_from_report

T2V_EXPECT = Expect(
    task="text-to-video",
    width=1280,
    height=720,
    frames=121,
    fps=24,
    contains=["red fox"],
    nodes=["EmptyHunyuanLatentVideo", "SaveVideo"],
    seed=7,
    output="video",
)
INTENT = {"task": "text-to-video"}


def score(expect: Expect, workflow: dict[str, Any], intent: dict[str, Any] | None = INTENT) -> float:
    return alignment_of(check_expectations(expect, workflow, intent), True)


def test_correct_graph_meets_every_check() -> None:
    checks = check_expectations(T2V_EXPECT, hunyuan_t2v(seed=7), INTENT)
    assert [c.name for c in checks if not c.ok] == []
    assert len(checks) == 10
    assert score(T2V_EXPECT, hunyuan_t2v(seed=7)) == 1.0


def test_wrong_frame_count_lowers_alignment_by_one_check() -> None:
    checks = check_expectations(T2V_EXPECT, hunyuan_t2v(seed=7, frames=73), INTENT)
    failed = [c for c in checks if not c.ok]
    assert [(c.name, c.actual, c.node) for c in failed] == [("frames", [73.0], "45")]
    assert score(T2V_EXPECT, hunyuan_t2v(seed=7, frames=73)) == pytest.approx(9 / 10)


def test_missing_node_lowers_alignment_and_names_the_node() -> None:
    g = hunyuan_t2v(seed=7)
    # Swap the Hunyuan latent for a plain image latent: the expected node is gone.
    g["45"] = {"class_type": "EmptyLatentImage", "inputs": {"width": 1280, "height": 720, "batch_size": 1}}
    checks = check_expectations(T2V_EXPECT, g, INTENT)
    failed = {(c.name, c.expected) for c in checks if not c.ok}
    assert ("nodes", "EmptyHunyuanLatentVideo") in failed
    assert ("frames", 121) in failed  # the latent carried the length too
    assert score(T2V_EXPECT, g) == pytest.approx(8 / 10)


def test_ranges_and_size_pairs() -> None:
    e = Expect(width=Range(min=832, max=864), height=480, frames=Range(min=97, max=153))
    assert score(e, hunyuan_t2v(width=848, height=480, frames=121)) == 1.0
    assert score(e, hunyuan_t2v(width=896, height=480, frames=161)) == pytest.approx(1 / 3)


def test_task_from_intent_first_then_from_the_graph() -> None:
    e = Expect(task="image-to-video")
    assert score(e, hunyuan_t2v(), {"task": "Image to Video"}) == 1.0
    assert score(e, hunyuan_t2v(), None) == 0.0  # the graph loads no image: text-to-video
    assert graph_facts.infer_task(red_video()) == "text-to-video"


def test_negative_text_read_from_the_negative_input_or_the_intent() -> None:
    g = copy.deepcopy(load("09_hunyuan_t2v_official.prompt.json"))
    e = Expect(negative_contains=["blurry"], contains=["fennec"])
    assert score(e, g, {"negative_prompt": "Blurry, low quality"}) == 1.0
    assert score(e, g, {}) == 0.5
    # A KSampler graph with a real negative encoder: its text must not count as positive.
    g2 = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd15.safetensors"}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a lighthouse", "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["1", 1]}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512, "batch_size": 1}},
        "5": {
            "class_type": "KSampler",
            "inputs": {
                "model": ["1", 0],
                "positive": ["2", 0],
                "negative": ["3", 0],
                "latent_image": ["4", 0],
                "seed": 3,
                "steps": 20,
                "cfg": 7.0,
                "sampler_name": "euler",
                "scheduler": "normal",
                "denoise": 1.0,
            },
        },
        "6": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}},
        "7": {"class_type": "SaveImage", "inputs": {"images": ["6", 0], "filename_prefix": "x"}},
    }
    assert graph_facts.prompt_texts(g2) == (["a lighthouse"], ["blurry"])
    assert score(Expect(contains=["blurry"]), g2) == 0.0
    assert score(Expect(negative_contains=["blurry"], output="image", seed=3), g2) == 1.0
    assert graph_facts.needs_weights(g2)


def test_output_kind_and_model_free_video_frames() -> None:
    e = Expect(output="video", frames=49, fps=24)
    assert score(e, red_video(frames=49)) == 1.0
    assert score(Expect(output="image"), red_video()) == 0.0
    assert not graph_facts.needs_weights(red_video())
    assert not graph_facts.needs_weights(load("11_pixel_space_vae_tiled.prompt.json"))
    assert graph_facts.needs_weights(hunyuan_t2v())


def test_contains_is_case_and_space_insensitive() -> None:
    assert score(Expect(contains=["RED   Fox"]), hunyuan_t2v(text="A red fox\nin snow")) == 1.0


def test_format_problems() -> None:
    assert graph_facts.format_problems(hunyuan_t2v()) == []
    assert graph_facts.format_problems([]) == ["the workflow is a list, not an object of nodes"]
    assert graph_facts.format_problems({}) == ["the workflow has no node"]
    bad = {"1": {"class_type": "SaveImage", "inputs": {"images": ["9", 0]}}, "2": {"inputs": {}}}
    assert graph_facts.format_problems(bad) == [
        "node 1: input images links to missing node '9'",
        "node 2: no class_type",
    ]


def test_forgiving_present_input_and_model_files() -> None:
    problems = fake_validator(
        {
            "1": {"class_type": "LoadImage", "inputs": {"image": "cat.png"}},
            "2": {
                "class_type": "UNETLoader",
                "inputs": {"unet_name": "x.safetensors", "weight_dtype": "default"},
            },
            "3": {"class_type": "NopeNode", "inputs": {}},
        }
    )
    failing, forgiven = forgive_present_files(problems, input_files={"cat.png"}, assume_models=True)
    assert [p.type for p in failing] == ["invalid_prompt"]
    assert {p.received_value for p in forgiven} == {"cat.png", "x.safetensors"}
    failing, _ = forgive_present_files(problems, input_files=set(), assume_models=False)
    assert len(failing) == 3


def test_problems_from_comfyui_bodies() -> None:
    body = {
        "error": {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation"},
        "node_errors": {
            "5": {
                "errors": [
                    {
                        "type": "value_bigger_than_max",
                        "message": "Value 99999 bigger than max",
                        "details": "width",
                        "extra_info": {"input_name": "width", "received_value": 99999},
                    }
                ],
                "class_type": "EmptyHunyuanLatentVideo",
            }
        },
    }
    [p] = problems_from_report(body["error"], body["node_errors"])
    assert p.reason == "validation:value_bigger_than_max@EmptyHunyuanLatentVideo.width"
    [q] = problems_from_report({"type": "invalid_prompt", "message": "no class Foo"}, {})
    assert q.reason == "validation:invalid_prompt@graph"


def result(
    case_id: str,
    *,
    task: str = "t",
    fv: bool = True,
    passed: bool = True,
    checks: int = 2,
    met: int = 2,
    nodes: tuple[str, ...] = ("A", "B"),
    latency: float = 10.0,
    **kw: Any,
) -> CaseResult:
    cs = [Check(name="frames", ok=i < met) for i in range(checks)]
    r = CaseResult(
        id=case_id,
        task=task,
        prompt="p",
        format_valid=fv,
        passed=passed,
        checks=cs,
        nodes=list(nodes),
        latency_ms=latency,
        **kw,
    )
    r.alignment = alignment_of(cs, fv)
    r.aligned_pass = passed and met == checks
    return r


def test_metrics_known_answers() -> None:
    rs = [
        result("a", nodes=("A", "B"), latency=10),
        result("b", passed=False, nodes=("C",), latency=20, problems=[Problem(type="x", message="m")]),
        result("c", met=1, nodes=("B", "D"), latency=30),
        result("d", fv=False, passed=False, nodes=(), latency=40, error=None),
    ]
    m = compute_metrics(rs)
    assert m.cases == 4
    assert m.format_validity == 0.75
    assert m.pass_rate == 0.5
    assert m.alignment == pytest.approx((1 + 1 + 0.5 + 0) / 4)
    assert m.aligned_pass_rate == 0.25
    assert m.node_diversity == 3  # A, B, D from passing graphs only
    assert m.latency_ms_p50 == 25
    assert m.latency_ms_p95 == pytest.approx(38.5)
    assert m.live_pass_rate is None and m.executed_rate is None


def test_live_and_executed_rates() -> None:
    rs = [
        result("a", live_passed=True, needs_weights=False, executed=True),
        result("b", live_passed=True, needs_weights=False, executed=False, execution_error="failed: boom"),
        result("c", live_passed=True, needs_weights=True),
        result("d", live_passed=False, needs_weights=False),
    ]
    m = compute_metrics(rs)
    assert m.live_pass_rate == 0.75
    assert m.executed_cases == 2
    assert m.executed_rate == 0.5
    reasons = {fr.reason: fr.cases for fr in failure_reasons(rs)}
    assert reasons["execution:failed"] == ["b"]
    assert reasons["live:rejected"] == ["d"]


def test_failure_reasons_name_the_check_and_the_node() -> None:
    r = result("a", checks=0)
    r.checks = [
        Check(name="nodes", ok=False, expected="EmptyHunyuanLatentVideo"),
        Check(name="fps", ok=False),
    ]
    r.problems = [Problem(type="value_not_in_list", message="m", class_type="SaveVideo", input_name="format")]
    assert r.failure_reasons == [
        "validation:value_not_in_list@SaveVideo.format",
        "check:nodes:EmptyHunyuanLatentVideo",
        "check:fps",
    ]


def test_percentile_edges() -> None:
    assert percentile([], 50) is None
    assert percentile([5.0], 95) == 5.0
    assert math.isclose(percentile([1.0, 2.0, 3.0, 4.0], 50) or 0, 2.5)
