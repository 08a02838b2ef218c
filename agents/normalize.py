"""Rules every Intent goes through, whichever strategy wrote it: frames, resolution, overrides."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from agents.defaults import DEFAULT_FPS, DEFAULT_FRAMES, default_family, default_size
from agents.errors import InputRequiredError, IntentError
from agents.intent import VIDEO_TASKS, Intent
from agents.parsing import parse_request
from agents.request_words import ORIENTATIONS

MAX_SIDE = 4096
MAX_FRAMES = 4096


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


# Numeric Intent fields and the parser's names for them.
_NUMBER_FIELDS = {
    "duration": "duration",
    "fps": "fps",
    "frames": "frames",
    "steps": "steps",
    "seed": "seed",
    "guidance": "guidance",
    "denoise": "denoise",
    "upscale": "upscale_factor",
}


def _limits(name: str) -> tuple[float | None, float | None, bool]:
    """(lowest, highest, lowest excluded) of a numeric Intent field, from its declared constraints."""
    lo = hi = None
    exclusive = False
    for meta in Intent.model_fields[name].metadata:
        if getattr(meta, "ge", None) is not None:
            lo = meta.ge
        if getattr(meta, "gt", None) is not None:
            lo, exclusive = meta.gt, True
        if getattr(meta, "le", None) is not None:
            hi = meta.le
    return lo, hi, exclusive


def clamp_value(name: str, value: Any, warnings: list[str]) -> Any:
    """A number outside a field's supported range -> its nearest supported value (None when the range
    excludes its lower end: "0 seconds" has no nearest value, so the default applies), with a warning.
    Users asking for a 20 minute video want the longest one on offer, not an error."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return value
    lo, hi, exclusive = _limits(name)
    if hi is not None and value > hi:
        clamped: Any = type(value)(hi) if isinstance(value, int) else float(hi)
        warnings.append(f"{name} {value:g} is above the supported maximum; using {clamped:g}")
        return clamped
    if lo is not None and (value <= lo if exclusive else value < lo):
        if exclusive:
            warnings.append(f"{name} {value:g} is not supported; using the default")
            return None
        warnings.append(f"{name} {value:g} is below the supported minimum; using {lo:g}")
        return type(value)(lo)
    return value


def clamp_numbers(numbers: Mapping[str, float], warnings: list[str]) -> dict[str, float]:
    """The parser's numbers, each clamped to its Intent field's range (dropped when it has no nearest)."""
    out: dict[str, float] = {}
    for key, value in numbers.items():
        name = _NUMBER_FIELDS.get(key)
        clamped = clamp_value(name, value, warnings) if name else value
        if clamped is not None:
            out[key] = clamped
    return out


def clamp_fields(data: Mapping[str, Any], warnings: list[str]) -> dict[str, Any]:
    """An Intent-shaped dict (an LLM's answer, overrides) with its numbers clamped the same way."""
    out = dict(data)
    for name in (*_NUMBER_FIELDS.values(), "width", "height"):
        if out.get(name) is not None:
            out[name] = clamp_value(name, out[name], warnings)
    return out


def provided_inputs(overrides: Mapping[str, Any] | None) -> dict[str, str]:
    """Input files that come with the request as structured values: {"image"|"video": file name}."""
    found: dict[str, str] = {}
    extra = (overrides or {}).get("extra_params")
    extra = extra if isinstance(extra, Mapping) else {}
    for kind in ("image", "video"):
        for source, key in ((overrides or {}, f"input_{kind}"), (extra, f"input_{kind}"), (extra, kind)):
            value = source.get(key)
            if isinstance(value, str) and value.strip():
                found[kind] = value
                break
    return found


