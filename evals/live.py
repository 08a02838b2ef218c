"""A live ComfyUI for `--comfyui URL`: upload inputs, ask POST /prompt whether it accepts a graph, run the
graphs that need no weights to the end (and, on smoke weights, downscaled image and video graphs). The runner
sees the `LiveBackend` protocol; `ComfyBackend` is the one seam where `comfyui_client` errors become evals
results or `BackendError`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from pydantic import BaseModel

from comfyui_client import (
    ComfyClient,
    ComfyError,
    ComfyTimeout,
    ComfyUnavailable,
    ExecutionFailed,
    ExecutionInterrupted,
    JobLost,
    OutputRef,
    PromptRejected,
)
from evals.errors import BackendError
from evals.scoring import Problem, problems_from_report

log = logging.getLogger(__name__)

#: A cancel re-sends its interrupt while the job still runs: ComfyUI clears the interrupt flag when a job's
#: execution begins, so an interrupt landing between the job leaving the queue and that start is lost.
CANCEL_RECHECK = 0.5  # seconds between looks at /queue after an interrupt
CANCEL_TRIES = 20


class Acceptance(BaseModel):
    """ComfyUI's answer to POST /prompt. A 200 carrying node_errors is not an acceptance (only part runs)."""

    accepted: bool
    prompt_id: str | None = None
    problems: list[Problem] = []


class Execution(BaseModel):
    ok: bool
    outputs: int = 0
    error: str | None = None  # "<kind>: <message>", kind one of failed, interrupted, timeout, lost, no-output
    files: list[OutputRef] = []


class LiveBackend(Protocol):
    async def upload(self, content: bytes, filename: str) -> str: ...  # the name LoadImage/LoadVideo take
    async def submit(self, workflow: Mapping[str, Any]) -> Acceptance: ...
    async def run_to_end(self, prompt_id: str, *, timeout: float) -> Execution: ...  # noqa: ASYNC109
    async def cancel(self, prompt_id: str) -> None: ...  # our job only, queued or running
    async def render_video(self, name: str) -> bytes: ...  # a small real MP4 made by the backend itself
    async def smoke_weights(self, files: Mapping[str, Sequence[str]]) -> bool: ...  # every file a smoke file
    async def smoke_role(self, folder: str, name: str) -> str | None: ...  # a smoke safetensors file's role
    async def download(self, file: OutputRef) -> bytes: ...
    async def aclose(self) -> None: ...


def placeholder_video_graph(prefix: str) -> dict[str, Any]:
    """A weight-free graph saving a 9-frame 64x64 H.264 MP4 (a gradient would need more nodes; two colours
    batched are enough for a decoder to see motion)."""
    return {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 64, "height": 64, "batch_size": 5, "color": 0x3366CC},
        },
        "2": {
            "class_type": "EmptyImage",
            "inputs": {"width": 64, "height": 64, "batch_size": 4, "color": 0xCC6633},
        },
        "3": {"class_type": "ImageBatch", "inputs": {"image1": ["1", 0], "image2": ["2", 0]}},
        "4": {"class_type": "CreateVideo", "inputs": {"images": ["3", 0], "fps": 8.0}},
        "5": {
            "class_type": "SaveVideo",
            "inputs": {"video": ["4", 0], "filename_prefix": prefix, "format": "mp4", "codec": "h264"},
        },
    }


