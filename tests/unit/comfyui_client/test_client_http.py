"""ComfyClient's HTTP routes against httpx.MockTransport: request shapes, answers, error translation."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from _comfy_fakes import load

from comfyui_client import (
    BadRequest,
    BadResponse,
    ComfyClient,
    ComfyError,
    ComfyTimeout,
    ComfyUnavailable,
    NotFound,
    PromptRejected,
)

URL = "http://comfy.test:8188"
GRAPH = load("01_emptyimage_saveimage.prompt.json")
ERRORS: dict[str, dict[str, Any]] = load("errors.json")

Handler = Callable[[httpx.Request], httpx.Response]


def client(handler: Handler, **kwargs: Any) -> ComfyClient:
    return ComfyClient(URL, transport=httpx.MockTransport(handler), **kwargs)


def recorded_answer(case: dict[str, Any]) -> httpx.Response:
    """ComfyUI's recorded answer for an errors.json case, byte for byte in shape."""
    body = case["body"]
    headers = {"Content-Type": case["content_type"]} if case["content_type"] else {}
    content = json.dumps(body).encode() if isinstance(body, dict | list) else str(body).encode()
    return httpx.Response(case["status"], content=content, headers=headers)


async def test_submit_sends_our_client_id_and_a_uuid_prompt_id() -> None:
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append(body)
        return httpx.Response(200, json={"prompt_id": body["prompt_id"], "number": 4, "node_errors": {}})

    async with client(handler) as comfy:
        uuid.UUID(comfy.client_id)
        first = await comfy.submit(GRAPH)
        second = await comfy.submit(GRAPH, extra_data={"extra_pnginfo": {"x": 1}}, front=True)
        chosen = str(uuid.uuid4())
        third = await comfy.submit(GRAPH, prompt_id=chosen)
    assert [b["client_id"] for b in seen] == [comfy.client_id] * 3
    assert first.prompt_id == seen[0]["prompt_id"] and uuid.UUID(first.prompt_id)
    assert first.prompt_id != second.prompt_id and third.prompt_id == chosen
    assert (first.number, first.client_id, first.node_errors) == (4, comfy.client_id, {})
    assert "front" not in seen[0] and "extra_data" not in seen[0]
    assert seen[1]["front"] is True and seen[1]["extra_data"] == {"extra_pnginfo": {"x": 1}}
    assert seen[0]["prompt"] == GRAPH


async def test_submit_keeps_node_errors_of_a_partial_200() -> None:
    node_errors = {"3": {"errors": [{"type": "x"}], "dependent_outputs": ["3"], "class_type": "SaveImage"}}

    def handler(request: httpx.Request) -> httpx.Response:
        pid = json.loads(request.content)["prompt_id"]
        return httpx.Response(200, json={"prompt_id": pid, "number": 0, "node_errors": node_errors})

    async with client(handler) as comfy:
        assert (await comfy.submit(GRAPH)).node_errors == node_errors


async def test_submit_rejects_a_prompt_id_that_is_not_a_uuid() -> None:
    async with client(lambda r: httpx.Response(500)) as comfy:
        with pytest.raises(ValueError, match="UUID"):
            await comfy.submit(GRAPH, prompt_id="job-1")


# POST /prompt rejections (the /view 400s of errors.json have empty bodies and are tested with view).
REJECTED = {
    name: case for name, case in ERRORS.items() if case["status"] == 400 and isinstance(case["body"], dict)
}


@pytest.mark.parametrize("name", sorted(REJECTED))
async def test_every_400_shape_becomes_prompt_rejected_with_node_errors_intact(name: str) -> None:
    case = REJECTED[name]

    async with client(lambda r: recorded_answer(case)) as comfy:
        request = case.get("request")
        prompt = request.get("prompt", {}) if isinstance(request, dict) else GRAPH
        if not isinstance(prompt, dict):
            prompt = GRAPH
        with pytest.raises(PromptRejected) as info:
            await comfy.submit(prompt)
    exc = info.value
    assert exc.status_code == 400
    assert exc.error == case["body"]["error"]
    assert exc.node_errors == case["body"]["node_errors"]
    assert exc.body == case["body"]
    assert exc.error_type == case["body"]["error"]["type"]
    assert exc.error["message"] in str(exc)


