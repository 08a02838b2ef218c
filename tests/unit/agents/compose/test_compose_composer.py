"""The composer: every operation alone and in chains is ONE graph the catalog validates; port mismatches,
missing inputs and missing capabilities are refused, never replaced by another operation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agents.compose import (
    Composition,
    FragmentLibrary,
    MissingCapability,
    Plan,
    PlanError,
    PortMismatch,
    compose,
    compose_request,
    plan_graph,
)
from agents.errors import InputRequiredError
from node_catalog import Catalog, validate
from node_catalog.linklist import class_of
from tests.unit.agents.compose.pack_specs import PACKS, catalog_with

BUNDLED = Catalog.bundled()
PACKED = catalog_with()


def _plan(*steps: dict[str, Any]) -> Plan:
    return Plan.model_validate({"steps": list(steps)})


def _classes(comp: Composition) -> set[str]:
    return {node["class_type"] for node in comp.workflow.values()}


def _valid(comp: Composition, catalog: Catalog = BUNDLED) -> None:
    report = validate(comp.workflow, catalog, models={**comp.models, "input": comp.input_files})
    assert report.ok, report.summary()


# (plan steps, given files, catalog, node classes that must all appear)
ALONE: list[tuple[str, list[dict[str, Any]], list[str], Catalog, set[str]]] = [
    (
        "generate_image",
        [{"op": "generate_image", "params": {"prompt": "a fox"}}],
        [],
        BUNDLED,
        {"KSampler", "EmptyLatentImage", "SaveImage"},
    ),
    (
        "generate_video",
        [{"op": "generate_video", "params": {"prompt": "waves", "seconds": 3}}],
        [],
        BUNDLED,
        {"EmptyHunyuanLatentVideo", "CreateVideo", "SaveVideo"},
    ),
    (
        "edit",
        [{"op": "edit", "params": {"instruction": "erase the lamp post"}, "inputs": {"image": "p.png"}}],
        [],
        BUNDLED,
        {"TextEncodeQwenImageEditPlus", "LoadImage"},
    ),
    (
        "edit_reference",
        [
            {
                "op": "edit",
                "params": {"instruction": "put the hat on him"},
                "inputs": {"image": "p.png", "reference": "hat.png"},
            }
        ],
        [],
        BUNDLED,
        {"TextEncodeQwenImageEditPlus"},
    ),
    (
        "restyle",
        [
            {
                "op": "restyle",
                "params": {"prompt": "an oil painting", "denoise": 0.5},
                "inputs": {"image": "p.png"},
            }
        ],
        [],
        BUNDLED,
        {"LoadImage", "VAEEncode", "KSampler", "VAEDecode"},
    ),
    (
        "restyle_flux",
        [{"op": "restyle", "params": {"prompt": "anime"}, "inputs": {"image": "p.png"}, "family": "flux"}],
        [],
        BUNDLED,
        {"VAEEncode", "BasicScheduler", "SamplerCustomAdvanced"},
    ),
    (
        "inpaint",
        [{"op": "inpaint", "params": {"prompt": "roses"}, "inputs": {"image": "g.png", "mask": "m.png"}}],
        [],
        BUNDLED,
        {"InpaintModelConditioning", "LoadImageMask"},
    ),
    (
        "outpaint",
        [{"op": "outpaint", "params": {"right": 200}, "inputs": {"image": "p.png"}}],
        [],
        BUNDLED,
        {"ImagePadForOutpaint", "InpaintModelConditioning"},
    ),
    (
        "style",
        [{"op": "style", "params": {"prompt": "a harbour"}, "inputs": {"reference": "ref.png"}}],
        [],
        BUNDLED,
        {"StyleModelApply", "CLIPVisionEncode"},
    ),
    (
        "style_image",
        [{"op": "style", "inputs": {"reference": "ref.png", "image": "p.png"}}],
        [],
        BUNDLED,
        {"StyleModelApply", "VAEEncode"},
    ),
    (
        "control_canny",
        [
            {
                "op": "control",
                "params": {"kind": "canny", "prompt": "a robot"},
                "inputs": {"reference": "r.png"},
            }
        ],
        [],
        BUNDLED,
        {"Canny", "ControlNetApplyAdvanced"},
    ),
    (
        "control_depth",
        [{"op": "control", "params": {"kind": "depth"}, "inputs": {"reference": "r.png"}}],
        [],
        BUNDLED,
        {"LotusConditioning", "ControlNetApplyAdvanced"},
    ),
    (
        "control_scribble",
        [{"op": "control", "params": {"kind": "scribble"}, "inputs": {"reference": "s.png"}}],
        [],
        BUNDLED,
        {"ImageInvert", "ControlNetApplyAdvanced"},
    ),
    (
        "control_pose_map",
        [
            {
                "op": "control",
                "params": {"kind": "pose", "preprocessed": True},
                "inputs": {"reference": "pose.png"},
            }
        ],
        [],
        BUNDLED,
        {"ControlNetApplyAdvanced"},
    ),
    (
        "control_pose_pack",
        [{"op": "control", "params": {"kind": "pose"}, "inputs": {"reference": "d.png"}}],
        [],
        PACKED,
        {"DWPreprocessor", "ControlNetApplyAdvanced"},
    ),
    (
        "upscale_resample",
        [{"op": "upscale", "params": {"factor": 3}, "inputs": {"image": "p.png"}}],
        [],
        BUNDLED,
        {"ImageScaleBy"},
    ),
    (
        "upscale_to_width",
        [{"op": "upscale", "params": {"width": 2048}, "inputs": {"image": "p.png"}}],
        [],
        BUNDLED,
        {"ImageScale"},
    ),
    (
        "upscale_model",
        [{"op": "upscale", "params": {"factor": 2, "method": "model"}, "inputs": {"image": "p.png"}}],
        [],
        BUNDLED,
        {"UpscaleModelLoader", "ImageUpscaleWithModel", "ImageScaleBy"},
    ),
    (
        "upscale_video",
        [{"op": "upscale", "params": {"factor": 2}, "inputs": {"image": "c.mp4"}}],
        [],
        BUNDLED,
        {"LoadVideo", "GetVideoComponents", "ImageScaleBy", "SaveVideo"},
    ),
    (
        "image_to_video",
        [{"op": "image_to_video", "params": {"seconds": 2}, "inputs": {"image": "p.png"}}],
        [],
        BUNDLED,
        {"HunyuanImageToVideo", "SaveVideo"},
    ),
    (
        "video_to_video",
        [{"op": "video_to_video", "params": {"prompt": "anime"}, "inputs": {"video": "c.mp4"}}],
        [],
        BUNDLED,
        {"LoadVideo", "VAEEncode", "SaveVideo"},
    ),
    (
        "interpolate",
        [{"op": "interpolate", "params": {"multiplier": 3}, "inputs": {"video": "c.mp4"}}],
        [],
        PACKED,
        {"RIFE VFI", "SaveVideo"},
    ),
    (
        "render_text",
        [{"op": "render_text", "params": {"text": "OPEN", "prompt": "a cafe sign"}}],
        [],
        BUNDLED,
        {"EmptySD3LatentImage"},
    ),
    (
        "render_text_on_image",
        [{"op": "render_text", "params": {"text": "SALE"}, "inputs": {"image": "p.png"}}],
        [],
        BUNDLED,
        {"TextEncodeQwenImageEditPlus"},
    ),
    (
        "lora",
        [
            {"op": "lora", "params": {"name": "inkwash", "strength": 0.7}},
            {"op": "generate_image", "params": {"prompt": "a samurai"}},
        ],
        [],
        BUNDLED,
        {"LoraLoader"},
    ),
    (
        "face_detail",
        [{"op": "face_detail", "inputs": {"image": "p.png"}}],
        [],
        PACKED,
        {"FaceDetailer", "UltralyticsDetectorProvider"},
    ),
    (
        "segment",
        [{"op": "segment", "params": {"target": "dog"}, "inputs": {"image": "p.png"}}],
        [],
        PACKED,
        {"GroundingDinoSAMSegment (segment anything)"},
    ),
    (
        "join",
        [{"op": "join", "inputs": {"videos": ["a.mp4", "b.mp4", "c.mp4"]}}],
        [],
        BUNDLED,
        {"ImageBatch", "GetVideoComponents", "SaveVideo"},
    ),
]


@pytest.mark.parametrize(
    ("steps", "files", "catalog", "classes"), [a[1:] for a in ALONE], ids=[a[0] for a in ALONE]
)
def test_every_operation_alone(
    steps: list[dict[str, Any]], files: list[str], catalog: Catalog, classes: set[str]
) -> None:
    comp = compose(_plan(*steps), catalog, files=files)
    _valid(comp, catalog)
    assert classes <= _classes(comp), _classes(comp)
    assert len(comp.outputs) == 1


CHAINS: list[tuple[str, list[str], list[str], set[str]]] = [
    ("make a fox in the snow, then upscale it 3x", [], ["generate_image", "upscale"], {"ImageScaleBy"}),
    (
        "make a lighthouse picture and animate it into a 3-second clip",
        [],
        ["generate_image", "image_to_video"],
        {"HunyuanImageToVideo"},
    ),
    (
        "erase the lamp post from photo.png, then widen it by 200 pixels on the right",
        [],
        ["edit", "outpaint"],
        {"ImagePadForOutpaint", "TextEncodeQwenImageEditPlus"},
    ),
    (
        "paint a harbour in the style of ref.png and then animate it",
        [],
        ["style", "image_to_video"],
        {"StyleModelApply", "HunyuanImageToVideo"},
    ),
    ("restyle clip.mp4 as anime and upscale it 2x", [], ["video_to_video", "upscale"], {"ImageScaleBy"}),
    (
        "restyle photo.png as anime, then upscale 2x",
        [],
        ["restyle", "upscale"],
        {"VAEEncode", "ImageScaleBy"},
    ),
    (
        "generate a castle, then restyle it as a watercolor",
        [],
        ["generate_image", "restyle"],
        {"EmptyLatentImage", "VAEEncode"},
    ),
    (
        "a knight following the edges of dancer.jpg, then fix the faces",
        [],
        ["control", "face_detail"],
        {"Canny", "FaceDetailer"},
    ),
    (
        "first generate a red car, then make it blue, finally turn it into a 4 second video",
        [],
        ["generate_image", "edit", "image_to_video"],
        {"SaveVideo"},
    ),
    (
        "remove the cables from street.png, then extend it 128px on both sides and finally upscale it 2x",
        [],
        ["edit", "outpaint", "upscale"],
        {"ImageScaleBy"},
    ),
    (
        "a clip of a cat and a clip of a dog, then join them and interpolate to 48 fps",
        [],
        ["generate_video", "generate_video", "join", "interpolate"],
        {"ImageBatch", "RIFE VFI"},
    ),
    (
        "animate photo.png for 2 seconds, then upscale the video 2x and interpolate it",
        [],
        ["image_to_video", "upscale", "interpolate"],
        {"RIFE VFI"},
    ),
    (
        'a poster of a jazz night with the text "BLUE NOTE", then upscale it to 2048 pixels wide',
        [],
        ["render_text", "upscale"],
        {"ImageScale"},
    ),
    (
        "inpaint the masked area with roses, then outpaint the top by 256 px and upscale it 2x",
        ["garden.png", "garden_mask.png"],
        ["inpaint", "outpaint", "upscale"],
        {"LoadImageMask"},
    ),
]


@pytest.mark.parametrize(("text", "files", "ops", "classes"), CHAINS, ids=[c[0][:60] for c in CHAINS])
def test_chains_of_two_and_three_compose_into_one_graph(
    text: str, files: list[str], ops: list[str], classes: set[str]
) -> None:
    comp = compose_request(text, PACKED, files=files)
    assert comp.plan.operations() == ops
    _valid(comp, PACKED)
    assert classes <= _classes(comp)
    assert len(comp.outputs) == 1  # every step feeds the next; one result is saved


def test_shared_loaders_and_one_checkpoint_for_two_sd15_steps() -> None:
    comp = compose_request("a cat on a sofa, then extend it 64 px to the left", BUNDLED)
    loaders = [n for n in comp.link_list.nodes if class_of(n) == "CheckpointLoaderSimple"]
    assert len(loaders) == 1


def test_frame_rate_follows_the_clip() -> None:
    comp = compose_request("animate photo.png into a 2 second clip at 12 fps", BUNDLED)
    create = next(n for n in comp.workflow.values() if n["class_type"] == "CreateVideo")
    assert create["inputs"]["fps"] == 12.0
    length = next(n for n in comp.workflow.values() if n["class_type"] == "HunyuanImageToVideo")
    assert length["inputs"]["length"] == 25  # 2 s x 12 fps, aligned to 4k+1
    v2v = compose_request("restyle clip.mp4 as a pencil drawing", BUNDLED)
    create = next(n for n in v2v.workflow.values() if n["class_type"] == "CreateVideo")
    assert isinstance(create["inputs"]["fps"], list)  # the source clip's own rate, linked


def test_restyle_is_img2img_of_the_given_picture() -> None:
    comp = compose_request("img2img sketch.png into a colorful cartoon, strength 0.7", BUNDLED)
    assert comp.fragments == ["sd15.restyle"]
    _valid(comp)
    wf = comp.workflow
    sampler = next(n for n in wf.values() if n["class_type"] == "KSampler")
    assert sampler["inputs"]["denoise"] == 0.7
    encode = wf[sampler["inputs"]["latent_image"][0]]
    assert encode["class_type"] == "VAEEncode"
    load = wf[encode["inputs"]["pixels"][0]]
    assert load["class_type"] == "LoadImage" and load["inputs"]["image"] == "sketch.png"
    positive = wf[sampler["inputs"]["positive"][0]]["inputs"]["text"]
    assert "cartoon" in positive
    assert not {"TextEncodeQwenImageEditPlus", "ControlNetApplyAdvanced"} & _classes(comp)


def test_restyle_family_lora_and_shared_checkpoint() -> None:
    sdxl = compose_request(
        "restyle photo.png as anime", BUNDLED, models={"checkpoints": ["sd_xl_base_1.0.safetensors"]}
    )
    assert sdxl.fragments == ["sdxl.restyle"]
    flux = compose_request("restyle photo.png as anime with flux", BUNDLED)
    assert flux.fragments == ["flux.restyle"]
    sched = next(n for n in flux.workflow.values() if n["class_type"] == "BasicScheduler")
    assert sched["inputs"]["denoise"] == 0.6
    _valid(flux)
    lora = compose_request("restyle photo.png as ink art with the inkwash lora", BUNDLED)
    assert lora.plan.operations() == ["lora", "restyle"]
    sampler = next(n for n in lora.workflow.values() if n["class_type"] == "KSampler")
    assert lora.workflow[sampler["inputs"]["model"][0]]["class_type"] == "LoraLoader"
    chain = compose_request("a castle on a hill, then restyle it as a watercolor", BUNDLED)
    loaders = [n for n in chain.link_list.nodes if class_of(n) == "CheckpointLoaderSimple"]
    assert len(loaders) == 1
    _valid(chain)


def test_plan_graph_is_typed_and_acyclic() -> None:
    plan = _plan(
        {"op": "edit", "params": {"instruction": "x"}, "inputs": {"image": "p.png"}},
        {"op": "upscale", "inputs": {"image": "#1"}},
    )
    g = plan_graph(plan, {"p.png": "IMAGE"})
    assert list(g.edges(data="port")) == [("file:p.png", 0, "image"), (0, 1, "image")]


# -- refusals -----------------------------------------------------------------------------------------
def test_port_mismatch_is_refused() -> None:
    with pytest.raises(PortMismatch, match="VIDEO"):
        compose(_plan({"op": "edit", "params": {"instruction": "x"}, "inputs": {"image": "c.mp4"}}), BUNDLED)
    with pytest.raises(PortMismatch):
        compose(_plan({"op": "interpolate", "inputs": {"video": "p.png"}}), PACKED)
    with pytest.raises(PortMismatch):
        compose(
            _plan(
                {"op": "generate_video", "params": {"prompt": "x"}},
                {"op": "outpaint", "params": {"left": 64}, "inputs": {"image": "#1"}},
            ),
            BUNDLED,
        )


def test_missing_input_is_refused_not_invented() -> None:
    with pytest.raises(InputRequiredError):
        compose(_plan({"op": "edit", "params": {"instruction": "remove the car"}}), BUNDLED)
    with pytest.raises(InputRequiredError):
        compose(_plan({"op": "join", "inputs": {"videos": ["a.mp4"]}}), BUNDLED)


@pytest.mark.parametrize(
    ("steps", "classes", "pack"),
    [
        ([{"op": "interpolate", "inputs": {"video": "c.mp4"}}], ["RIFE VFI"], "ComfyUI-Frame-Interpolation"),
        ([{"op": "face_detail", "inputs": {"image": "p.png"}}], ["FaceDetailer"], "ComfyUI-Impact-Pack"),
        (
            [{"op": "segment", "inputs": {"image": "p.png"}}],
            ["GroundingDinoSAMSegment (segment anything)"],
            "comfyui_segment_anything",
        ),
        (
            [{"op": "control", "params": {"kind": "pose"}, "inputs": {"reference": "d.png"}}],
            ["DWPreprocessor"],
            "comfyui_controlnet_aux",
        ),
    ],
)
def test_missing_capability_names_the_pack(
    steps: list[dict[str, Any]], classes: list[str], pack: str
) -> None:
    with pytest.raises(MissingCapability) as err:
        compose(_plan(*steps), BUNDLED)
    assert err.value.code == "missing_capability"
    assert set(classes) <= set(err.value.node_classes)
    assert err.value.packs and pack in err.value.packs[0]
    assert pack in err.value.message
    assert err.value.detail()["error_code"] == "missing_capability"


def test_a_lora_needs_a_generating_step() -> None:
    with pytest.raises(PlanError):
        compose(
            _plan({"op": "lora", "params": {"name": "x"}}, {"op": "upscale", "inputs": {"image": "p.png"}}),
            BUNDLED,
        )


# -- model choice -------------------------------------------------------------------------------------
def test_backend_models_decide_the_family() -> None:
    flux = {
        "diffusion_models": ["flux1-dev.safetensors", "flux1-dev-kontext_fp8_scaled.safetensors"],
        "text_encoders": ["clip_l.safetensors", "t5xxl_fp16.safetensors"],
        "vae": ["ae.safetensors"],
    }
    comp = compose_request("a fox in the snow, then remove the tree", BUNDLED, models=flux)
    assert comp.fragments == ["flux.generate_image", "flux_kontext.edit"]
    assert comp.models["diffusion_models"] == [
        "flux1-dev.safetensors",
        "flux1-dev-kontext_fp8_scaled.safetensors",
    ]
    plain = compose_request(
        "a fox in the snow", BUNDLED, models={"checkpoints": ["sd_xl_base_1.0.safetensors"]}
    )
    assert plain.fragments == ["sdxl.generate_image"]


def test_an_asked_family_comes_first() -> None:
    comp = compose_request("a fox in the snow with flux", BUNDLED)
    assert comp.fragments == ["flux.generate_image"]


def test_upscale_model_the_backend_has() -> None:
    comp = compose_request("upscale photo.png 2x", BUNDLED, models={"upscale_models": ["4x-UltraSharp.pth"]})
    loader = next(n for n in comp.workflow.values() if n["class_type"] == "UpscaleModelLoader")
    scale = next(n for n in comp.workflow.values() if n["class_type"] == "ImageScaleBy")
    assert loader["inputs"]["model_name"] == "4x-UltraSharp.pth"
    assert scale["inputs"]["scale_by"] == 0.5


def test_lora_file_the_backend_has() -> None:
    comp = compose_request(
        "a samurai with the inkwash lora",
        BUNDLED,
        models={"loras": ["style/InkWash_v2.safetensors", "inkwash.safetensors"]},
    )
    lora = next(n for n in comp.workflow.values() if n["class_type"] == "LoraLoader")
    assert lora["inputs"]["lora_name"] == "inkwash.safetensors"
    sampler = next(n for n in comp.workflow.values() if n["class_type"] == "KSampler")
    assert comp.workflow[sampler["inputs"]["model"][0]]["class_type"] == "LoraLoader"


def test_paid_api_nodes_are_never_picked(tmp_path: Path) -> None:
    paid = dict(PACKS["RIFE VFI"], name="PaidEdit", api_node=True)
    paid["input"] = {"required": {"image": ["IMAGE"], "prompt": ["STRING", {}]}}
    paid["input_order"] = {"required": ["image", "prompt"]}
    catalog = catalog_with(extra={"PaidEdit": paid})
    family = {
        "family": "paid",
        "fragments": [
            {
                "name": "paid.edit",
                "operation": "edit",
                "priority": 0,
                "nodes": {"e": {"class_type": "PaidEdit", "inputs": {"prompt": ""}}},
                "ports": {"image": [["e", "image"]]},
                "params": {"instruction": [["e", "prompt"]]},
                "output": ["e", "IMAGE"],
            }
        ],
    }
    path = tmp_path / "paid.json"
    path.write_text(json.dumps(family))
    library = FragmentLibrary.with_files(path)
    comp = compose_request("remove the car from p.png", catalog, library=library)
    assert comp.fragments == ["qwen_image_edit.edit"]
    only_paid = FragmentLibrary([f for f in library.fragments if f.name == "paid.edit"])
    with pytest.raises(MissingCapability, match="paid API"):
        compose_request("remove the car from p.png", catalog, library=only_paid)


def test_a_new_family_is_a_data_file(tmp_path: Path) -> None:
    src = json.loads(Path("agents/compose/fragments/sdxl.json").read_text())
    src["family"] = "juggernaut"
    for frag in src["fragments"]:
        frag["name"] = frag["name"].replace("sdxl", "juggernaut")
        for node in frag["nodes"].values():
            if node["class_type"] == "CheckpointLoaderSimple":
                node["inputs"]["ckpt_name"] = "juggernautXL_v9.safetensors"
    path = tmp_path / "juggernaut.json"
    path.write_text(json.dumps(src))
    library = FragmentLibrary.with_files(path)
    comp = compose_request(
        "a castle", BUNDLED, library=library, models={"checkpoints": ["juggernautXL_v9.safetensors"]}
    )
    assert comp.fragments == ["juggernaut.generate_image"]
    assert comp.models == {"checkpoints": ["juggernautXL_v9.safetensors"]}
    _valid(comp)


def test_every_bundled_fragment_uses_only_catalog_classes_and_inputs() -> None:
    for fragment in FragmentLibrary.bundled().fragments:
        if fragment.pack is not None:
            continue
        assert fragment.missing_classes(BUNDLED) == [], fragment.name
        for key, node in fragment.nodes.items():
            spec = BUNDLED.get(node["class_type"])
            assert spec is not None
            for name in node["inputs"]:
                assert name in spec.inputs, (fragment.name, key, name)
        for targets in [*fragment.ports.values(), *fragment.params.values()]:
            for key, name in targets:
                assert name in BUNDLED.get(fragment.nodes[key]["class_type"]).inputs, (
                    fragment.name,
                    key,
                    name,
                )  # type: ignore[union-attr]


SD15_CKPT = "v1-5-pruned-emaonly.safetensors"
GEN_WITH_LORA = (
    {"op": "lora", "params": {"name": "watercolor_v3", "strength": 0.7}},
    {"op": "generate_image", "params": {"prompt": "a samurai in the rain"}},
)


def test_a_lora_the_backend_has_is_its_file() -> None:
    models = {"checkpoints": [SD15_CKPT], "loras": ["styles/Watercolor_V3.safetensors"]}
    comp = compose(_plan(*GEN_WITH_LORA), BUNDLED, models=models)
    (lora,) = [n for n in comp.link_list.nodes if class_of(n) == "LoraLoader"]
    assert comp.link_list.values(lora)["lora_name"] == "styles/Watercolor_V3.safetensors"


@pytest.mark.parametrize("loras", [["papercut.safetensors", "watercolor_v2.safetensors"], []])
def test_a_lora_the_backend_lacks_is_missing_never_another(loras: list[str]) -> None:
    models = {"checkpoints": [SD15_CKPT], "loras": loras}
    with pytest.raises(MissingCapability) as err:
        compose(_plan(*GEN_WITH_LORA), BUNDLED, models=models)
    assert err.value.model_files == ["loras/watercolor_v3.safetensors"]
    assert "'watercolor_v3.safetensors' is not on the backend" in err.value.message
    assert all(name in err.value.message for name in loras) and "models/loras" in err.value.message


def test_a_lora_named_without_the_backend_list_is_kept_as_named() -> None:
    comp = compose(_plan(*GEN_WITH_LORA), BUNDLED, models={"checkpoints": [SD15_CKPT]})
    (lora,) = [n for n in comp.link_list.nodes if class_of(n) == "LoraLoader"]
    assert comp.link_list.values(lora)["lora_name"] == "watercolor_v3.safetensors"


def test_a_lora_patches_the_first_generating_family_only() -> None:
    # A LoRA file fits one base model: "image, then animate it" puts it on the image model, not the video one.
    comp = compose(
        _plan(*GEN_WITH_LORA, {"op": "image_to_video", "inputs": {"image": "#2"}}),
        BUNDLED,
    )
    loras = [n for n in comp.link_list.nodes if class_of(n) == "LoraLoader"]
    assert len(loras) == 1
    (patched,) = [src for src, _, dst, port in comp.link_list.links if dst == loras[0] and port == "model"]
    assert class_of(patched) == "CheckpointLoaderSimple"
