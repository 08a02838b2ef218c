"""Output files of a job, collected from ComfyUI's per-node `ui` dicts and classified by kind.

ComfyUI reports outputs as `outputs[node_id] = ui`, where `ui` maps a key to a list of entries. The quirks:
core SaveVideo, SaveWEBM and SaveAnimatedWEBP/PNG report their files under `images` with `animated: [true]`
(not under a `videos` key); VideoHelperSuite's VHS_VideoCombine uses `gifs` (entries carry `format`,
`frame_rate`); audio nodes use `audio`; text nodes put plain strings under `text`. `collect_outputs` walks
every key, so nothing a node produced is missed:

    files = collect_outputs(entry.outputs)
    videos = [f for f in files if f.kind == "video"]

Kinds: an animated entry (animated flag, or a `gifs` entry) or a video container extension is "video"; audio
extensions (or the `audio` key) are "audio"; still-image extensions are "image"; `.txt/.json/...` files and
plain strings under `text` are "text" (a string has `filename == ""` and the value in `text`); anything else
(3D models, latents) is "other".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import PurePosixPath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

OutputKind = Literal["image", "video", "audio", "text", "other"]

VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".webm", ".mkv", ".mov", ".avi", ".m4v", ".mpg", ".mpeg", ".ogv", ".flv"}
)
AUDIO_EXTENSIONS = frozenset({".wav", ".mp3", ".flac", ".ogg", ".opus", ".m4a", ".aac", ".wma"})
IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".avif", ".exr", ".hdr", ".svg"}
)
TEXT_EXTENSIONS = frozenset({".txt", ".json", ".md", ".csv", ".srt", ".vtt", ".yaml", ".yml"})

# ui keys that are flags about other keys, not outputs.
_FLAG_KEYS = frozenset({"animated"})


class OutputFile(BaseModel):
    """One output of one node; read it with `client.view(f.filename, subfolder=f.subfolder, type=f.type)`.

    `key` is the ui key it came from (`images`, `gifs`, `audio`, `text`, ...); `format` is VHS's mime-like
    format (`video/h264-mp4`) when given; `text` holds the value of a plain-string `text` output (then
    `filename` is "").
    """

    model_config = ConfigDict(frozen=True)

    node_id: str
    filename: str
    subfolder: str = ""
    type: str = "output"
    kind: OutputKind
    animated: bool = False
    key: str = "images"
    format: str | None = None
    text: str | None = None

    @property
    def extension(self) -> str:
        return PurePosixPath(self.filename).suffix.lower()

    @property
    def is_file(self) -> bool:
        """False for a plain-string `text` output, which has nothing to fetch through /view."""
        return bool(self.filename)


@dataclass(kw_only=True)
class OutputRef:
    """A saved file as a job record keeps it (the gateway's jobs, the evals' executions): what /view needs,
    its kind and the node that made it. `OutputFile` is the full parse of a ui entry; this is its address."""

    node_id: str = ""
    filename: str
    subfolder: str = ""
    type: str = "output"
    kind: str = "other"  # an OutputKind; plain str so that records written by older versions still load
    animated: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> OutputRef:
        return cls(
            node_id=str(d.get("node_id", "")),
            filename=str(d["filename"]),
            subfolder=str(d.get("subfolder", "")),
            type=str(d.get("type", "output")),
            kind=str(d.get("kind", "other")),
            animated=bool(d.get("animated", False)),
        )

    @classmethod
    def from_file(cls, f: OutputFile) -> OutputRef:
        return cls(
            node_id=f.node_id,
            filename=f.filename,
            subfolder=f.subfolder,
            type=f.type,
            kind=f.kind,
            animated=f.animated,
        )


def classify(
    filename: str, *, key: str = "images", animated: bool = False, fmt: str | None = None
) -> OutputKind:
    """The kind of one output entry, from its ui key, animated flag, VHS format and file extension.

    A `gifs` entry (VideoHelperSuite) is animated whatever its flag says."""
    animated = animated or key == "gifs"
    ext = PurePosixPath(filename).suffix.lower()
    fmt_major = (fmt or "").split("/", 1)[0].lower()
    if key == "audio" or fmt_major == "audio" or ext in AUDIO_EXTENSIONS:
        # A .webm under `audio` is audio; elsewhere it is a video container.
        return "audio" if key == "audio" or ext not in VIDEO_EXTENSIONS else "video"
    if animated or fmt_major == "video" or ext in VIDEO_EXTENSIONS:
        return "video"
    if ext in IMAGE_EXTENSIONS or fmt_major == "image":
        return "image"
    if ext in TEXT_EXTENSIONS or key == "text":
        return "text"
    return "other"


def _animated_flags(ui: Mapping[str, Any], count: int) -> list[bool]:
    raw = ui.get("animated")
    if not isinstance(raw, list | tuple) or not raw:
        return [False] * count
    flags = [bool(v) for v in raw]
    if len(flags) == count:
        return flags
    # SaveAnimatedWEBP sends one flag for the whole list.
    return [any(flags)] * count


def collect_outputs(outputs: Mapping[str, Any]) -> list[OutputFile]:
    """Every output of every node in `outputs` (history `outputs` or `{node: executed.output}`), in order.

    Malformed entries are skipped, never raised on: the input comes from custom nodes of every quality.
    """
    files: list[OutputFile] = []
    for node_id, ui in outputs.items():
        if not isinstance(ui, Mapping):
            continue
        for key, entries in ui.items():
            if key in _FLAG_KEYS or not isinstance(entries, list | tuple):
                continue
            flags = _animated_flags(ui, len(entries)) if key == "images" else [key == "gifs"] * len(entries)
            for entry, animated in zip(entries, flags, strict=True):
                item = _entry(str(node_id), str(key), entry, animated)
                if item is not None:
                    files.append(item)
    return files


def _entry(node_id: str, key: str, entry: Any, animated: bool) -> OutputFile | None:
    if isinstance(entry, str):
        if key != "text":
            return None
        return OutputFile(
            node_id=node_id, filename="", subfolder="", type="", kind="text", key=key, text=entry
        )
    if not isinstance(entry, Mapping):
        return None
    filename = entry.get("filename")
    if not isinstance(filename, str) or not filename:
        return None
    fmt = entry.get("format")
    fmt = fmt if isinstance(fmt, str) else None
    kind = classify(filename, key=key, animated=animated, fmt=fmt)
    return OutputFile(
        node_id=node_id,
        filename=filename,
        subfolder=str(entry.get("subfolder") or ""),
        type=str(entry.get("type") or "output"),
        kind=kind,
        animated=animated or (kind == "video" and key == "gifs"),
        key=key,
        format=fmt,
    )
