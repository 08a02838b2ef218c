"""Rules every Intent goes through, whichever strategy wrote it: frames, resolution, overrides."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from agents.errors import IntentError
from agents.intent import VIDEO_TASKS, Intent
from agents.parsing import ORIENTATIONS, parse_request

# Default output size and fps by (task group, family): what the templates were verified with.
_DEFAULT_SIZE = {
    "text-to-image/hunyuan-video": (1280, 720),
    "hunyuan-video": (848, 480),
    "sdxl": (1024, 1024),
    "flux": (1024, 1024),
    "sd15": (512, 512),
    "test-video": (320, 240),
    "test-image": (512, 512),
}
DEFAULT_FPS = 24.0
DEFAULT_FRAMES = {"hunyuan-video": 73, "test-video": 48}
MAX_SIDE = 4096


def default_family(task: str) -> str:
    if task in {"text-to-video", "image-to-video", "video-to-video"}:
        return "hunyuan-video"
    if task == "text-to-image":
        return "sdxl"
    if task == "image-to-image":
        return "sd15"
    return "none"


def default_size(task: str, family: str) -> tuple[int, int]:
    return (
        _DEFAULT_SIZE.get(f"{task}/{family}")
        or _DEFAULT_SIZE.get(task)
        or _DEFAULT_SIZE.get(family, (848, 480))
    )


def round16(value: float) -> int:
    return max(16, math.floor(value / 16 + 0.5) * 16)


def align_4k1(frames: float) -> int:
    """HunyuanVideo's latent length: the nearest 4k+1 (1, 5, 9, ... 121 ...)."""
    return max(1, 4 * math.floor((frames - 1) / 4 + 0.5) + 1)


def size_for(
    aspect: tuple[int, int] | None, short_side: int | None, default: tuple[int, int]
) -> tuple[int, int]:
    """A (width, height) from an aspect ratio and/or the short side; the default's pixel area otherwise."""
    if aspect is None and short_side is None:
        return default
    if aspect is None:
        aspect = (16, 9)  # "720p" alone means the usual widescreen frame
    a, b = aspect
    if short_side is not None:
        long_side = short_side * max(a, b) / min(a, b)
        w, h = (long_side, short_side) if a >= b else (short_side, long_side)
    else:
        area = default[0] * default[1]
        w = math.sqrt(area * a / b)
        h = w * b / a
    return round16(w), round16(h)


def parse_resolution(text: str, default: tuple[int, int]) -> tuple[int, int]:
    """`"512x512"`, `"720p"`, `"16:9"`, `"vertical 1080p"` -> (width, height), multiples of 16."""
    parsed = parse_request(text)
    if parsed.width and parsed.height:
        return round16(parsed.width), round16(parsed.height)
    if parsed.named_height is None and parsed.aspect is None:
        raise IntentError(
            f"resolution {text!r} not understood: use WIDTHxHEIGHT (512x512), 480p/720p/1080p, "
            "an aspect ratio "
            f"(16:9) or one of {sorted(ORIENTATIONS)}"
        )
    return size_for(parsed.aspect, parsed.named_height, default)


def finalize(intent: Intent, overrides: Mapping[str, Any] | None = None) -> Intent:
    """Apply structured overrides (they win over the text), fill defaults, align frames and sizes."""
    data = intent.model_dump()
    extra = dict(data.get("extra_params") or {})
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key == "video":
            # /api/video/generate: whatever the text says, the answer is a HunyuanVideo video
            if value and data["task"] not in VIDEO_TASKS:
                data["task"] = "image-to-video" if data.get("input_image") else "text-to-video"
            if value and data["task"] != "test-video":
                data["model_family"] = "hunyuan-video"
            continue
        if key == "extra_params":
            if not isinstance(value, Mapping):
                raise IntentError("extra_params must be an object")
            extra.update(value)
        elif key == "resolution":
            family = data.get("model_family") or default_family(data["task"])
            data["width"], data["height"] = parse_resolution(str(value), default_size(data["task"], family))
        elif key == "style":
            data["style"] = str(value)
        elif key in Intent.model_fields:
            data[key] = value
        else:
            extra[key] = value
    # Known keys in extra_params are first-class fields (a client may send {"fps": 12} there).
    aliases = {
        "cfg": "guidance",
        "cfg_scale": "guidance",
        "negative": "negative_prompt",
        "length": "frames",
        "num_frames": "frames",
        "image": "input_image",
        "video": "input_video",
        "format": "output_format",
    }
    for key in list(extra):
        field = aliases.get(key, key)
        if field in Intent.model_fields and field not in {"extra_params", "task"}:
            data[field] = extra.pop(key)
    data["extra_params"] = extra
    if data.get("duration") is not None and overrides and overrides.get("duration") is not None:
        data["frames"] = None  # an explicit duration outranks frames parsed from the text
    try:
        intent = Intent.model_validate(data)
    except ValueError as exc:
        raise IntentError(f"invalid request values: {exc}") from exc
    return _fill_defaults(intent)


_NEEDS_IMAGE = {"image-to-video", "image-to-image", "upscale"}


def _fill_defaults(intent: Intent) -> Intent:
    if intent.task in _NEEDS_IMAGE and not intent.input_image:
        raise IntentError(
            f"{intent.task} needs an input image: upload it to ComfyUI's input folder and name the file "
            "(e.g. 'animate photo.png ...' or input_image)"
        )
    if intent.task == "video-to-video" and not intent.input_video:
        raise IntentError(
            "video-to-video needs an input video: upload it and name the file (e.g. 'clip.mp4')"
        )
    updates: dict[str, Any] = {}
    family = intent.model_family or default_family(intent.task)
    updates["model_family"] = family
    key = intent.task if intent.task in {"test-video", "test-image"} else family
    base = default_size(intent.task, family)
    width, height = intent.width, intent.height
    if width is None and height is None and intent.task not in {"upscale", "image-to-image"}:
        width, height = base
    elif width is None and height is not None:
        width = round16(height * base[0] / base[1])
    elif height is None and width is not None:
        height = round16(width * base[1] / base[0])
    if width is not None and height is not None:
        if max(width, height) > MAX_SIDE:
            raise IntentError(f"{width}x{height} is larger than the {MAX_SIDE} pixel limit")
        if intent.task != "test-image":
            width, height = round16(width), round16(height)
    updates["width"], updates["height"] = width, height
    if intent.is_video:
        fps = intent.fps or DEFAULT_FPS
        updates["fps"] = fps
        if intent.frames is not None:
            frames = float(intent.frames)
        elif intent.duration is not None:
            frames = intent.duration * fps
        else:
            frames = DEFAULT_FRAMES.get(key, 73)
        aligned = align_4k1(frames) if family == "hunyuan-video" else max(1, round(frames))
        if aligned > 4096:
            raise IntentError(f"{aligned} frames is more than the 4096 frame limit; ask for a shorter video")
        updates["frames"] = aligned
        updates["duration"] = round(aligned / fps, 3)
    if intent.style and intent.style.lower() not in intent.prompt.lower():
        updates["prompt"] = (
            f"{intent.prompt}, {intent.style} style" if intent.prompt else f"{intent.style} style"
        )
    return intent.model_copy(update=updates)
