"""Video graphs on smoke weights: the runner runs a downscaled copy of a HunyuanVideo graph when the backend
holds smoke-weight stubs under every file it names, and counts it in executed_rate only when the video
decodes to clean frames of the asked size and count. Scoring stays on the original graph."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from evals_handmade import HandSystem, fake_validator, hunyuan_t2v

from evals import graph_facts
from evals.cases import parse_set
from evals.inputs import video_bytes
from evals.live import Acceptance, Execution, OutputRef
from evals.metrics import compute_metrics
from evals.runner import Runner
from evals.smoke import FRAMES, SIZE, STEPS, downscaled

FILES = {
    "diffusion_models": ["hunyuan_video_t2v_720p_bf16.safetensors"],
    "text_encoders": ["clip_l.safetensors", "llava_llama3_fp8_scaled.safetensors"],
    "vae": ["hunyuan_video_vae_bf16.safetensors"],
}


def black_video(frames: int = FRAMES) -> bytes:
    """What a NaN-producing model gives: every pixel pinned at black."""
    import av

    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(24))
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height, stream.pix_fmt = SIZE, SIZE, "yuv420p"
        for _ in range(frames):
            frame = av.VideoFrame(SIZE, SIZE, "rgb24")
            frame.planes[0].update(bytes(frame.planes[0].line_size * SIZE))
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue()


class SmokeBackend:
    """Accepts every graph; smoke weights per the constructor; every run saves `video`."""

    def __init__(self, *, smoke: bool = True, video: bytes | None = None) -> None:
        self.smoke = smoke
        self.video = video if video is not None else video_bytes("ok.mp4", SIZE, SIZE, frames=FRAMES)
        self.submitted: list[dict[str, Any]] = []
        self.cancelled: list[str] = []
        self.asked: list[dict[str, list[str]]] = []

    async def upload(self, content: bytes, filename: str) -> str:
        return filename

    async def submit(self, workflow: Mapping[str, Any]) -> Acceptance:
        self.submitted.append(dict(workflow))
        return Acceptance(accepted=True, prompt_id=f"p{len(self.submitted)}")

    async def run_to_end(self, prompt_id: str, *, timeout: float) -> Execution:  # noqa: ASYNC109
        return Execution(ok=True, outputs=1, files=[OutputRef(filename="v.mp4", kind="video")])

    async def cancel(self, prompt_id: str) -> None:
        self.cancelled.append(prompt_id)

    async def render_video(self, name: str) -> bytes:
        raise AssertionError("no input video in these cases")

    async def smoke_weights(self, files: Mapping[str, Sequence[str]]) -> bool:
        self.asked.append({k: list(v) for k, v in files.items()})
        return self.smoke

    async def download(self, file: OutputRef) -> bytes:
        return self.video

    async def aclose(self) -> None:
        pass


CASE = (
    '{"id": "fox", "prompt": "fox 5s 720p", "expect": {"task": "text-to-video", "frames": 121, '
    '"width": 1280, "height": 720, "output": "video"}}\n'
)


async def run_case(tmp_path: Path, backend: SmokeBackend, **kwargs: Any) -> Any:
    runner = Runner(
        HandSystem({"fox 5s 720p": hunyuan_t2v()}),
        fake_validator,
        out_dir=tmp_path,
        backend=backend,
        files_needed=lambda wf: dict(FILES),
        **kwargs,
    )
    (case,) = parse_set(CASE)
    return await runner.run_case(case)


def test_downscaled_copy_keeps_the_nodes_and_shrinks_size_frames_and_steps() -> None:
    original = hunyuan_t2v()
    run = downscaled(original)
    assert original == hunyuan_t2v()  # the scored graph is left alone
    assert run.workflow.keys() == original.keys()
    assert {k: n["class_type"] for k, n in run.workflow.items()} == {
        k: n["class_type"] for k, n in original.items()
    }
    assert graph_facts.sizes(run.workflow) == [(SIZE, SIZE, "45")]
    assert graph_facts.frame_counts(run.workflow) == [(FRAMES, "45")]
    assert run.workflow["17"]["inputs"]["steps"] == STEPS
    assert run.workflow["44"]["inputs"]["text"] == original["44"]["inputs"]["text"]
    assert (run.expect_frames, run.expect_size) == (FRAMES, (SIZE, SIZE))


async def test_a_video_graph_on_smoke_weights_runs_downscaled_and_counts(tmp_path: Path) -> None:
    backend = SmokeBackend()
    result = await run_case(tmp_path, backend)
    assert backend.asked == [FILES]
    original, small = backend.submitted
    assert original["45"]["inputs"]["width"] == 1280  # acceptance is asked of the real graph
    assert backend.cancelled == ["p1"]  # ... which never runs
    assert small["45"]["inputs"]["width"] == SIZE and small["17"]["inputs"]["steps"] == STEPS
    assert result.smoke_run and result.executed, result.execution_error
    assert result.workflow["45"]["inputs"]["width"] == 1280  # scored on the original
    assert all(c.ok for c in result.checks)
    metrics = compute_metrics([result])
    assert metrics.executed_rate == 1.0 and metrics.executed_cases == 1


@pytest.mark.parametrize(
    ("video", "reason"),
    [
        (black_video(), "NaN"),
        (video_bytes("small.mp4", 32, 32, frames=FRAMES), "expected 64x64"),
        (video_bytes("long.mp4", SIZE, SIZE, frames=9), "expected 5"),
        (b"not a video", "not a decodable video"),
    ],
    ids=["nan-born", "wrong-size", "wrong-count", "garbage"],
)
async def test_a_smoke_run_counts_only_when_its_frames_check_out(
    tmp_path: Path, video: bytes, reason: str
) -> None:
    result = await run_case(tmp_path, SmokeBackend(video=video))
    assert result.smoke_run and result.executed is False
    assert result.execution_error is not None and result.execution_error.startswith("frames:")
    assert reason in result.execution_error
    metrics = compute_metrics([result])
    assert metrics.executed_rate == 0.0 and metrics.executed_cases == 1
    assert "execution:frames" in result.failure_reasons


@pytest.mark.parametrize(("smoke", "mode"), [(False, "smoke"), (True, "never")], ids=["real", "never"])
async def test_without_smoke_weights_or_with_never_the_job_is_only_accepted(
    tmp_path: Path, smoke: bool, mode: Any
) -> None:
    backend = SmokeBackend(smoke=smoke)
    result = await run_case(tmp_path, backend, execute_video=mode)
    assert len(backend.submitted) == 1 and backend.cancelled == ["p1"]
    assert result.live_passed and result.executed is None and not result.smoke_run
    assert compute_metrics([result]).executed_rate is None
    assert backend.asked == ([FILES] if mode == "smoke" else [])


def test_an_unknown_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="execute_video"):
        Runner(HandSystem({}), fake_validator, out_dir=tmp_path, execute_video="always")  # type: ignore[arg-type]


def _video_graph(*, scale_start: bool, scale_frames: bool) -> dict[str, Any]:
    graph: dict[str, Any] = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "start.png"}},
        "2": {"class_type": "EmptyHunyuanLatentVideo", "inputs": {"width": 848, "height": 480, "length": 73}},
        "3": {"class_type": "VAEDecode", "inputs": {"samples": ["2", 0], "vae": ["9", 0]}},
        "4": {"class_type": "SaveVideo", "inputs": {"video": ["3", 0]}},
    }
    if scale_start:
        graph["5"] = {"class_type": "ImageScale", "inputs": {"image": ["1", 0], "width": 848, "height": 480}}
    if scale_frames:
        graph["6"] = {"class_type": "ImageScaleBy", "inputs": {"image": ["3", 0], "scale_by": 2.0}}
        graph["4"]["inputs"]["video"] = ["6", 0]
    return graph


def test_a_video_scaled_after_decoding_is_not_held_to_64x64() -> None:
    """An upscale chain's frames are 128x128: only frames and clean pixels are checked; a start picture
    scaled before sampling leaves the video at its latent's size."""
    upscaled = downscaled(_video_graph(scale_start=False, scale_frames=True))
    assert (upscaled.expect_frames, upscaled.expect_size) == (FRAMES, None)
    started = downscaled(_video_graph(scale_start=True, scale_frames=False))
    assert (started.expect_frames, started.expect_size) == (FRAMES, (SIZE, SIZE))


def test_clips_joined_after_decoding_are_not_held_to_one_clips_frame_count() -> None:
    """A clip of a cat and a clip of a dog, joined: two 5-frame clips in one ImageBatch save 10
    frames, so only clean frames are checked; a batch before any decode leaves the count as it is."""
    graph = _video_graph(scale_start=False, scale_frames=False)
    graph["7"] = {"class_type": "VAEDecode", "inputs": {"samples": ["2", 0], "vae": ["9", 0]}}
    graph["8"] = {"class_type": "ImageBatch", "inputs": {"image1": ["3", 0], "image2": ["7", 0]}}
    graph["4"]["inputs"]["video"] = ["8", 0]
    assert downscaled(graph).expect_frames is None
    start = _video_graph(scale_start=False, scale_frames=False)
    start["5"] = {"class_type": "RepeatImageBatch", "inputs": {"image": ["1", 0], "amount": 1}}
    assert downscaled(start).expect_frames == FRAMES