class ComfyBackend:
    """`LiveBackend` over the project's `ComfyClient`."""

    def __init__(self, client: ComfyClient, *, owns_client: bool = False) -> None:
        self.client = client
        self._owns = owns_client
        self._smoke: dict[tuple[str, str], bool] = {}
        self._meta: dict[tuple[str, str], dict[str, Any] | None] = {}

    @classmethod
    async def connect(cls, url: str, *, timeout: float = 30.0) -> ComfyBackend:  # noqa: ASYNC109 (a plain setting)
        client = ComfyClient(url, timeout=timeout)
        try:
            await client.system_stats()
        except ComfyError as exc:
            await client.aclose()
            raise BackendError(f"ComfyUI at {url} is not usable: {exc}") from exc
        return cls(client, owns_client=True)

    async def aclose(self) -> None:
        if self._owns:
            await self.client.aclose()

    async def upload(self, content: bytes, filename: str) -> str:
        try:
            stored = await self.client.upload(content, filename, type="input", overwrite=True)
        except ComfyError as exc:
            raise BackendError(f"uploading input {filename!r} failed: {exc}") from exc
        return f"{stored.subfolder}/{stored.name}" if stored.subfolder else stored.name

    async def submit(self, workflow: Mapping[str, Any]) -> Acceptance:
        try:
            submitted = await self.client.submit(workflow)
        except PromptRejected as exc:
            body = exc.body
            return Acceptance(
                accepted=False,
                problems=problems_from_report(body.get("error"), body.get("node_errors") or {}),
            )
        except ComfyUnavailable as exc:
            raise BackendError(f"ComfyUI went away: {exc}") from exc
        except ComfyError as exc:
            # Anything else ComfyUI answers to one graph (a 500 on a malformed body, say) is that graph's
            # failure, recorded as a problem rather than stopping the run.
            return Acceptance(accepted=False, problems=[Problem(type="comfyui_error", message=str(exc))])
        if submitted.node_errors:
            await self.cancel(submitted.prompt_id)
            return Acceptance(
                accepted=False,
                prompt_id=submitted.prompt_id,
                problems=problems_from_report(None, submitted.node_errors),
            )
        return Acceptance(accepted=True, prompt_id=submitted.prompt_id)

    async def run_to_end(self, prompt_id: str, *, timeout: float) -> Execution:  # noqa: ASYNC109 (contract)
        try:
            entry = await self.client.wait_for(prompt_id, timeout=timeout)
        except ExecutionFailed as exc:
            where = f" in {exc.node_type}" if getattr(exc, "node_type", None) else ""
            return Execution(ok=False, error=f"failed: {exc.exception_type}{where}: {exc.exception_message}")
        except ExecutionInterrupted as exc:
            return Execution(ok=False, error=f"interrupted: {exc}")
        except ComfyTimeout as exc:
            await self.cancel(prompt_id)
            return Execution(ok=False, error=f"timeout: {exc}")
        except JobLost as exc:
            return Execution(ok=False, error=f"lost: {exc}")
        except ComfyUnavailable as exc:
            raise BackendError(f"ComfyUI went away while running {prompt_id}: {exc}") from exc
        except ComfyError as exc:
            return Execution(ok=False, error=f"failed: {exc}")
        if not entry.files:
            return Execution(ok=False, error="no-output: the job succeeded but saved no file")
        files = [OutputRef.from_file(f) for f in entry.files if f.is_file]
        return Execution(ok=True, outputs=len(entry.files), files=files)

    async def smoke_weights(self, files: Mapping[str, Sequence[str]]) -> bool:
        """True when the graph names model files and the backend holds smoke weights under every name
        (answers cached per run)."""
        names = [(folder, name) for folder, found in files.items() for name in found]
        if not names:
            return False
        for key in names:
            if key not in self._smoke:
                self._smoke[key] = await self._is_smoke(*key)
            if not self._smoke[key]:
                return False
        return True

    async def _is_smoke(self, folder: str, name: str) -> bool:
        """A safetensors file by its metadata, read through ComfyUI's /view_metadata. A pickle checkpoint
        (the ESRGAN `.pth`) keeps its marker inside the zip, which ComfyUI never serves: it counts when it is
        a file name of the smoke set and the backend lists it. A real file under that name would run too;
        that is only ever an upscale model, cheap on a small input, and still judged by its output."""
        from comfyui_local.smoke_families import family_of
        from comfyui_local.smoke_weights import PICKLE_SUFFIXES

        if not name.lower().endswith(PICKLE_SUFFIXES):
            return await self._smoke_metadata(folder, name) is not None
        try:
            return family_of(folder, name) is not None and name in await self.client.models(folder)
        except ComfyUnavailable as exc:
            raise BackendError(f"ComfyUI went away: {exc}") from exc
        except ComfyError as exc:
            log.warning("cannot tell whether %s/%s is a smoke-weight file: %s", folder, name, exc)
            return False

    async def smoke_role(self, folder: str, name: str) -> str | None:
        """The role a smoke-weight safetensors file records (a smoke LoRA's names the model it was built
        for), or None for any other file."""
        meta = await self._smoke_metadata(folder, name)
        role = meta.get("role") if meta is not None else None
        return str(role) if role else None

    async def _smoke_metadata(self, folder: str, name: str) -> dict[str, Any] | None:
        """A safetensors file's smoke-weight metadata through ComfyUI's /view_metadata (cached per run)."""
        from comfyui_local.smoke_weights import is_smoke_metadata

        key = (folder, name)
        if key not in self._meta:
            try:
                meta = await self.client.view_metadata(folder, name)
            except ComfyUnavailable as exc:
                raise BackendError(f"ComfyUI went away: {exc}") from exc
            except ComfyError as exc:
                log.warning("cannot tell whether %s/%s is a smoke-weight file: %s", folder, name, exc)
                return None
            self._meta[key] = meta if is_smoke_metadata(meta) else None
        return self._meta[key]

    async def download(self, file: OutputRef) -> bytes:
        try:
            async with self.client.view(file.filename, subfolder=file.subfolder, type=file.type) as resp:
                return await resp.aread()
        except ComfyUnavailable as exc:
            raise BackendError(f"ComfyUI went away: {exc}") from exc
        except ComfyError as exc:
            raise BackendError(f"cannot download {file.filename!r}: {exc}") from exc

    async def render_video(self, name: str, *, timeout: float = 120.0) -> bytes:  # noqa: ASYNC109
        """Have ComfyUI make a placeholder video (for when PyAV is not installed here) and download it."""
        stem = name.rsplit(".", 1)[0]
        try:
            submitted = await self.client.submit(placeholder_video_graph(f"evals-placeholder/{stem}"))
            entry = await self.client.wait_for(submitted.prompt_id, timeout=timeout)
            videos = [f for f in entry.files if f.kind == "video"]
            if not videos:
                raise BackendError(f"ComfyUI saved no video for the placeholder {name!r}")
            async with self.client.view(
                videos[0].filename, subfolder=videos[0].subfolder, type=videos[0].type
            ) as r:
                return await r.aread()
        except ComfyError as exc:
            raise BackendError(f"ComfyUI could not make the placeholder video {name!r}: {exc}") from exc

    async def cancel(self, prompt_id: str) -> None:
        # Delete first, then interrupt by id: a job that started in between is still stopped, and an
        # interrupt by id never touches someone else's job.
        try:
            await self.client.delete_pending(prompt_id)
            for _ in range(CANCEL_TRIES):
                await self.client.interrupt(prompt_id)
                await asyncio.sleep(CANCEL_RECHECK)
                if not (await self.client.queue()).is_running(prompt_id):
                    return
            log.warning("job %s still runs after %d interrupts", prompt_id, CANCEL_TRIES)
        except ComfyError as exc:
            log.warning("could not cancel job %s: %s", prompt_id, exc)


async def smoke_loras_fit(backend: LiveBackend, workflow: Mapping[str, Any]) -> bool:
    """Every LoRA the graph loads is a smoke LoRA built for the model file it patches: one built for another
    model would run with ComfyUI's "lora key not loaded" and patch nothing, so the run would prove nothing."""
    from comfyui_local.smoke_loras import LORA_FOLDER, graph_loras, lora_role_base

    for name, base in graph_loras(workflow):
        role = await backend.smoke_role(LORA_FOLDER, name)
        if base is None or lora_role_base(role or "") != base:
            log.info("LoRA %s was not built for the model it patches here (%s): not run", name, base)
            return False
    return True