def test_errors_json_has_the_expected_400_shapes() -> None:
    types = {c["body"]["error"]["type"] for c in REJECTED.values()}
    assert {"invalid_prompt", "prompt_outputs_failed_validation", "prompt_no_outputs", "no_prompt"} <= types
    assert any(c["body"]["node_errors"] for c in REJECTED.values())


SERVER_500 = {name: case for name, case in ERRORS.items() if case["status"] == 500}


@pytest.mark.parametrize("name", sorted(SERVER_500))
async def test_comfyui_500_text_plain_becomes_bad_response(name: str) -> None:
    case = SERVER_500[name]
    assert case["content_type"].startswith("text/plain")
    async with client(lambda r: recorded_answer(case)) as comfy:
        with pytest.raises(BadResponse) as info:
            await comfy.submit(GRAPH)
    assert info.value.status_code == 500
    assert "Server got itself in trouble" in info.value.body
    assert "HTTP 500" in str(info.value)


@pytest.mark.parametrize("prompt", [[1, 2], "hello", None, 3])
async def test_prompts_comfyui_would_crash_on_are_refused_locally(prompt: Any) -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(500, text="500 Internal Server Error")

    async with client(handler) as comfy:
        with pytest.raises(PromptRejected) as info:
            await comfy.submit(prompt)
    assert calls == []
    assert info.value.error_type == "invalid_prompt" and info.value.node_errors == {}


async def test_a_prompt_that_is_not_json_is_refused_locally() -> None:
    async with client(lambda r: httpx.Response(500)) as comfy:
        with pytest.raises(PromptRejected, match="not valid JSON"):
            await comfy.submit({"1": {"class_type": "X", "inputs": {"v": float("nan")}}})
        with pytest.raises(PromptRejected):
            await comfy.submit({"1": {"class_type": "X", "inputs": {"v": b"bytes"}}})


async def test_non_json_or_shapeless_success_answers_are_bad_responses() -> None:
    async with client(lambda r: httpx.Response(200, text="<html>proxy</html>")) as comfy:
        with pytest.raises(BadResponse, match="non-JSON"):
            await comfy.system_stats()
        with pytest.raises(BadResponse):
            await comfy.submit(GRAPH)
    async with client(lambda r: httpx.Response(200, json=[1])) as comfy:
        for call in (comfy.queue(), comfy.history("x"), comfy.history_all(), comfy.object_info()):
            with pytest.raises(BadResponse):
                await call


async def test_connect_errors_become_comfy_unavailable_naming_the_url() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    async with client(refuse) as comfy:
        with pytest.raises(ComfyUnavailable, match=r"comfy\.test:8188") as info:
            await comfy.queue()
    assert isinstance(info.value.__cause__, httpx.ConnectError)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (httpx.ConnectTimeout("connect timed out"), ComfyUnavailable),
        (httpx.ReadTimeout("read timed out"), ComfyTimeout),
        (httpx.PoolTimeout("pool"), ComfyTimeout),
        (httpx.ReadError("reset by peer"), ComfyUnavailable),
        (httpx.RemoteProtocolError("Server disconnected without sending a response."), ComfyUnavailable),
        (httpx.DecodingError("bad gzip"), BadResponse),
    ],
)
async def test_transport_errors_are_translated(exc: Exception, expected: type[ComfyError]) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise exc

    async with client(fail) as comfy:
        with pytest.raises(expected) as info:
            await comfy.system_stats()
    assert info.value.__cause__ is exc
    assert info.value.url is not None and info.value.url.startswith(URL)


