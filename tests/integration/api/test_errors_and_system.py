"""Every error the API promises, and health, models, queue and inputs, against the real ComfyUI."""

from __future__ import annotations

import base64
import json
import struct
from pathlib import Path
from typing import Any

import pytest

from tests.gateway_support import Gateway, fresh, gateway_settings, running_gateway
from tests.support import solid_png

pytestmark = pytest.mark.integration


def tiny_png() -> bytes:
    return solid_png(1, 1, (255, 0, 0))  # one red pixel


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"workflow": [1, 2]}, 400),
        ({"workflow": "a string"}, 400),
        ({"workflow": {}}, 400),
        ({"workflow": {"prompt": {}}}, 400),
        ({"prompt": "no workflow"}, 422),
        ({"workflow": {"prompt": {"1": {"class_type": "EmptyImage"}}}, "extra_data": "x"}, 422),
    ],
)
async def test_unusable_requests_get_4xx_with_a_message(gateway: Gateway, body: Any, status: int) -> None:
    resp = await gateway.http.post("/api/workflow/submit", json=body)
    assert resp.status_code == status, resp.text
    assert isinstance(resp.json()["detail"], str) and resp.json()["detail"]


async def test_malformed_json_and_unknown_job(gateway: Gateway) -> None:
    resp = await gateway.http.post(
        "/api/workflow/submit", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert resp.status_code == 422 and "JSON" in resp.json()["detail"]
    resp = await gateway.http.get("/api/workflow/status/00000000-0000-0000-0000-000000000000")
    assert resp.status_code == 404 and resp.json()["code"] == "job_not_found"
    resp = await gateway.http.post("/api/workflow/cancel/unknown")
    assert resp.status_code == 404


async def test_invalid_workflow_has_comfyui_shaped_node_errors(gateway: Gateway) -> None:
    graph = fresh("01_emptyimage_saveimage.prompt.json")
    graph["1"]["inputs"]["width"] = -5
    resp = await gateway.http.post("/api/workflow/submit", json={"workflow": {"prompt": graph}})
    assert resp.status_code == 400, resp.text
    body = resp.json()
    assert body["code"] == "invalid_workflow" and "node_errors" in body and "error" in body
    errors = body["node_errors"]["1"]["errors"]
    assert errors[0]["type"] == "value_smaller_than_min"
    assert errors[0]["extra_info"]["input_name"] == "width"

    unknown = {
        "1": {"class_type": "NoSuchNode", "inputs": {}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}},
    }
    resp = await gateway.http.post("/api/workflow/submit", json={"workflow": {"prompt": unknown}})
    assert resp.status_code == 400 and "NoSuchNode" in resp.json()["detail"]
    # Rejected submissions leave no job behind.
    assert not [j for j in gateway.app.state.jobs.tracker.jobs.values() if j.workflow == unknown]


async def test_body_too_large_is_413(gateway: Gateway) -> None:
    big = b'{"workflow": {"prompt": {}}, "pad": "' + b"x" * (3 * 1024 * 1024) + b'"}'
    resp = await gateway.http.post(
        "/api/workflow/submit", content=big, headers={"content-type": "application/json"}
    )
    assert resp.status_code == 413 and resp.json()["code"] == "payload_too_large"


async def test_health_live_queue_and_models(gateway: Gateway, comfyui: Any) -> None:
    health = await gateway.http.get("/health")
    assert health.status_code == 200, health.text
    body = health.json()
    assert body["status"] == "ok" and body["comfyui"]["reachable"] and body["comfyui"]["version"]
    assert body["comfyui"]["queue_pending"] >= 0 and body["catalog"]["nodes"] > 100
    assert (await gateway.http.get("/health/live")).status_code == 200

    queue = await gateway.http.get("/api/queue")
    assert queue.status_code == 200 and set(queue.json()) == {"running", "pending"}

    placeholder = comfyui.models_dir / "vae" / "placeholder_vae.safetensors"
    smoke = comfyui.models_dir / "vae" / "smoke_vae.safetensors"
    try:
        placeholder.write_bytes(b"")
        models = await gateway.http.get("/api/models")
        assert models.status_code == 200
        folders = models.json()["folders"]
        assert "vae" in folders and "checkpoints" in folders
        assert {"name": "placeholder_vae.safetensors", "smoke_weights": False} in folders["vae"]
        # A smoke-weight file (safetensors metadata comfy_gateway_smoke_weights=1) is flagged as such.
        header = json.dumps({"__metadata__": {"comfy_gateway_smoke_weights": "1"}}).encode()
        smoke.write_bytes(struct.pack("<Q", len(header)) + header)
        flagged = (await gateway.http.get("/api/models")).json()
        assert {"name": "smoke_vae.safetensors", "smoke_weights": True} in flagged["folders"]["vae"]
        assert flagged["smoke_weights"] is True
        # Every folder by default, empty ones too; `non_empty=true` keeps only folders holding files.
        empty = {name for name, files in flagged["folders"].items() if not files}
        assert empty, "ComfyUI has folders without files (e.g. photomaker): they are listed"
        only = (await gateway.http.get("/api/models", params={"non_empty": "true"})).json()
        assert set(only["folders"]) == set(flagged["folders"]) - empty and only["smoke_weights"] is True
        assert only["folders"]["vae"] == flagged["folders"]["vae"]
        bad = await gateway.http.get("/api/models", params={"non_empty": "maybe"})
        assert bad.status_code == 422 and "non_empty" in bad.json()["detail"]
        one = await gateway.http.get("/api/models/vae")
        assert one.status_code == 200 and one.json()["folder"] == "vae"
        assert (await gateway.http.get("/api/models/no_such_folder")).status_code == 404
    finally:  # the session's ComfyUI is shared: leave its model folders as they were
        placeholder.unlink(missing_ok=True)
        smoke.unlink(missing_ok=True)


