"""The one rule for what a request leaves unsaid: the model family and the output size of each task.

A lone text-to-image request (the template path) and the first picture of a composed chain ("a fox, then
upscale it 2x") both generate at `picture_size()`, so the same words never give two different pictures.
"""

from __future__ import annotations

# Default output size by (task group, family): what the templates were verified with.
_DEFAULT_SIZE = {
    "text-to-image/hunyuan-video": (1280, 720),
    "hunyuan-video": (848, 480),
    "sdxl": (1024, 1024),
    "flux": (1024, 1024),
    "qwen-image": (1328, 1328),
    "sd15": (512, 512),
    "test-video": (320, 240),
    "test-image": (512, 512),
}
DEFAULT_FPS = 24.0
DEFAULT_FRAMES = {"hunyuan-video": 73, "test-video": 48}


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


def picture_size() -> tuple[int, int]:
    """The size of a picture generated from text when the request names none (SDXL's 1024x1024): a model
    family is then chosen for it, so a 512-pixel SD1.5 picture is never the silent default."""
    return default_size("text-to-image", default_family("text-to-image"))
