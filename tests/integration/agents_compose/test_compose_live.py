"""Composed graphs are accepted by the real ComfyUI 0.3.75: one graph per operation (node-pack operations are
refused with `missing_capability` there, as the backend has no pack), plus chains of two and three.

Placeholder (empty) model and input files are created under the backend's base directory; each graph must be
queued with HTTP 200 and no node_errors, then is deleted / interrupted by id at once so nothing runs long.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from agents.compose import (
    Composition,
    Fragment,
    FragmentLibrary,
    MissingCapability,
    Plan,
    compose,
    compose_request,
)
from comfyui_client import ComfyClient
from node_catalog import Catalog

pytestmark = pytest.mark.integration

# (operation, request, given files)
ONE_PER_OPERATION: list[tuple[str, str, list[str]]] = [
    ("generate_image", "a fox in the snow", []),
    ("generate_video", "a 2 second video of waves on a beach", []),
    ("edit", "erase the lamp post from cg_photo.png", []),
    ("edit+reference", "put the hat from cg_hat.png on the man in cg_man.png", []),
    ("inpaint", "inpaint the masked area with roses", ["cg_garden.png", "cg_garden_mask.png"]),
    ("outpaint", "widen cg_photo.png by 200 pixels on the right", []),
    ("style", "paint a harbour in the style of cg_ref.png", []),
    ("style+image", "restyle cg_photo.png in the style of cg_ref.png", []),
    ("control canny", "a robot following the edges of cg_shape.png", []),
    ("control depth", "a castle using the depth of cg_scene.png", []),
    ("control scribble", "turn my cg_sketch.png into a watercolor of a house", []),
    ("control pose map", "a dancer from this pose map cg_pose.png", []),
    ("upscale resample", "upscale cg_photo.png 3x", []),
    ("upscale to size", "upscale cg_photo.png to 2048 pixels wide", []),
    ("upscale model", "upscale cg_photo.png 2x with esrgan", []),
    ("upscale video", "upscale cg_clip.mp4 2x", []),
    ("image_to_video", "animate cg_photo.png into a 2 second clip", []),
    ("video_to_video", "restyle cg_clip.mp4 as a pencil drawing, keep the motion", []),
    ("render_text", 'a cafe sign with the text "OPEN"', []),
    ("render_text on image", 'add the words "SALE" on it', ["cg_photo.png"]),
    ("lora", "a samurai with the cg_inkwash lora at 0.7", []),
    ("join", "join cg_a.mp4, cg_b.mp4 and cg_c.mp4 into one video", []),
    ("flux family", "a lighthouse at dusk with flux", []),
    ("wan family", "animate cg_photo.png with wan for 2 seconds", []),
    ("chain of two", "make a fox in the snow, then upscale it 3x", []),
    ("chain generate+animate", "make a lighthouse picture and animate it into a 3-second clip", []),
    (
        "chain of three",
        "remove the cables from cg_street.png, then widen it by 128px on both sides and finally "
        "upscale it 2x",
        [],
    ),
    ("chain video", "a clip of a cat and a clip of a dog, then join them and upscale the video 2x", []),
]
PACK_OPERATIONS = [
    ("interpolate", "interpolate cg_clip.mp4 to make it smoother"),
    ("face_detail", "fix the faces in cg_photo.png"),
    ("segment", "cut out the dog in cg_photo.png"),
    ("control pose", "a knight in the same pose as the dancer in cg_dancer.png"),
]


def _placeholders(base_dir: Path, comp: Composition) -> None:
    for folder, names in comp.models.items():
        for name in names:
            path = base_dir / "models" / folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(exist_ok=True)
    for name in comp.input_files:
        path = base_dir / "input" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(exist_ok=True)


async def test_composed_graphs_are_accepted(comfyui: Any) -> None:
    async with ComfyClient(comfyui.url, timeout=60.0) as client:
        catalog = await Catalog.live(client)
        composed = {op: compose_request(text, catalog, files=files) for op, text, files in ONE_PER_OPERATION}
        for comp in composed.values():
            _placeholders(Path(comfyui.base_dir), comp)
        submitted: list[str] = []
        refused: dict[str, Any] = {}
        for op, comp in composed.items():
            sub = await client.submit(comp.workflow)
            if sub.node_errors:
                refused[op] = sub.node_errors
            submitted.append(sub.prompt_id)
            await client.delete_pending(sub.prompt_id)
            await client.interrupt(sub.prompt_id)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            snap = await client.queue()
            busy = [pid for pid in submitted if pid in snap]
            if not busy:
                break
            for pid in busy:
                await client.delete_pending(pid)
                await client.interrupt(pid)
            await asyncio.sleep(0.25)
    assert refused == {}
    assert len(submitted) == len(ONE_PER_OPERATION)
    ops = {op for comp in composed.values() for op in comp.plan.operations()}
    core = {
        "generate_image",
        "generate_video",
        "edit",
        "inpaint",
        "outpaint",
        "style",
        "control",
        "upscale",
        "image_to_video",
        "video_to_video",
        "render_text",
        "lora",
        "join",
    }
    assert core <= ops


async def test_pack_operations_are_refused_by_a_core_backend(comfyui: Any) -> None:
    async with ComfyClient(comfyui.url, timeout=60.0) as client:
        catalog = await Catalog.live(client)
    for op, text in PACK_OPERATIONS:
        with pytest.raises(MissingCapability) as err:
            compose_request(text, catalog)
        assert err.value.code == "missing_capability", op
        assert err.value.packs and err.value.node_classes, op


def _single_step(fragment: Fragment) -> tuple[Plan, dict[str, str]]:
    """A one-step plan that only `fragment` can serve, with input files for its ports."""
    params: dict[str, Any] = {
        "edit": {"instruction": "make it blue"},
        "outpaint": {"right": 64},
        "render_text": {"text": "OPEN"},
        "lora": {"name": "x"},
    }.get(fragment.operation, {})
    variant = fragment.variant or ""
    if fragment.operation == "control":
        kind, _, mapped = variant.partition("_")
        params = {"kind": kind, "preprocessed": bool(mapped)}
    if fragment.operation == "upscale":
        method, _, how = variant.partition("_")
        params = {"method": method, **({"width": 1024} if how == "to" else {"factor": 2})}
    files = {"image": "cg_in.png", "reference": "cg_ref.png", "mask": "cg_in_mask.png", "video": "cg_in.mp4"}
    inputs: dict[str, Any] = {p: files[p] for p in fragment.ports if p in files}
    if "videos" in fragment.ports:
        inputs["videos"] = ["cg_a.mp4", "cg_b.mp4"]
    step = {"op": fragment.operation, "params": params, "inputs": inputs}
    return Plan.model_validate({"steps": [step]}), {}


async def test_every_bundled_fragment_is_accepted(comfyui: Any) -> None:
    """Each core fragment (every model family's), composed alone, is queued by the real ComfyUI."""
    async with ComfyClient(comfyui.url, timeout=60.0) as client:
        catalog = await Catalog.live(client)
        fragments = [f for f in FragmentLibrary.bundled().fragments if f.usable(catalog)]
        assert len(fragments) >= 35
        refused: dict[str, Any] = {}
        submitted = []
        for fragment in fragments:
            plan, files = _single_step(fragment)
            comp = compose(plan, catalog, files=files, library=FragmentLibrary([fragment]))
            assert comp.fragments == [fragment.name]
            _placeholders(Path(comfyui.base_dir), comp)
            sub = await client.submit(comp.workflow)
            if sub.node_errors:
                refused[fragment.name] = sub.node_errors
            submitted.append(sub.prompt_id)
            await client.delete_pending(sub.prompt_id)
            await client.interrupt(sub.prompt_id)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            snap = await client.queue()
            busy = [pid for pid in submitted if pid in snap]
            if not busy:
                break
            for pid in busy:
                await client.delete_pending(pid)
                await client.interrupt(pid)
            await asyncio.sleep(0.25)
    assert refused == {}