def steer_task(task: str, *, image: bool, video: bool) -> str:
    """A text-only task turned into the one that uses the input given with the request."""
    if video and task in {"text-to-video", "image-to-video"} and not (task == "image-to-video" and image):
        return "video-to-video"
    if image and task == "text-to-video":
        return "image-to-video"
    if image and task == "text-to-image":
        return "image-to-image"
    return task


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
    if not (overrides or {}).get("task"):
        # An input file given with the request decides between "make one" and "use this one".
        data["task"] = steer_task(
            data["task"], image=bool(data.get("input_image")), video=bool(data.get("input_video"))
        )
    if data.get("duration") is not None and overrides and overrides.get("duration") is not None:
        data["frames"] = None  # an explicit duration outranks frames parsed from the text
    return _fill_defaults(validated(data, "invalid request values"))


def validated(data: Mapping[str, Any], what: str) -> Intent:
    """An Intent from a dict whose numbers are first clamped to the supported ranges (each clamp becomes a
    warning); IntentError `what: ...` for what clamping cannot mend (a wrong type, an unknown task)."""
    warnings = list(data.get("warnings") or [])
    fields = {**clamp_fields(data, warnings), "warnings": warnings}
    try:
        return Intent.model_validate(fields)
    except ValueError as exc:
        raise IntentError(f"{what}: {exc}") from exc


_NEEDS_IMAGE = {"image-to-video", "image-to-image", "upscale"}


def _fill_defaults(intent: Intent) -> Intent:
    if intent.task in _NEEDS_IMAGE and not intent.input_image:
        raise InputRequiredError(
            f"{intent.task} needs an input image: upload it to ComfyUI's input folder and name the file "
            "(e.g. 'animate photo.png ...' or input_image)",
            kind="image",
        )
    if intent.task == "video-to-video" and not intent.input_video:
        raise InputRequiredError(
            "video-to-video needs an input video: upload it and name the file (e.g. 'clip.mp4')", kind="video"
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
    warnings = list(intent.warnings)
    if width is not None and height is not None:
        if max(width, height) > MAX_SIDE:
            scale = MAX_SIDE / max(width, height)
            fitted = max(16, math.floor(width * scale)), max(16, math.floor(height * scale))
            warnings.append(
                f"{width}x{height} is larger than the {MAX_SIDE} pixel limit; using {fitted[0]}x{fitted[1]}"
            )
            width, height = fitted
        if intent.task != "test-image":
            width, height = round16(width), round16(height)
    updates["width"], updates["height"] = width, height
    if intent.is_video:
        fps = intent.fps or DEFAULT_FPS
        # The video's length (frames / fps) has the duration field's limit too; at a low fps it binds first.
        max_seconds = _limits("duration")[1] or math.inf
        if fps * max_seconds < 1:
            slowest = 1 / max_seconds
            warnings.append(f"fps {fps:g} is too low for one frame in {max_seconds:g} s; using {slowest:g}")
            fps = slowest
        updates["fps"] = fps
        if intent.frames is not None:
            frames = float(intent.frames)
        elif intent.duration is not None:
            frames = intent.duration * fps
        else:
            frames = DEFAULT_FRAMES.get(key, 73)
        aligned = align_4k1(frames) if family == "hunyuan-video" else max(1, round(frames))
        limit = min(MAX_FRAMES, max(1, math.floor(fps * max_seconds + 1e-9)))
        if aligned > limit:
            longest = 4 * ((limit - 1) // 4) + 1 if family == "hunyuan-video" else limit
            what = f"the {MAX_FRAMES} frame limit" if limit == MAX_FRAMES else f"the {max_seconds:g} s limit"
            warnings.append(
                f"{aligned} frames is more than {what}; using {longest} ({longest / fps:g} s at {fps:g} fps)"
            )
            aligned = longest
        updates["frames"] = aligned
        updates["duration"] = round(aligned / fps, 3)
    if intent.style and intent.style.lower() not in intent.prompt.lower():
        updates["prompt"] = (
            f"{intent.prompt}, {intent.style} style" if intent.prompt else f"{intent.style} style"
        )
    updates["warnings"] = warnings
    return intent.model_copy(update=updates)
