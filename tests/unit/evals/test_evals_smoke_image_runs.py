"""Image graphs on smoke weights: a shrunk copy (64x64, 2 steps, batch 1) runs when every model file is a
smoke-weight file on the backend, and counts in executed_rate only when its saved image decodes and passes the
frame check; a `.pth` smoke file (marker inside the zip, unreadable through ComfyUI) is known by its name and
the backend's listing; pass_rate and executed_rate lead the reports; --execute-video still works."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from evals_handmade import HandSystem, fake_validator
from typer.testing import CliRunner

from comfyui_client import ComfyClient
from evals.cases import parse_set
from evals.inputs import png_bytes
from evals.live import Acceptance, ComfyBackend, Execution, OutputRef
from evals.metrics import compute_metrics
from evals.report import Report, RunInfo, build_report
from evals.report_html import report_html
from evals.report_markdown import report_markdown
from evals.runner import Runner
from evals.smoke import SIZE, STEPS, downscaled
from tests.support import solid_png

CKPT = {"checkpoints": ["v1-5-pruned-emaonly.safetensors"]}


def sd15_t2i(width: int = 512, height: int = 512, batch: int = 4) -> dict[str, Any]:
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CKPT["checkpoints"][0]}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a boat", "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["1", 1]}},
        "4": {
            "class_type": "EmptyLatentImage",
            "inputs": {"width": width, "height": height, "batch_size": batch},
        },
        "5": {
            "class_type": "KSampler",
            "inputs": {
                "seed": 1,
                "steps": 20,
                "cfg": 7.5,
                "sampler_name": "euler",
                "scheduler": "normal",
                "denoise": 1.0,
                "model": ["1", 0],
                "positive": ["2", 0],
                "negative": ["3", 0],
                "latent_image": ["4", 0],
            },
        },
        "6": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}},
        "7": {"class_type": "SaveImage", "inputs": {"filename_prefix": "image/sd15", "images": ["6", 0]}},
    }


def upscale_model() -> dict[str, Any]:
    return {
        "1": {"class_type": "LoadImage", "inputs": {"image": "in.png"}},
        "2": {"class_type": "UpscaleModelLoader", "inputs": {"model_name": "RealESRGAN_x4plus.pth"}},
        "3": {
            "class_type": "ImageUpscaleWithModel",
            "inputs": {"upscale_model": ["2", 0], "image": ["1", 0]},
        },
        "4": {"class_type": "SaveImage", "inputs": {"filename_prefix": "image/up", "images": ["3", 0]}},
    }


def black_png(size: int = SIZE) -> bytes:
    """What a NaN-producing model saves: every pixel pinned at black."""
    return solid_png(size, size, (0, 0, 0))


class ImageBackend:
    """Accepts every graph; smoke weights per the constructor; every run saves `image` (or nothing)."""

    def __init__(self, *, smoke: bool = True, image: bytes | None = None, saves: bool = True) -> None:
        self.smoke = smoke
        self.image = image if image is not None else png_bytes(SIZE, SIZE)
        self.saves = saves
        self.submitted: list[dict[str, Any]] = []
        self.cancelled: list[str] = []

    async def upload(self, content: bytes, filename: str) -> str:
        return filename

    async def submit(self, workflow: Mapping[str, Any]) -> Acceptance:
        self.submitted.append(dict(workflow))
        return Acceptance(accepted=True, prompt_id=f"p{len(self.submitted)}")

    async def run_to_end(self, prompt_id: str, *, timeout: float) -> Execution:  # noqa: ASYNC109
        files = [OutputRef(filename="i.png", kind="image")] if self.saves else []
        return Execution(ok=True, outputs=len(files), files=files)

    async def cancel(self, prompt_id: str) -> None:
        self.cancelled.append(prompt_id)

    async def render_video(self, name: str) -> bytes:
        raise AssertionError("no input video in these cases")

    async def smoke_weights(self, files: Mapping[str, Sequence[str]]) -> bool:
        return self.smoke

    async def download(self, file: OutputRef) -> bytes:
        return self.image

    async def aclose(self) -> None:
        pass


CASE = '{"id": "boat", "prompt": "a boat", "expect": {"task": "text-to-image", "output": "image"}}\n'


async def run_case(tmp_path: Path, backend: ImageBackend, graph: dict[str, Any], **kwargs: Any) -> Any:
    runner = Runner(
        HandSystem({"a boat": graph}),
        fake_validator,
        out_dir=tmp_path,
        backend=backend,
        files_needed=lambda wf: dict(CKPT),
        **kwargs,
    )
    (case,) = parse_set(CASE)
    return await runner.run_case(case)


def test_an_image_graph_is_shrunk_to_64px_2_steps_batch_1_with_the_same_nodes() -> None:
    original = sd15_t2i()
    run = downscaled(original)
    assert original == sd15_t2i()
    assert {k: n["class_type"] for k, n in run.workflow.items()} == {
        k: n["class_type"] for k, n in original.items()
    }
    assert run.workflow["4"]["inputs"] == {"width": SIZE, "height": SIZE, "batch_size": 1}
    assert run.workflow["5"]["inputs"]["steps"] == STEPS
    assert (run.expect_frames, run.expect_size) == (None, (SIZE, SIZE))
    # an upscale makes its own size: its pixels are checked, not 64x64
    assert downscaled(upscale_model()).expect_size is None


async def test_an_image_graph_on_smoke_weights_runs_shrunk_and_counts(tmp_path: Path) -> None:
    backend = ImageBackend()
    result = await run_case(tmp_path, backend, sd15_t2i())
    original, small = backend.submitted
    assert original["4"]["inputs"]["width"] == 512 and backend.cancelled == ["p1"]
    assert small["4"]["inputs"] == {"width": SIZE, "height": SIZE, "batch_size": 1}
    assert result.smoke_run and result.executed, result.execution_error
    assert result.workflow["4"]["inputs"]["width"] == 512  # scored on the original
    assert (compute_metrics([result]).executed_rate, compute_metrics([result]).executed_cases) == (1.0, 1)


@pytest.mark.parametrize(
    ("backend", "reason"),
    [
        (ImageBackend(image=black_png()), "NaN"),
        (ImageBackend(image=png_bytes(32, 32)), "expected 64x64"),
        (ImageBackend(image=b"not a png"), "frames:"),
        (ImageBackend(saves=False), "no-output"),
    ],
    ids=["nan-born", "wrong-size", "garbage", "nothing-saved"],
)
async def test_an_image_smoke_run_counts_only_when_its_picture_checks_out(
    tmp_path: Path, backend: ImageBackend, reason: str
) -> None:
    result = await run_case(tmp_path, backend, sd15_t2i())
    assert result.smoke_run and result.executed is False
    assert result.execution_error is not None and reason in result.execution_error
    assert compute_metrics([result]).executed_rate == 0.0


@pytest.mark.parametrize("kwargs", [{"execute_smoke": "never"}, {"execute_video": "never"}])
async def test_never_only_checks_acceptance(tmp_path: Path, kwargs: dict[str, Any]) -> None:
    backend = ImageBackend()
    result = await run_case(tmp_path, backend, sd15_t2i(), **kwargs)
    assert len(backend.submitted) == 1 and not result.smoke_run and result.executed is None


def fake_comfy(listing: dict[str, list[str]], metadata: dict[str, dict[str, str]]) -> ComfyClient:
    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.startswith("/models/"):
            return httpx.Response(200, json=listing.get(path.rsplit("/", 1)[1], []))
        if path.startswith("/view_metadata/"):
            meta = metadata.get(request.url.params["filename"])
            return httpx.Response(200, json=meta) if meta is not None else httpx.Response(404)
        return httpx.Response(404)

    return ComfyClient("http://comfy.test", transport=httpx.MockTransport(handler))


async def test_a_pth_smoke_file_is_known_by_its_name_and_the_backends_listing() -> None:
    from comfyui_local.smoke_weights import MARKER, MARKER_VERSION

    listing = {
        "upscale_models": ["RealESRGAN_x4plus.pth", "4x_real_other.pth"],
        "checkpoints": ["a.safetensors"],
    }
    meta = {"a.safetensors": {MARKER: MARKER_VERSION}}
    async with fake_comfy(listing, meta) as client:
        backend = ComfyBackend(client)
        assert await backend.smoke_weights({"upscale_models": ["RealESRGAN_x4plus.pth"]})
        assert await backend.smoke_weights({"checkpoints": ["a.safetensors"]})
        assert not await backend.smoke_weights({"upscale_models": ["4x_real_other.pth"]})  # not a smoke name
    async with fake_comfy({}, {}) as client:
        # the smoke name, but the backend does not hold it
        assert not await ComfyBackend(client).smoke_weights({"upscale_models": ["RealESRGAN_x4plus.pth"]})


def report_of(results: list[Any]) -> Report:
    info = RunInfo(
        set_path="s.jsonl", strategy="planner", started_at="a", finished_at="b", cases=len(results)
    )
    return build_report(info, results)


async def test_pass_rate_and_executed_rate_are_the_headline(tmp_path: Path) -> None:
    result = await run_case(tmp_path, ImageBackend(), sd15_t2i())
    report = report_of([result])
    md = report_markdown(report)
    first = md.splitlines()[2]
    assert first.startswith("**pass_rate ") and first.endswith(", executed_rate 100.0% (1 graphs run)**")
    rows = [line for line in md.splitlines() if line.startswith("| ") and "%" in line]
    assert rows[0].startswith("| pass_rate") and rows[1].startswith("| executed_rate")
    html = report_html(report)
    assert "executed_rate 100.0%" in html and html.index("pass_rate") < html.index("format_validity")


def test_the_cli_takes_execute_smoke_and_its_older_name(tmp_path: Path) -> None:
    from cli.main import app

    set_path = tmp_path / "s.jsonl"
    set_path.write_text(json.dumps({"id": "c", "prompt": "an SD1.5 image of a boat"}) + "\n")
    for flag in ("--execute-smoke", "--execute-video"):
        out = tmp_path / flag
        res = CliRunner().invoke(
            app, ["eval", "run", str(set_path), "--out", str(out), "--no-progress", flag, "never"]
        )
        assert res.exit_code == 0, res.output
        assert (
            res.output.index("pass_rate")
            < res.output.index("executed_rate")
            < res.output.index("format_validity")
        )
    bad = CliRunner().invoke(app, ["eval", "run", str(set_path), "--execute-smoke", "always"])
    assert bad.exit_code == 2