async def test_routes_send_what_comfyui_expects() -> None:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        path = request.url.path
        if path == "/models":
            return httpx.Response(200, json=["checkpoints", "vae"])
        if path == "/models/vae":
            return httpx.Response(200, json=["a.safetensors", "pixel_space"])
        if path == "/object_info":
            return httpx.Response(200, json={"EmptyImage": {}})
        if path == "/object_info/EmptyImage":
            return httpx.Response(200, json={"EmptyImage": {"name": "EmptyImage"}})
        if path == "/system_stats":
            return httpx.Response(200, json=load("../endpoints/system_stats.json"))
        if path == "/history":
            return httpx.Response(200, json=load("01_emptyimage_saveimage.result.json")["history"])
        return httpx.Response(200)

    async with client(handler) as comfy:
        await comfy.delete_pending("a", "b")
        await comfy.delete_pending()
        await comfy.interrupt("p1")
        await comfy.interrupt()
        await comfy.free(unload_models=False)
        await comfy.delete_history("h1")
        assert await comfy.model_folders() == ["checkpoints", "vae"]
        assert await comfy.models("vae") == ["a.safetensors", "pixel_space"]
        assert "EmptyImage" in await comfy.object_info()
        assert (await comfy.object_info("EmptyImage"))["EmptyImage"]["name"] == "EmptyImage"
        assert (await comfy.system_stats())["system"]["comfyui_version"]
        entries = await comfy.history_all(max_items=5, offset=2)
    sent = [(r.method, r.url.path, r.content and json.loads(r.content)) for r in requests]
    assert sent[:5] == [
        ("POST", "/queue", {"delete": ["a", "b"]}),
        ("POST", "/interrupt", {"prompt_id": "p1"}),
        ("POST", "/interrupt", {}),
        ("POST", "/free", {"unload_models": False, "free_memory": True}),
        ("POST", "/history", {"delete": ["h1"]}),
    ]
    assert requests[-1].url.params["max_items"] == "5" and requests[-1].url.params["offset"] == "2"
    ((pid, entry),) = entries.items()
    assert entry.prompt_id == pid and entry.outcome == "success"


async def test_history_none_while_unknown_then_entry() -> None:
    pid = load("01_emptyimage_saveimage.result.json")["prompt_id"]
    answers = [{}, load("01_emptyimage_saveimage.result.json")["history"]]

    async with client(lambda r: httpx.Response(200, json=answers.pop(0))) as comfy:
        assert await comfy.history(pid) is None
        entry = await comfy.history(pid)
    assert entry is not None and entry.files[0].filename == "red_00001_.png"


async def test_404_and_other_4xx_map_to_not_found_and_bad_request() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/models/nope":
            return httpx.Response(404)
        if request.url.path == "/object_info/NoSuchNode":
            return httpx.Response(200, json={})
        return httpx.Response(413, text="Request Entity Too Large")

    async with client(handler) as comfy:
        with pytest.raises(NotFound):
            await comfy.models("nope")
        with pytest.raises(NotFound, match="NoSuchNode"):
            await comfy.object_info("NoSuchNode")
        with pytest.raises(BadRequest) as info:
            await comfy.upload(b"x" * 10, "big.png")
    assert info.value.status_code == 413 and "Too Large" in info.value.body


async def test_view_streams_passes_range_and_maps_errors() -> None:
    data = bytes(range(256)) * 4
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        name = request.url.params["filename"]
        if name == "nope.png":
            return httpx.Response(404)
        if request.url.params["type"] == "bogus" or ".." in name:
            return httpx.Response(400)
        if "range" in request.headers:
            return httpx.Response(
                206, content=data[10:20], headers={"Content-Range": f"bytes 10-19/{len(data)}"}
            )
        return httpx.Response(200, content=data)

    async with client(handler) as comfy:
        async with comfy.view("a.mp4", subfolder="video") as resp:
            chunks = [c async for c in resp.aiter_bytes()]
        assert b"".join(chunks) == data
        async with comfy.view("a.mp4", subfolder="video", range="bytes=10-19") as resp:
            assert resp.status_code == 206 and await resp.aread() == data[10:20]
        with pytest.raises(NotFound):
            async with comfy.view("nope.png"):
                pass
        with pytest.raises(BadRequest):
            async with comfy.view("a.png", type="bogus"):
                pass
        with pytest.raises(BadRequest):
            async with comfy.view("../../etc/passwd"):
                pass
    assert seen[0].url.params["subfolder"] == "video" and seen[0].url.params["type"] == "output"
    assert seen[1].headers["range"] == "bytes=10-19"


