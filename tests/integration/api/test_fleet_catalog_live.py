"""The fleet's API-level catalog on two real local ComfyUIs whose model folders differ (issue 13): a workflow
naming an upscale model only backend b has is accepted (submit, and a batch validated before any submit) and
runs on b, where ComfyUI loads the file; one naming a file no backend has is refused 400; /api/models lists
the union."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.gateway_support import gateway_settings, local_comfyui_pair, running_gateway

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # two ComfyUIs start: 20-60 s

ONLY_B = "only-b.safetensors"


@pytest.fixture(scope="module")
def comfyuis_with_other_models(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    """Two ComfyUIs of this module's own: b's upscale_models folder holds a file a's does not."""

    def only_on_b(b: Any) -> None:
        (b.models_dir / "upscale_models" / ONLY_B).write_bytes(b"not really a model")

    with local_comfyui_pair(tmp_path_factory.mktemp("fleet-models"), before_start=only_on_b) as pair:
        yield pair


def upscale(model: str) -> dict[str, Any]:
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 7}},
        "2": {"class_type": "UpscaleModelLoader", "inputs": {"model_name": model}},
        "3": {
            "class_type": "ImageUpscaleWithModel",
            "inputs": {"upscale_model": ["2", 0], "image": ["1", 0]},
        },
        "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "fleet-union"}},
    }


async def test_a_model_only_one_backend_has_is_accepted_and_runs_there(
    comfyuis_with_other_models: Any, tmp_path: Path
) -> None:
    a, b = comfyuis_with_other_models
    settings = gateway_settings(
        a.url, tmp_path / "fleet.db", comfyui_urls=f"{a.url};name=a,{b.url};name=b", comfyui_timeout=10.0
    )
    async with running_gateway(settings) as gw:
        listed = (await gw.http.get("/api/models/upscale_models")).json()
        assert [m["name"] for m in listed["models"]] == [ONLY_B]

        batch = await gw.http.post("/api/workflow/batch", json={"workflows": [{"workflow": upscale(ONLY_B)}]})
        assert batch.status_code == 200, batch.text
        submitted = [await gw.submit(upscale(ONLY_B)) for _ in range(2)]
        jobs = gw.app.state.jobs
        batched = [j["prompt_id"] for j in batch.json()["jobs"]]
        assert {(await jobs.get(pid)).backend for pid in [*batched, *submitted]} == {"b"}
        # b loads the file (it is no model): the job ran there and failed on ComfyUI's own error.
        final = await gw.wait(submitted[0], within=60)
        assert final["status"] == "failed", final
        assert final["error"]["type"] != "not_submitted", final

        refused = await gw.http.post(
            "/api/workflow/submit", json={"workflow": {"prompt": upscale("nowhere.safetensors")}}
        )
        assert refused.status_code == 400, refused.text
        assert "nowhere.safetensors" in refused.text
