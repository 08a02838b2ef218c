"""Wiring between steps: what feeds a port (`Source`), request files as loader nodes, output nodes."""

from __future__ import annotations

import re
from dataclasses import dataclass

from agents.compose.fragments import Fragment
from agents.compose.plan import Plan
from node_catalog.linklist import LinkList

Fps = float | tuple[str, str] | None
_VIDEO_EXT = (".mp4", ".webm", ".mov", ".mkv", ".avi", ".gif")


def file_type(name: str) -> str:
    """The port type of a request input file, from its name: clips by extension, masks by name."""
    low = name.lower()
    if low.endswith(_VIDEO_EXT):
        return "VIDEO"
    stem = low.rsplit("/", 1)[-1]
    return "MASK" if "mask" in stem else "IMAGE"


@dataclass
class Source:
    """What feeds a port: a node output, its type, and for a clip its frame rate (a number or a link)."""

    node: str
    output: str
    type: str
    fps: Fps = None


def frames_for(seconds: float | None, frames: int | None, fps: float, fragment: Fragment) -> int | None:
    if frames is None and seconds is not None:
        frames = max(1, round(seconds * fps))
    if frames is None:
        return None
    if fragment.defaults.get("frame_rule") == "4k+1":
        frames = 4 * max(0, round((frames - 1) / 4)) + 1
    return frames


def file_source(ll: LinkList, cache: dict[str, Source], name: str, ptype: str) -> Source:
    key = f"{name}\n{ptype}"
    if key in cache:
        return cache[key]
    if ptype == "VIDEO":
        load = ll.add("LoadVideo", {"file": name})
        parts = ll.add("GetVideoComponents")
        ll.links.append((load, "VIDEO", parts, "video"))
        src = Source(parts, "images", "VIDEO", (parts, "fps"))
    elif ptype == "MASK":
        load = ll.add("LoadImageMask", {"image": name, "channel": "red"})
        src = Source(load, "MASK", "MASK")
    else:
        load = ll.add("LoadImage", {"image": name})
        src = Source(load, "IMAGE", "IMAGE")
    cache[key] = src
    return src


def save_sinks(ll: LinkList, plan: Plan, outs: list[Source | None], consumed: set[int]) -> list[str]:
    """An output node for every step output no later step takes (a clip: CreateVideo + SaveVideo)."""
    saved = []
    for idx, src in enumerate(outs):
        if src is None or idx in consumed:
            continue
        prefix = f"compose/{plan.steps[idx].op}"
        if src.type == "VIDEO":
            create = ll.add("CreateVideo", {} if isinstance(src.fps, tuple) else {"fps": src.fps or 24.0})
            ll.links.append((src.node, src.output, create, "images"))
            if isinstance(src.fps, tuple):
                ll.links.append((src.fps[0], src.fps[1], create, "fps"))
            save = ll.add("SaveVideo", {"filename_prefix": prefix, "format": "mp4", "codec": "h264"})
            ll.links.append((create, "VIDEO", save, "video"))
        elif src.type == "MASK":
            img = ll.add("MaskToImage")
            ll.links.append((src.node, src.output, img, "mask"))
            save = ll.add("SaveImage", {"filename_prefix": prefix})
            ll.links.append((img, "IMAGE", save, "images"))
        else:
            save = ll.add("SaveImage", {"filename_prefix": prefix})
            ll.links.append((src.node, src.output, save, "images"))
        saved.append(save)
    return saved


def native_scale(name: str) -> int | None:
    match = re.search(r"(?:^|[^0-9])([1-8])x|x([1-8])(?:[^0-9]|$)", name.lower())
    return int(match.group(1) or match.group(2)) if match else None
