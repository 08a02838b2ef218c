"""Submit, status and outputs on the real ComfyUI: an mp4 from sample 03 downloads through the gateway."""

from __future__ import annotations

from typing import Any

import pytest

from tests.gateway_support import Gateway, fresh, load_sample

pytestmark = pytest.mark.integration


async def test_mp4_from_sample_03_is_listed_and_downloadable(gateway: Gateway) -> None:
    prompt_id = await gateway.submit(fresh("03_createvideo_savevideo_mp4.prompt.json"))
    body = await gateway.wait(prompt_id)
    assert body["status"] == "completed", body
    assert body["progress"] == 100
    assert body["error"] is None and body["queue_position"] is None
    assert body["created_at"] and body["started_at"] and body["finished_at"]
    assert len(body["output_videos"]) == 1 and body["output_images"] == []
    url = body["output_videos"][0]
    assert url.startswith("http://gateway.test/api/outputs/output/") and url.split("?")[0].endswith(".mp4")

    whole = await gateway.http.get(url)
    assert whole.status_code == 200
    assert whole.headers["content-type"].startswith("video/")
    assert whole.content[4:8] == b"ftyp"  # an ISO media file

    part = await gateway.http.get(url, headers={"Range": "bytes=4-11"})
    assert part.status_code == 206
    assert part.content == whole.content[4:12]
    assert part.headers["content-range"].startswith("bytes 4-11/")


async def test_spec_body_bare_graph_and_text_prompt(gateway: Gateway) -> None:
    graph = fresh("01_emptyimage_saveimage.prompt.json")
    resp = await gateway.http.post("/api/workflow/submit", json={"workflow": graph})
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "pending" and resp.json()["message"]
    body = await gateway.wait(resp.json()["prompt_id"])
    assert body["status"] == "completed" and len(body["output_images"]) == 1
    image = await gateway.http.get(body["output_images"][0])
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")

    # A text prompt with no text encoder to put it in is refused with a reason, and no job is made.
    resp = await gateway.http.post("/api/workflow/submit", json={"workflow": graph, "prompt": "a red square"})
    assert resp.status_code == 400 and "text-encode" in resp.json()["detail"]


async def test_bad_combo_is_caught_before_comfyui(gateway: Gateway) -> None:
    # ComfyUI itself accepts SaveVideo format "mkv" and fails at run time; the catalog catches it first.
    resp = await gateway.http.post(
        "/api/workflow/submit", json={"workflow": fresh("06_runtime_error_v3_combo.prompt.json")}
    )
    assert resp.status_code == 400
    assert resp.json()["node_errors"]["2"]["errors"][0]["type"] == "value_not_in_list"


async def test_runtime_failure_reports_node_type_and_message(gateway: Gateway, comfyui: Any) -> None:
    # An empty placeholder checkpoint passes validation (the name is listed) and fails in the loader.
    placeholder = comfyui.models_dir / "checkpoints" / "placeholder_ckpt.safetensors"
    placeholder.write_bytes(b"")
    try:
        prompt_id = await gateway.submit(load_sample("10c_ckpt_zero_byte.prompt.json"))
        body = await gateway.wait(prompt_id)
    finally:
        placeholder.unlink(missing_ok=True)
    assert body["status"] == "failed", body
    assert body["error"]["node"] == "1" and body["error"]["node_type"] == "CheckpointLoaderSimple"
    assert body["error"]["message"] and body["error"]["type"]


async def test_outputs_errors(gateway: Gateway) -> None:
    missing = await gateway.http.get("/api/outputs/output/no_such_file.png")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    bad_type = await gateway.http.get("/api/outputs/secret/x.png")
    assert bad_type.status_code == 422
    traversal = await gateway.http.get("/api/outputs/output/x.png", params={"subfolder": "../../etc"})
    assert traversal.status_code == 400


async def test_comfyui_urls_setting(gateway: Gateway) -> None:
    from api.responses import output_url
    from comfyui_client import OutputRef

    ref = OutputRef(node_id="2", filename="a b.mp4", subfolder="video", kind="video")
    settings = gateway.settings.model_copy(update={"output_urls": "comfyui"})
    assert output_url(ref, settings, "http://x") == (
        f"{settings.comfyui_url}/view?filename=a+b.mp4&subfolder=video&type=output"
    )


def test_samples_load() -> None:
    assert load_sample("01_emptyimage_saveimage.prompt.json")["2"]["class_type"] == "SaveImage"


HUNYUAN_FILES = {
    "text_encoders": ("clip_l.safetensors", "llava_llama3_fp8_scaled.safetensors"),
    "diffusion_models": ("hunyuan_video_t2v_720p_bf16.safetensors",),
    "vae": ("hunyuan_video_vae_bf16.safetensors",),
}


async def test_ui_export_is_converted_filled_and_submitted(gateway: Gateway, comfyui: Any) -> None:
    ui = load_sample("hunyuan_video_text_to_video.template_ui.json")
    paths = [comfyui.models_dir / folder / name for folder, names in HUNYUAN_FILES.items() for name in names]
    if any(p.exists() for p in paths):
        pytest.skip(
            "HunyuanVideo weights are installed in the session ComfyUI: the full graph would really run"
        )
    # Without the model files the converted graph is refused naming them (validation, not a format error).
    resp = await gateway.http.post(
        "/api/workflow/submit", json={"workflow": ui, "prompt": "a fox in the snow"}
    )
    assert resp.status_code == 400 and resp.json()["node_errors"], resp.text
    assert "hunyuan_video_t2v_720p_bf16.safetensors" in resp.text
    # With empty placeholder files ComfyUI accepts it and the first loader fails at run time.
    made = []
    try:
        for path in paths:
            path.write_bytes(b"")
            made.append(path)
        resp = await gateway.http.post(
            "/api/workflow/submit", json={"workflow": ui, "prompt": "a fox in the snow"}
        )
        assert resp.status_code == 200, resp.text
        prompt_id = resp.json()["prompt_id"]
        body = await gateway.wait(prompt_id)
    finally:
        for path in made:
            path.unlink(missing_ok=True)
    assert body["status"] == "failed" and body["error"]["node_type"] in (
        "DualCLIPLoader",
        "UNETLoader",
        "VAELoader",
    )
    job = await gateway.app.state.jobs.get(prompt_id)
    texts = [n["inputs"]["text"] for n in job.workflow.values() if n["class_type"] == "CLIPTextEncode"]
    assert texts == ["a fox in the snow"]
    assert "Note" not in {n["class_type"] for n in job.workflow.values()}
