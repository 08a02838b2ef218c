"""Catalog parsing, lookup, search and the live provider (no network: a fake client)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from node_catalog import Catalog, CatalogError, CatalogProvider
from node_catalog.specs import parse_node, types_match


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.bundled()


def test_bundled_has_every_class_and_is_cached(catalog: Catalog, object_info: dict[str, Any]) -> None:
    assert len(catalog) == len(object_info) == 515
    assert Catalog.bundled() is catalog
    assert "KSampler" in catalog and "NoSuchNode" not in catalog
    assert {s.name for s in catalog} == set(object_info)
    assert catalog.source == "bundled" and not catalog.models_authoritative


def test_inputs_follow_input_order_with_sections(catalog: Catalog) -> None:
    ks = catalog["KSampler"]
    assert list(ks.required) == [
        "model",
        "seed",
        "steps",
        "cfg",
        "sampler_name",
        "scheduler",
        "positive",
        "negative",
        "latent_image",
        "denoise",
    ]
    seed = ks.inputs["seed"]
    assert seed.type == "INT" and seed.is_widget and seed.control_after_generate
    assert seed.min == 0 and seed.max == 18446744073709551615
    assert ks.inputs["model"].type == "MODEL" and not ks.inputs["model"].is_widget
    assert ks.inputs["sampler_name"].combo_style == "list" and "euler" in (
        ks.inputs["sampler_name"].options or ()
    )
    assert ks.outputs[0].type == "LATENT" and not ks.output_node
    save = catalog["SaveImage"]
    assert save.output_node and set(save.hidden) == {"prompt", "extra_pnginfo"}
    assert save.hidden["prompt"].type == "PROMPT"


def test_new_style_combo_and_any_type(catalog: Catalog) -> None:
    fmt = catalog["SaveVideo"].inputs["format"]
    assert fmt.type == "COMBO" and fmt.combo_style == "options" and fmt.options == ("auto", "mp4")
    assert fmt.default == "auto" and fmt.is_widget
    assert catalog["PreviewAny"].inputs["source"].type == "*"


def test_model_folders_are_recognised(catalog: Catalog) -> None:
    assert catalog["UNETLoader"].inputs["unet_name"].model_folder == "diffusion_models"
    assert catalog["DualCLIPLoader"].inputs["clip_name2"].model_folder == "text_encoders"
    assert catalog["VAELoader"].inputs["vae_name"].model_folder == "vae"
    assert catalog["CLIPVisionLoader"].inputs["clip_name"].model_folder == "clip_vision"
    assert catalog["KSampler"].inputs["sampler_name"].model_folder is None


def test_output_lists_and_flags(object_info: dict[str, Any]) -> None:
    info = copy.deepcopy(object_info["EmptyImage"])
    info.update(output_is_list=[True], deprecated=True, experimental=True, api_node=True)
    spec = parse_node("EmptyImage", info)
    assert spec.outputs[0].is_list and spec.deprecated and spec.experimental and spec.api_node
    assert spec.output_slot("IMAGE") == 0 and spec.output_slot("nope") is None


def test_malformed_object_info_raises_catalog_error() -> None:
    with pytest.raises(CatalogError):
        Catalog.from_object_info([])  # type: ignore[arg-type]
    with pytest.raises(CatalogError, match="malformed"):
        Catalog.from_object_info({"X": {"input": {"required": {"a": 5}}}})
    with pytest.raises(CatalogError):
        Catalog.from_object_info({"X": "not a node"})


def test_search_by_output_type_and_name(catalog: Catalog) -> None:
    video = catalog.search("", output_type="VIDEO", limit=50)
    names = {h.name for h in video}
    assert "CreateVideo" in names and "LoadVideo" in names
    assert all(any(o.type == "VIDEO" for o in catalog[h.name].outputs) for h in video)
    top = catalog.search("hunyuan latent video")
    assert top[0].name == "EmptyHunyuanLatentVideo"
    assert catalog.search("KSampler")[0].name == "KSampler"
    assert catalog.search("save", category="image", limit=100)
    assert all(h.category.startswith("image") for h in catalog.search("save", category="image", limit=100))
    latent_in = catalog.search("decode", input_type="LATENT")
    assert any(h.name == "VAEDecode" for h in latent_in)


def test_closest_real_node(catalog: Catalog) -> None:
    assert catalog.closest("KSampler")[0].score == 1.0
    assert catalog.closest("ksampler")[0].name == "KSampler"
    hits = [h.name for h in catalog.closest("HunyuanVideoSampler", limit=5)]
    assert any("Hunyuan" in n for n in hits)
    typed = catalog.closest("HunyuanLatentVideo", outputs=["LATENT"], limit=3)
    assert typed[0].name == "EmptyHunyuanLatentVideo"


def test_types_match_follows_comfyui() -> None:
    assert types_match("IMAGE", "IMAGE") and types_match("IMAGE", "*") and types_match("*", "MODEL")
    assert types_match("INT", "FLOAT,INT") and not types_match("LATENT", "IMAGE")


class _FakeClient:
    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.calls = 0
        self.fail = False

    async def object_info(self) -> dict[str, Any]:
        self.calls += 1
        if self.fail:
            raise ConnectionError("backend down")
        return self.data

    async def models(self, folder: str) -> list[str]:
        if folder == "vae":
            return ["a.safetensors"]
        raise KeyError(folder)


async def test_live_and_provider_refresh(object_info: dict[str, Any]) -> None:
    small = {k: object_info[k] for k in ("EmptyImage", "SaveImage")}
    client = _FakeClient(small)
    live = await Catalog.live(client)
    assert live.source == "live" and len(live) == 2 and live.models_authoritative
    provider = CatalogProvider(client, ttl=0.0)
    first = await provider.get()
    again = await provider.refresh()
    assert first is again  # same /object_info: the parsed catalog is kept
    client.data = {**small, "PreviewImage": object_info["PreviewImage"]}
    changed = await provider.refresh()
    assert changed is not first and len(changed) == 3
    client.fail = True
    assert await provider.refresh() is changed  # keeps the last good one
    assert await provider.models(["vae", "nope"]) == {"vae": ["a.safetensors"]}
    wf = {"1": {"class_type": "VAELoader", "inputs": {"vae_name": "x.safetensors"}}}
    client.data = {**client.data, "VAELoader": object_info["VAELoader"]}
    client.fail = False
    await provider.refresh()
    assert await provider.models_for(wf) == {"vae": ["a.safetensors"]}


async def test_provider_falls_back_to_bundled() -> None:
    client = _FakeClient({})
    client.fail = True
    assert (await CatalogProvider(client).get()) is Catalog.bundled()
    assert (await CatalogProvider(None).get()) is Catalog.bundled()
    with pytest.raises(CatalogError, match="backend down"):
        await Catalog.live(client)
