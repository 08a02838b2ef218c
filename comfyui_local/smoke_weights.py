"""HunyuanVideo smoke weights: tiny or stub model files under official names, so the real graph runs on a CPU.

The video they make is noise or flat grey: they exist to prove the whole path (text encoders, diffusion model,
sampler, VAE, video encoder) runs, never to make pictures. The files are generated from ComfyUI's own model
definitions by `_smoke_weights_worker.py`, run with ComfyUI's Python (torch lives only there), and every file
carries safetensors metadata `{"comfy_gateway_smoke_weights": "1", "kind", "seed", "note", ...}` that
`is_smoke_weights` reads with the standard library alone.

`stub` files omit a model's large weights; the local ComfyUI sets what a marked file omits to exact zeros
(`_comfy_site/sitecustomize.py`, on its PYTHONPATH by `process.comfy_env`); another ComfyUI would leave them
uninitialised. Judge the output with `check_frames`, which fails on NaN-born frames even when ComfyUI reports
success.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import struct
import subprocess
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeGuard

from comfyui_local.installer import ComfyInstall, file_lock
from comfyui_local.process import comfy_env

log = logging.getLogger(__name__)

Kind = Literal["tiny", "stub"]
KINDS: tuple[Kind, ...] = ("stub", "tiny")
MARKER = "comfy_gateway_smoke_weights"
MARKER_VERSION = "1"
# The writer's revision, in every file's metadata. Bump it when files written before hold other values: a file
# of an older revision is rewritten like one of another kind or seed (same names and shapes, so nothing else
# would notice). Revision 2: a CLIP vision tower's layer norms were written from uninitialised memory, so
# HunyuanVideo image-to-video made NaN frames from files that loaded cleanly.
WRITER_REVISION = "2"
WORKER = Path(__file__).with_name("_smoke_weights_worker.py")
# A safetensors header is a few KiB to a few MiB; anything bigger is not a header we will parse.
MAX_HEADER_BYTES = 100 * 1024 * 1024
MAX_MARKER_BYTES = 64 * 1024
# Names ComfyUI loads with torch.load (a pickle, usually a torch zip archive), not as safetensors.
PICKLE_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt")


class SmokeWeightsError(RuntimeError):
    """Smoke weights could not be generated or failed ComfyUI's load check; the message says which file."""


class NotSafetensors(ValueError):
    """The file is not a readable safetensors file (too short, bad header length or JSON)."""


@dataclass(frozen=True)
class SmokeFile:
    """One model file of the smoke set, under the name the official HunyuanVideo workflows use."""

    role: str
    folder: str
    filename: str
    loader: str

    def path(self, models_dir: Path) -> Path:
        return models_dir / self.folder / self.filename


# Text-to-video (HunyuanVideo 1.0, the official ComfyUI example workflow).
T2V_FILES: tuple[SmokeFile, ...] = (
    SmokeFile("dit_t2v", "diffusion_models", "hunyuan_video_t2v_720p_bf16.safetensors", "UNETLoader"),
    SmokeFile("vae", "vae", "hunyuan_video_vae_bf16.safetensors", "VAELoader"),
    SmokeFile("clip_l", "text_encoders", "clip_l.safetensors", "DualCLIPLoader"),
    SmokeFile("llama", "text_encoders", "llava_llama3_fp8_scaled.safetensors", "DualCLIPLoader"),
)
# Image-to-video adds an in_channels-33 diffusion model and the llava CLIP-vision tower.
I2V_FILES: tuple[SmokeFile, ...] = (
    SmokeFile(
        "dit_i2v", "diffusion_models", "hunyuan_video_image_to_video_720p_bf16.safetensors", "UNETLoader"
    ),
    SmokeFile("clip_vision", "clip_vision", "llava_llama3_vision.safetensors", "CLIPVisionLoader"),
)
ALL_FILES: tuple[SmokeFile, ...] = T2V_FILES + I2V_FILES


# --------------------------------------------------------------------------- reading (stdlib only)