async def test_view_body_errors_are_translated_too() -> None:
    class Broken(httpx.AsyncByteStream):
        async def __aiter__(self):  # type: ignore[no-untyped-def]
            yield b"part"
            raise httpx.ReadError("connection reset")

    async with client(lambda r: httpx.Response(200, stream=Broken())) as comfy:
        with pytest.raises(ComfyUnavailable, match="broke while sending"):
            async with comfy.view("a.mp4") as resp:
                await resp.aread()


async def test_upload_is_multipart_with_comfyui_fields() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"name": "clip (1).mp4", "subfolder": "in", "type": "input"})

    async with client(handler) as comfy:
        uploaded = await comfy.upload(b"\x00\x01video", "clip.mp4", subfolder="in", overwrite=False)
    assert (uploaded.name, uploaded.subfolder, uploaded.type, uploaded.ref) == (
        "clip (1).mp4",
        "in",
        "input",
        "in/clip (1).mp4",
    )
    body = seen[0].content
    assert seen[0].url.path == "/upload/image"
    assert seen[0].headers["content-type"].startswith("multipart/form-data")
    assert b'name="image"; filename="clip.mp4"' in body and b"Content-Type: video/mp4" in body
    assert b'name="overwrite"\r\n\r\nfalse' in body and b'name="subfolder"\r\n\r\nin' in body
    assert b"\x00\x01video" in body


async def test_view_metadata_returns_none_on_404() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        name = request.url.params["filename"]
        if name == "smoke.safetensors":
            return httpx.Response(200, json={"comfy_gateway_smoke_weights": "1"})
        if name == "empty.safetensors":  # ComfyUI cannot unpack the header length of an empty file
            return httpx.Response(500, text="500 Internal Server Error\n\nServer got itself in trouble")
        if name == "proxy.safetensors":
            return httpx.Response(502, text="Bad Gateway")
        return httpx.Response(404)

    async with client(handler) as comfy:
        assert await comfy.view_metadata("vae", "smoke.safetensors") == {"comfy_gateway_smoke_weights": "1"}
        assert await comfy.view_metadata("vae", "plain.safetensors") is None
        assert await comfy.view_metadata("vae", "empty.safetensors") is None
        with pytest.raises(BadResponse):
            await comfy.view_metadata("vae", "proxy.safetensors")


def test_constructor_validates_and_derives_the_ws_url() -> None:
    with pytest.raises(ValueError, match="http"):
        ComfyClient("comfy:8188")
    comfy = ComfyClient("https://gpu.example/comfy/", client_id="abc")
    assert comfy.base_url == "https://gpu.example/comfy"
    assert comfy.ws_url == "wss://gpu.example/comfy/ws?clientId=abc"
    with pytest.raises(ValueError, match="backoff"):
        ComfyClient(URL, reconnect_backoff=(0, 1))


async def test_a_get_on_a_stale_keepalive_connection_is_retried_once_but_a_post_is_not() -> None:
    calls: list[str] = []

    def flaky(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        if len(calls) in (1, 3, 4, 5):
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
        return httpx.Response(200, json={"system": {}})

    async with client(flaky) as comfy:
        assert await comfy.system_stats() == {"system": {}}
        with pytest.raises(ComfyUnavailable):
            await comfy.interrupt()
        with pytest.raises(ComfyUnavailable):
            await comfy.queue()  # fails twice: not retried forever
    assert calls == ["GET", "GET", "POST", "GET", "GET"]