async def test_inputs_multipart_base64_url_and_bad(gateway: Gateway, comfyui: Any, tmp_path: Path) -> None:
    png = tiny_png()
    resp = await gateway.http.post(
        "/api/inputs", files={"file": ("first frame.png", png, "image/png")}, data={"subfolder": "gw"}
    )
    assert resp.status_code == 200, resp.text
    uploaded = resp.json()
    assert uploaded["name"] == "first frame.png" and uploaded["ref"] == "gw/first frame.png"
    back = await gateway.http.get(f"/api/outputs/input/{uploaded['name']}", params={"subfolder": "gw"})
    assert back.status_code == 200 and back.content == png

    resp = await gateway.http.post(
        "/api/inputs", json={"base64": base64.b64encode(png).decode(), "filename": "b64.png"}
    )
    assert resp.status_code == 200 and resp.json()["ref"] == "b64.png"

    # By URL: refused by default for ComfyUI itself (loopback here) and any other non-public address.
    url = f"{comfyui.url}/view?filename=b64.png&type=input"
    for refused in (url, "http://169.254.169.254/latest/meta-data/", "http://[::1]:9/x.png"):
        resp = await gateway.http.post("/api/inputs", json={"url": refused, "filename": "x.png"})
        assert resp.status_code == 400 and resp.json()["code"] == "url_not_allowed", resp.text

    # An operator who allow-lists the host gets the download (ComfyUI's /view of the file just uploaded).
    allowed = gateway_settings(comfyui.url, tmp_path / "inputs.db", inputs_url_allowlist=["127.0.0.0/8"])
    async with running_gateway(allowed) as gw:
        resp = await gw.http.post("/api/inputs", json={"url": url, "filename": "from_url.png"})
        assert resp.status_code == 200, resp.text
        assert resp.json()["ref"] == "from_url.png"
        missing = await gw.http.post("/api/inputs", json={"url": f"{comfyui.url}/view?filename=none.png"})
        assert missing.status_code == 400 and "HTTP 404" in missing.json()["detail"]
    no_urls = gateway_settings(comfyui.url, tmp_path / "no_urls.db", inputs_allow_urls=False)
    async with running_gateway(no_urls) as gw:
        resp = await gw.http.post("/api/inputs", json={"url": url})
        assert resp.status_code == 400 and "base64" in resp.json()["detail"]

    # The uploaded name works in a workflow: LoadImage -> SaveImage runs.
    graph = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "from_url.png"}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "gw/loaded"}},
    }
    body = await gateway.wait(await gateway.submit(graph))
    assert body["status"] == "completed" and body["output_images"]

    for bad in ({"base64": "!!!", "filename": "x.png"}, {"url": "ftp://x/y.png"}, {}):
        resp = await gateway.http.post("/api/inputs", json=bad)
        assert resp.status_code == 400, (bad, resp.text)
    resp = await gateway.http.post("/api/inputs", content=b"raw", headers={"content-type": "text/plain"})
    assert resp.status_code == 400


async def test_openapi_documents_every_route(gateway: Gateway) -> None:
    spec = (await gateway.http.get("/openapi.json")).json()
    for path in (
        "/api/workflow/submit",
        "/api/workflow/status/{prompt_id}",
        "/api/queue",
        "/api/workflow/cancel/{prompt_id}",
        "/api/models",
        "/health",
        "/api/inputs",
        "/api/workflow/batch",
        "/api/workflow/{prompt_id}/events",
        "/api/outputs/{type}/{filename}",
    ):
        assert path in spec["paths"], path
    assert spec["components"]["schemas"]["SubmitRequest"]["examples"]
    assert (await gateway.http.get("/docs")).status_code == 200