def read_safetensors_header(path: Path) -> dict[str, Any]:
    """The JSON header of a safetensors file: 8-byte little-endian length, then that many bytes of JSON."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
            if len(head) != 8:
                raise NotSafetensors(f"{path}: {len(head)} bytes, no safetensors header")
            (length,) = struct.unpack("<Q", head)
            size = os.fstat(fh.fileno()).st_size
            if length < 2 or length > MAX_HEADER_BYTES or 8 + length > size:
                raise NotSafetensors(f"{path}: header length {length} does not fit a {size}-byte file")
            raw = fh.read(length)
    except OSError as exc:
        raise NotSafetensors(f"{path}: {exc.strerror or exc}") from exc
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NotSafetensors(f"{path}: header is not JSON ({exc})") from exc
    if not isinstance(header, dict):
        raise NotSafetensors(f"{path}: header is not a JSON object")
    return header


def is_smoke_metadata(meta: object) -> TypeGuard[dict[str, Any]]:
    """A safetensors `__metadata__` (read from the file, or served by ComfyUI's /view_metadata) that carries
    the smoke-weights marker."""
    return isinstance(meta, dict) and meta.get(MARKER) == MARKER_VERSION


def read_pickle_marker(path: Path) -> object:
    """The marker record of a torch zip checkpoint (`.pth`) the worker wrote, or None.

    torch.save writes a zip archive; the worker adds `<archive>/comfy_gateway_smoke_weights.json` to it,
    a record torch itself ignores. Real pickles (zip or legacy) simply lack it.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            name = next((n for n in zf.namelist() if n.endswith(f"/{MARKER}.json")), None)
            if name is None or zf.getinfo(name).file_size > MAX_MARKER_BYTES:
                return None
            return json.loads(zf.read(name))
    except (OSError, zipfile.BadZipFile, UnicodeDecodeError, json.JSONDecodeError):
        return None


def smoke_metadata(path: Path) -> dict[str, str] | None:
    """The smoke-weight metadata of a file, or None for anything else (real weights, placeholders, junk)."""
    meta: object
    if path.suffix.lower() in PICKLE_SUFFIXES:
        meta = read_pickle_marker(path)
    else:
        try:
            meta = read_safetensors_header(path).get("__metadata__")
        except NotSafetensors:
            return None
    if not is_smoke_metadata(meta):
        return None
    return {str(k): str(v) for k, v in meta.items()}


def is_smoke_weights(path: Path | str) -> bool:
    """True for a file written by this module (safetensors metadata carries the marker)."""
    return smoke_metadata(Path(path)) is not None


def matches(path: Path, *, kind: str, seed: int, role: str | None = None) -> bool:
    """The file is a smoke-weight file of exactly this kind and seed (and role, when given), written by this
    revision of the writer."""
    meta = smoke_metadata(path)
    if meta is None or meta.get("kind") != kind or meta.get("seed") != str(seed):
        return False
    if meta.get("writer") != WRITER_REVISION:
        return False
    return role is None or meta.get("role") == role


# --------------------------------------------------------------------------- generation


@dataclass
class SmokeWeightsReport:
    """What `build_smoke_weights` did: files written now, files already there, the worker's figures."""

    paths: list[Path]
    generated: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    worker: dict[str, Any] = field(default_factory=dict)


def select_files(*, i2v: bool = True) -> tuple[SmokeFile, ...]:
    return ALL_FILES if i2v else T2V_FILES


def _check_kind(kind: str, seed: int) -> None:
    if kind not in KINDS:
        raise SmokeWeightsError(f"unknown smoke-weight kind {kind!r}: choose one of {', '.join(KINDS)}")
    if seed < 0:
        raise SmokeWeightsError(f"seed must be >= 0, got {seed}")


def build_smoke_weights(
    models_dir: Path,
    *,
    inst: ComfyInstall,
    kind: Kind = "stub",
    seed: int = 0,
    i2v: bool = True,
    force: bool = False,
    timeout: float = 1800.0,
    files: Sequence[SmokeFile] | None = None,
) -> SmokeWeightsReport:
    """Write the files that are missing or of another kind/seed, then load the whole set with ComfyUI.

    `files` (see `smoke_families`) replaces the default HunyuanVideo set (`i2v` is then ignored).
    """
    _check_kind(kind, seed)
    files = tuple(files) if files is not None else select_files(i2v=i2v)
    models_dir = models_dir.resolve()
    paths = [f.path(models_dir) for f in files]
    with file_lock(models_dir / ".smoke-weights.lock"):
        todo = [
            f for f in files if force or not matches(f.path(models_dir), kind=kind, seed=seed, role=f.role)
        ]
        _refuse_real_files(todo, models_dir)
        report = SmokeWeightsReport(paths=paths, skipped=[f.role for f in files if f not in todo])
        if not todo:
            log.info("smoke weights (%s, seed %d) already in %s", kind, seed, models_dir)
            return report
        job = {
            "comfyui_dir": str(inst.require().comfyui_dir),
            "kind": kind,
            "seed": seed,
            "writer": WRITER_REVISION,
            "files": {f.role: str(f.path(models_dir)) for f in files},
            "existing": report.skipped,
            "check": True,
        }
        log.info(
            "writing %s smoke weights (seed %d) into %s: %s",
            kind,
            seed,
            models_dir,
            ", ".join(f.role for f in todo),
        )
        report.worker = _run_worker(inst, job, timeout=timeout)
        report.generated = [f.role for f in todo]
    _raise_on_failed_check(report.worker)
    return report


def ensure_smoke_weights(
    models_dir: Path, *, inst: ComfyInstall, kind: Kind = "stub", seed: int = 0, i2v: bool = True
) -> list[Path]:
    """The smoke-weight files in `models_dir/<folder>/`, generated only when missing; returns their paths."""
    return build_smoke_weights(models_dir, inst=inst, kind=kind, seed=seed, i2v=i2v).paths


def _refuse_real_files(todo: Sequence[SmokeFile], models_dir: Path) -> None:
    """Never write over someone's model: only missing files, empty placeholders and smoke files are replaced
    (`force` included)."""
    real = [
        str(path)
        for path in (f.path(models_dir) for f in todo)
        if path.is_file() and path.stat().st_size > 0 and not is_smoke_weights(path)
    ]
    if real:
        raise SmokeWeightsError(
            "refusing to write smoke weights over files that are not smoke weights: " + ", ".join(real)
        )


def _run_worker(inst: ComfyInstall, job: dict[str, Any], *, timeout: float) -> dict[str, Any]:
    cmd = [str(inst.python), str(WORKER)]
    try:
        proc = subprocess.run(
            cmd,
            input=json.dumps(job),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=comfy_env(),
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise SmokeWeightsError(f"smoke-weight generation took longer than {timeout:.0f} s") from exc
    except OSError as exc:
        raise SmokeWeightsError(f"cannot run ComfyUI's python {inst.python}: {exc}") from exc
    lines = proc.stdout.strip().splitlines()
    try:
        result: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        result = {}
    if proc.returncode != 0 or "error" in result or not result:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        reason = result.get("error") or f"exit code {proc.returncode}"
        raise SmokeWeightsError(f"smoke-weight generation failed: {reason}\n{tail}")
    return result


def _raise_on_failed_check(result: dict[str, Any]) -> None:
    """Every file must load its values, with nothing unexpected and only a stub's omissions missing."""
    problems = [
        f"{role}: {check.get('problem', 'failed')}"
        for role, check in result.get("check", {}).items()
        if not check.get("ok")
    ]
    if problems:
        raise SmokeWeightsError("ComfyUI's loaders rejected smoke weights: " + "; ".join(problems))


# --------------------------------------------------------------------------- placing files


def install_smoke_weights(paths: Sequence[Path], src_models_dir: Path, dst_models_dir: Path) -> list[Path]:
    """Copy smoke files into another models folder, replacing whatever sits under the same names.

    Copies (never links): a test that writes an empty placeholder over a link would truncate the cache.
    Each copy goes to a temporary name first and is renamed, so a reader never sees half a file.
    """
    out: list[Path] = []
    src_root = src_models_dir.resolve()
    for src in paths:
        rel = src.resolve().relative_to(src_root)
        dst = dst_models_dir / rel
        if dst.is_file() and not dst.is_symlink() and _same_file_content(src, dst):
            out.append(dst)
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
        out.append(dst)
    return out


def _same_file_content(a: Path, b: Path) -> bool:
    """Cheap identity: same size and same smoke metadata (the header pins kind, seed, role and shapes)."""
    if a.stat().st_size != b.stat().st_size:
        return False
    try:
        return read_safetensors_header(a) == read_safetensors_header(b)
    except NotSafetensors:
        return False


# --------------------------------------------------------------------------- checking the video they make

# ComfyUI reports success even when a model produced NaN: the VAE's clamp keeps NaN, and the conversion to
# 8-bit turns NaN (and -inf) into 0 and +inf into 255 in every channel at once. Finite smoke weights give
# noise (tiny) or a flat colour (stub) whose channels are never all pinned at one extreme over a whole block.
BLOCK = 8
DARK, BRIGHT = 4, 251  # h264 in yuv420p brings pure black/white back within a few levels


@dataclass(frozen=True)
class RgbFrame:
    """One decoded frame: `width * height * 3` bytes of packed RGB, row after row."""

    width: int
    height: int
    rgb: bytes

    def pixel(self, x: int, y: int) -> bytes:
        i = (y * self.width + x) * 3
        return self.rgb[i : i + 3]


@dataclass(frozen=True)
class FrameCheck:
    """Verdict on a decoded smoke video; `ok` is False for NaN/inf-born frames or a wrong size or count."""

    ok: bool
    frames: int
    width: int
    height: int
    reason: str = ""
    bad_blocks: tuple[tuple[int, int, int, str], ...] = ()  # (frame, x, y, "black" | "white")


def _block_extreme(frame: RgbFrame, x0: int, y0: int) -> str | None:
    """'black' or 'white' when every channel of every pixel of the block sits at that extreme."""
    lo = hi = True
    for y in range(y0, min(y0 + BLOCK, frame.height)):
        start = (y * frame.width + x0) * 3
        row = frame.rgb[start : start + min(BLOCK, frame.width - x0) * 3]
        lo = lo and max(row) <= DARK
        hi = hi and min(row) >= BRIGHT
        if not (lo or hi):
            return None
    return "black" if lo else "white"


def check_frames(
    frames: Sequence[RgbFrame],
    *,
    expect_frames: int | None = None,
    expect_size: tuple[int, int] | None = None,
) -> FrameCheck:
    """Check decoded frames for count, size and NaN-born garbage (any 8x8 block pinned black or white)."""
    width = frames[0].width if frames else 0
    height = frames[0].height if frames else 0

    def verdict(reason: str, bad: tuple[tuple[int, int, int, str], ...] = ()) -> FrameCheck:
        return FrameCheck(not reason, len(frames), width, height, reason, bad)

    if not frames:
        return verdict("the video holds no frame")
    if expect_frames is not None and len(frames) != expect_frames:
        return verdict(f"{len(frames)} frames, expected {expect_frames}")
    for i, frame in enumerate(frames):
        if len(frame.rgb) != frame.width * frame.height * 3:
            return verdict(f"frame {i}: {len(frame.rgb)} bytes for {frame.width}x{frame.height} RGB")
        if (frame.width, frame.height) != (width, height):
            return verdict(f"frame {i} is {frame.width}x{frame.height}, frame 0 is {width}x{height}")
    if expect_size is not None and (width, height) != expect_size:
        return verdict(f"frames are {width}x{height}, expected {expect_size[0]}x{expect_size[1]}")
    bad = tuple(
        (i, x, y, kind)
        for i, frame in enumerate(frames)
        for y in range(0, height, BLOCK)
        for x in range(0, width, BLOCK)
        if (kind := _block_extreme(frame, x, y)) is not None
    )
    if bad:
        frames_hit = sorted({b[0] for b in bad})
        return verdict(
            f"{len(bad)} blocks of {BLOCK}x{BLOCK} pixels pinned at black/white in frames {frames_hit}: "
            "NaN or inf came out of the models",
            bad,
        )
    return verdict("")


def decode_rgb_frames(data: bytes) -> list[RgbFrame]:
    """Decode every frame of a video file (mp4, webm ...) to packed RGB with PyAV (an optional dependency)."""
    try:
        import av
    except ImportError as exc:
        raise SmokeWeightsError("decoding videos needs PyAV: pip install av") from exc
    import io

    frames: list[RgbFrame] = []
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            for frame in container.decode(video=0):
                rgb = frame.reformat(format="rgb24")
                plane = rgb.planes[0]
                raw = bytes(plane)
                row = rgb.width * 3
                packed = b"".join(
                    raw[y * plane.line_size : y * plane.line_size + row] for y in range(rgb.height)
                )
                frames.append(RgbFrame(rgb.width, rgb.height, packed))
    except av.FFmpegError as exc:
        raise SmokeWeightsError(f"not a decodable video: {exc}") from exc
    return frames
