"""Differential test: the validator against the real ComfyUI `POST /prompt`, on valid and mutated graphs.

Whenever ComfyUI rejects a graph (400, or 200 with node_errors), the validator in ComfyUI mode
(`strict=False`) must report the same top-level error type and the same (node, error type) pairs; in strict
mode it must reject too. The validator may be stricter only in the documented gateway categories
(`extra_info.origin == "gateway"`). Accepted graphs are tiny and model-free; each is removed from the queue
(or interrupted, by id) at once."""

from __future__ import annotations

import copy
import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node_catalog import Catalog, NodeSpec, validate
from node_catalog.validation import GATEWAY
from tests.support import SAMPLES

pytestmark = pytest.mark.integration

BASE_SAMPLES = [
    "01_emptyimage_saveimage",
    "02_emptyimage_scale_saveimage",
    "03_createvideo_savevideo_mp4",
    "04_save_animated_webp",
    "05_save_webm_vp9",
]
MUTATIONS = [
    "drop_input",
    "retype_link",
    "out_of_range",
    "rename_class",
    "break_combo",
    "dangling_link",
    "wrong_value_type",
    "none",
]
STATS: Counter[str] = Counter()


class Backend:
    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=30.0)
        self.client_id = str(uuid.uuid4())
        self.accepted: list[str] = []

    def submit(self, prompt: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        pid = str(uuid.uuid4())
        resp = self.http.post(
            "/prompt", json={"prompt": prompt, "client_id": self.client_id, "prompt_id": pid}
        )
        assert resp.status_code in (200, 400), resp.text[:300]
        body: dict[str, Any] = resp.json()
        if resp.status_code == 200:
            self.accepted.append(pid)
            self.http.post("/queue", json={"delete": [pid]})  # only ours: never clear others' jobs
        return resp.status_code, body

    def drain(self, timeout: float = 120.0) -> None:
        """Wait until none of our accepted prompts is queued or running (interrupting ours if need be)."""
        deadline = time.monotonic() + timeout
        mine = set(self.accepted)
        while time.monotonic() < deadline:
            queue = self.http.get("/queue").json()
            running = {item[1] for item in queue.get("queue_running", [])} & mine
            pending = {item[1] for item in queue.get("queue_pending", [])} & mine
            if pending:
                self.http.post("/queue", json={"delete": sorted(pending)})
            if not running and not pending:
                return
            for pid in running:
                self.http.post("/interrupt", json={"prompt_id": pid})
            time.sleep(0.2)


@pytest.fixture(scope="module")
def backend(comfyui: Any) -> Iterator[Backend]:
    b = Backend(comfyui.url)
    yield b
    b.drain()
    b.http.close()


@pytest.fixture(scope="module")
def live(backend: Backend) -> Catalog:
    return Catalog.from_object_info(backend.http.get("/object_info").json(), source="live")


# A tiny, model-free source per link type the generated graphs start from.
SOURCES: dict[str, dict[str, Any]] = {
    "IMAGE": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
    "LATENT": {"class_type": "EmptyLatentImage", "inputs": {"width": 16, "height": 16, "batch_size": 1}},
}


def _generated_nodes(catalog: Catalog) -> list[NodeSpec]:
    """Cheap, model-free image/latent -> something nodes whose other required inputs are all widgets."""
    found = []
    for spec in catalog:
        if spec.api_node or spec.output_node or spec.deprecated or not spec.outputs:
            continue
        if not spec.category.startswith(("image", "latent")) or "upscal" in spec.category.lower():
            continue
        links = [i for i in spec.required.values() if not i.is_widget]
        if len(links) != 1 or links[0].type not in SOURCES:
            continue
        if any(i.is_widget and i.default is None and not i.options for i in spec.required.values()):
            continue
        if any(i.type == "COMBO" and i.model_folder for i in spec.inputs.values()):
            continue
        found.append(spec)
    return sorted(found, key=lambda s: s.name)


def _catalog_graph(spec: NodeSpec) -> dict[str, Any]:
    link = next(i for i in spec.required.values() if not i.is_widget)
    inputs: dict[str, Any] = {link.name: ["1", 0]}
    for i in spec.required.values():
        if i.is_widget:
            inputs[i.name] = i.default if i.default is not None else (i.options or [None])[0]
            if i.type == "INT" and i.name in ("width", "height"):
                inputs[i.name] = 16 if i.min is None or i.min <= 16 else int(i.min)
    return {
        "1": copy.deepcopy(SOURCES[link.type]),
        "2": {"class_type": spec.name, "inputs": inputs},
        "3": {"class_type": "PreviewAny", "inputs": {"source": ["2", 0]}},
    }


def _bases(catalog: Catalog) -> list[dict[str, Any]]:
    bases = []
    for name in BASE_SAMPLES:
        data = json.loads((SAMPLES / f"{name}.prompt.json").read_text())
        bases.append(data.get("prompt", data))
    generated = [_catalog_graph(spec) for spec in _generated_nodes(catalog)]
    # two independent outputs in one graph: a mutation of one half gives ComfyUI's "200 with node_errors"
    pairs = [_merge(bases[i % len(bases)], generated[(7 * i) % len(generated)]) for i in range(10)]
    return bases + generated + pairs


def _merge(left: dict[str, Any], right: dict[str, Any]) -> dict[str, Any]:
    def shift(v: Any) -> Any:
        return [str(int(v[0]) + 100), v[1]] if isinstance(v, list) else v

    moved = {
        str(int(k) + 100): {**n, "inputs": {name: shift(v) for name, v in n["inputs"].items()}}
        for k, n in right.items()
    }
    return {**copy.deepcopy(left), **moved}


def _targets(wf: dict[str, Any], catalog: Catalog, kind: str) -> list[str]:
    """Nodes the mutation can change (all nodes when none can, so the graph stays as it was)."""

    def fits(node: dict[str, Any]) -> bool:
        spec = catalog[node["class_type"]]
        vals = [
            spec.inputs[k] for k, v in node["inputs"].items() if not isinstance(v, list) and k in spec.inputs
        ]
        has_link = any(isinstance(v, list) for v in node["inputs"].values())
        if kind in ("retype_link", "dangling_link"):
            return has_link
        if kind == "break_combo":
            return any(i.type == "COMBO" for i in vals)
        if kind == "out_of_range":
            return any(i.min is not None or i.max is not None for i in vals)
        if kind == "wrong_value_type":
            return any(i.type in ("INT", "FLOAT") for i in vals)
        return True

    found = sorted(k for k, n in wf.items() if fits(n))
    return found or sorted(wf)


def _mutate(draw: st.DrawFn, wf: dict[str, Any], catalog: Catalog, kind: str) -> dict[str, Any]:
    wf = copy.deepcopy(wf)
    node_id = draw(st.sampled_from(_targets(wf, catalog, kind)))
    node = wf[node_id]
    spec = catalog[node["class_type"]]
    inputs = node["inputs"]
    links = [k for k, v in inputs.items() if isinstance(v, list)]
    values = [k for k, v in inputs.items() if not isinstance(v, list)]
    if kind == "drop_input" and inputs:
        inputs.pop(draw(st.sampled_from(sorted(inputs))))
    elif kind == "retype_link" and links:
        src = draw(st.sampled_from(sorted(wf)))
        n_out = len(catalog[wf[src]["class_type"]].outputs)
        inputs[draw(st.sampled_from(links))] = [src, draw(st.integers(0, max(n_out - 1, 0)))]
    elif kind == "dangling_link" and links:
        target = draw(st.sampled_from(["999", "slot"]))
        name = draw(st.sampled_from(links))
        inputs[name] = ["999", 0] if target == "999" else [inputs[name][0], 7]
    elif kind == "out_of_range":
        bounded = [
            k
            for k in values
            if k in spec.inputs and (spec.inputs[k].max is not None or spec.inputs[k].min is not None)
        ]
        if bounded:
            name = draw(st.sampled_from(bounded))
            ispec = spec.inputs[name]
            if ispec.max is not None and (ispec.min is None or draw(st.booleans())):
                inputs[name] = ispec.max + (1 if ispec.type == "INT" else 0.5)
            elif ispec.min is not None:
                inputs[name] = ispec.min - (1 if ispec.type == "INT" else 0.5)
    elif kind == "rename_class":
        node["class_type"] = draw(
            st.sampled_from([node["class_type"] + "X", "HunyuanVideoSampler", "saveimage"])
        )
    elif kind == "break_combo":
        combos = [k for k in values if k in spec.inputs and spec.inputs[k].type == "COMBO"]
        if combos:
            inputs[draw(st.sampled_from(combos))] = draw(st.sampled_from(["nope", "", "MP4"]))
    elif kind == "wrong_value_type":
        numeric = [k for k in values if k in spec.inputs and spec.inputs[k].type in ("INT", "FLOAT")]
        if numeric:
            inputs[draw(st.sampled_from(numeric))] = draw(st.sampled_from(["abc", None, "1.5", [1]]))
    return wf


def _pairs(node_errors: dict[str, Any], *, comfy_only: bool = False) -> set[tuple[str, str]]:
    return {
        (node_id, err["type"])
        for node_id, entry in node_errors.items()
        for err in entry["errors"]
        if not (comfy_only and err["extra_info"].get("origin") == GATEWAY)
    }


@st.composite
def cases(draw: st.DrawFn, bases: list[dict[str, Any]], catalog: Catalog) -> tuple[str, dict[str, Any]]:
    base = draw(st.sampled_from(bases))
    kind = draw(st.sampled_from(MUTATIONS))
    return kind, _mutate(draw, base, catalog, kind)


def test_validator_agrees_with_comfyui(backend: Backend, live: Catalog) -> None:
    bases = _bases(live)
    assert len(bases) >= 20

    @settings(
        max_examples=300,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(cases(bases, live))
    def check(case: tuple[str, dict[str, Any]]) -> None:
        kind, wf = case
        status, body = backend.submit(wf)
        mirror = validate(wf, live, strict=False)
        strict = validate(wf, live)
        STATS[f"{kind}:{status}"] += 1
        comfy_pairs = _pairs(body.get("node_errors") or {})
        context = json.dumps({"workflow": wf, "comfyui": body, "ours": mirror.comfy_body()}, default=str)[
            :3000
        ]
        assert mirror.comfy_accepts == (status == 200), context
        if status == 400:
            assert mirror.error is not None and mirror.error["type"] == body["error"]["type"], context
            assert not strict.ok
        assert _pairs(mirror.node_errors) == comfy_pairs, context
        assert comfy_pairs <= _pairs(strict.node_errors, comfy_only=True) | comfy_pairs, context
        extra = _pairs(strict.node_errors, comfy_only=False) - _pairs(strict.node_errors, comfy_only=True)
        STATS["stricter_on_purpose"] += bool(extra and status == 200 and not comfy_pairs)
        STATS["comfy_200_with_node_errors"] += bool(status == 200 and comfy_pairs)
        if comfy_pairs or status == 400:
            assert not strict.ok, context

    check()
    backend.drain()
    print("differential cases:", dict(sorted(STATS.items())))
    rejected = sum(v for k, v in STATS.items() if k.endswith(":400"))
    assert rejected >= 100, STATS  # the mutations really exercise ComfyUI's checks


def test_cycles_agree_with_comfyui(backend: Backend, live: Catalog) -> None:
    """ComfyUI recurses until RecursionError; both reject, the mirror with the same (no) node errors."""
    wf = {
        "1": {"class_type": "ImageInvert", "inputs": {"image": ["2", 0]}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "PreviewAny", "inputs": {"source": ["2", 0]}},
    }
    status, body = backend.submit(wf)
    mirror = validate(wf, live, strict=False)
    assert status == 400 and not mirror.comfy_accepts
    assert mirror.error is not None and mirror.error["type"] == body["error"]["type"]
    assert _pairs(mirror.node_errors) == _pairs(body["node_errors"])
    strict = validate(wf, live)
    assert {t for _, t in _pairs(strict.node_errors)} == {"dependency_cycle"}


def test_bundled_snapshot_matches_the_backend(live: Catalog) -> None:
    """The shipped snapshot describes the pinned ComfyUI: same classes, inputs, types and outputs."""
    bundled = Catalog.bundled()
    assert set(bundled.names()) == set(live.names())
    for spec in live:
        snap = bundled[spec.name]
        assert [(i.name, i.type, i.section) for i in snap.inputs.values()] == [
            (i.name, i.type, i.section) for i in spec.inputs.values()
        ], spec.name
        assert [(o.name, o.type) for o in snap.outputs] == [(o.name, o.type) for o in spec.outputs], spec.name
