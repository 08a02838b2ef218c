"""Hostile requests at the wire: each is a fast 4xx that says what is wrong, never a 5xx or a stalled loop.

The app runs in-process with its lifespan and an unreachable ComfyUI (the bundled catalog validates): every
refusal below happens before the backend would be asked. A 500 would raise here (ASGI transport)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.gateway_support import Gateway, gateway_settings, running_gateway

FAST = 3.0  # seconds: generous for a loaded CI machine, far from the 11-13 s the attacks took


@pytest.fixture()
async def gw(tmp_path: Path) -> AsyncIterator[Gateway]:
    from comfyui_local import free_port

    settings = gateway_settings(
        f"http://127.0.0.1:{free_port()}",
        tmp_path / "hostile.db",
        comfyui_timeout=0.5,
        catalog_source="bundled",
        max_body_bytes=8 * 1024 * 1024,
    )
    async with running_gateway(settings) as gateway:
        yield gateway


async def submit(gw: Gateway, workflow: Any, **body: Any) -> tuple[int, dict[str, Any], float]:
    started = time.monotonic()
    resp = await gw.http.post("/api/workflow/submit", json={"workflow": workflow, **body})
    return resp.status_code, resp.json(), time.monotonic() - started


def save(images: str) -> dict[str, Any]:
    return {"class_type": "SaveImage", "inputs": {"images": [images, 0], "filename_prefix": "x"}}


def empty_image(width: Any = 64, height: Any = 64, batch: Any = 1) -> dict[str, Any]:
    return {
        "class_type": "EmptyImage",
        "inputs": {"width": width, "height": height, "batch_size": batch, "color": 0},
    }


def node_error_types(body: dict[str, Any], node_id: str) -> set[str]:
    return {e["type"] for e in body["node_errors"].get(node_id, {}).get("errors", [])}


async def test_catastrophic_prompt_is_fast(gw: Gateway) -> None:
    # 23 "no a," held the event loop 11-13 s (the negative-list regex was exponential)
    for prompt in ("no a, " * 23 + "!", "no a, " * 660 + "!", "without " + "ab cd, " * 500 + "x"):
        started = time.monotonic()
        resp = await gw.http.post("/api/workflow/generate", json={"prompt": prompt[:4000]})
        assert resp.status_code < 500, resp.text
        assert time.monotonic() - started < FAST, prompt[:40]


async def test_ui_export_bomb_is_refused_before_expansion(gw: Gateway) -> None:
    # Six levels of ten instances each: 3 KB standing for a million nodes.
    subgraphs = []
    for level in range(6):
        inner = "EmptyImage" if level == 5 else f"00000000-0000-4000-8000-00000000000{level + 1}"
        nodes = [{"id": i, "type": inner, "mode": 0, "widgets_values": [8, 8, 1, 0]} for i in range(10)]
        subgraphs.append({"id": f"00000000-0000-4000-8000-00000000000{level}", "nodes": nodes, "links": []})
    top = [{"id": i, "type": subgraphs[0]["id"], "mode": 0} for i in range(10)]
    ui = {"nodes": top, "links": [], "definitions": {"subgraphs": subgraphs}}
    status, body, took = await submit(gw, ui)
    assert status == 400 and took < FAST
    assert body["error"]["type"] == "limit_exceeded" and "MAX_UI_NODES" in body["detail"]


@pytest.mark.parametrize(
    "value",
    [
        "/etc/hosts.png [output]",
        "x.png [output]",
        "x.png [temp]",
        "/etc/passwd",
        "../../secret.png",
        "sub/../../secret.png",
        "C:\\Windows\\x.png",
        "..\\x.png",
    ],
)
async def test_loader_paths_stay_inside_comfyui_folders(gw: Gateway, value: str) -> None:
    graph = {"1": {"class_type": "LoadImage", "inputs": {"image": value}}, "2": save("1")}
    status, body, _ = await submit(gw, {"prompt": graph})
    assert status == 400, body
    assert "input_path_not_allowed" in node_error_types(body, "1"), body
    assert "node 1 (LoadImage)" in body["detail"]


async def test_a_plain_input_name_is_no_path_problem(gw: Gateway) -> None:
    graph = {"1": {"class_type": "LoadImage", "inputs": {"image": "sub/cat.png [input]"}}, "2": save("1")}
    status, body, _ = await submit(gw, {"prompt": graph})
    assert status in {400, 503}
    if status == 400:
        assert "input_path_not_allowed" not in node_error_types(body, "1")


async def test_long_chain_is_a_400_not_a_recursion_error(gw: Gateway) -> None:
    graph: dict[str, Any] = {"1": empty_image()}
    for i in range(2, 402):
        graph[str(i)] = {"class_type": "ImageInvert", "inputs": {"image": [str(i - 1), 0]}}
    graph["999"] = save("401")
    status, body, took = await submit(gw, {"prompt": graph})
    assert status == 400 and took < FAST
    assert body["error"]["type"] == "limit_exceeded" and "MAX_GRAPH_DEPTH" in body["detail"]


async def test_too_many_nodes(gw: Gateway) -> None:
    graph = {str(i): empty_image() for i in range(gw.settings.max_nodes + 1)}
    status, body, _ = await submit(gw, {"prompt": graph})
    assert status == 400 and "MAX_NODES" in body["detail"]


@pytest.mark.parametrize("where", ["width", "color"])
async def test_huge_integer_is_a_400(gw: Gateway, where: str) -> None:
    node = empty_image()
    node["inputs"][where] = 10**400
    status, body, _ = await submit(gw, {"prompt": {"1": node, "2": save("1")}})
    assert status == 400 and "401 digits" in body["detail"] and f"1.inputs.{where}" in body["detail"]


async def test_huge_integer_in_generation_is_a_422(gw: Gateway) -> None:
    both = ("/api/workflow/generate", "/api/video/generate")
    for body, paths in (
        ({"prompt": "a cat", "extra_params": {"width": 10**30}}, both),
        ({"prompt": "a cat", "extra_params": {"a": {"nested": 1}}}, both),
        ({"prompt": "a cat", "seed": 10**30}, both[:1]),  # the video request has no seed
    ):
        for path in paths:
            resp = await gw.http.post(path, json=body)
            assert resp.status_code == 422, (path, body, resp.text)
            assert resp.json()["code"] == "malformed_request"


async def test_nesting_and_strings_are_bounded(gw: Gateway) -> None:
    deep: Any = "x"
    for _ in range(100):
        deep = {"a": deep}
    node = {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": deep}}
    status, body, _ = await submit(gw, {"prompt": {"1": empty_image(), "2": node}})
    assert status == 400 and "MAX_JSON_NESTING" in body["detail"]

    long = "x" * (gw.settings.max_string_length + 1)
    node = {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": long}}
    status, body, _ = await submit(gw, {"prompt": {"1": empty_image(), "2": node}})
    assert status == 400 and "MAX_STRING_LENGTH" in body["detail"]

    resp = await gw.http.post(
        "/api/workflow/submit", json={"workflow": {"1": empty_image()}, "prompt": "x" * 5000}
    )
    assert resp.status_code == 422


async def test_json_nested_past_the_parser_is_a_422(gw: Gateway) -> None:
    raw = b'{"workflow": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    resp = await gw.http.post(
        "/api/workflow/submit", content=raw, headers={"content-type": "application/json"}
    )
    assert resp.status_code == 422 and resp.json()["code"] == "malformed_request"


async def test_body_limit_is_sized_for_workflows_uploads_keep_theirs(gw: Gateway) -> None:
    assert gw.settings.max_body_bytes == 8 * 1024 * 1024 < gw.settings.max_upload_bytes
    big = b"x" * (gw.settings.max_body_bytes + 1)
    resp = await gw.http.post(
        "/api/workflow/submit", content=big, headers={"content-type": "application/json"}
    )
    assert resp.status_code == 413 and "MAX_BODY_BYTES" in resp.json()["detail"]
    upload = await gw.http.post("/api/inputs", files={"file": ("big.png", big, "image/png")})
    assert upload.status_code != 413  # the upload limit is its own (the backend is down here: 503)


@pytest.mark.parametrize(
    "node",
    [
        empty_image(8192, 8192, 4096),
        {
            "class_type": "EmptyHunyuanLatentVideo",
            "inputs": {"width": 1280, "height": 720, "length": 1001, "batch_size": 4},
        },
    ],
)
async def test_cost_policy_names_the_node(gw: Gateway, node: dict[str, Any]) -> None:
    status, body, _ = await submit(gw, {"prompt": {"7": node, "2": save("7")}})
    assert status == 400
    assert "cost_exceeded" in node_error_types(body, "7")
    assert "node 7" in body["detail"] and "MAX_PIXELS_PER_GRAPH" in body["detail"]


async def test_validation_has_a_time_budget(tmp_path: Path) -> None:
    from comfyui_local import free_port

    settings = gateway_settings(
        f"http://127.0.0.1:{free_port()}",
        tmp_path / "budget.db",
        comfyui_timeout=0.5,
        catalog_source="bundled",
        validation_budget=1e-6,
    )
    async with running_gateway(settings) as gw:
        status, body, _ = await submit(gw, {"prompt": {"1": empty_image(), "2": save("1")}})
        assert status == 400 and "VALIDATION_BUDGET" in body["detail"]
