"""The operation vocabulary: typed ports and typed parameters of every operation a plan step may name.

Ports at this level are IMAGE (one picture or a batch), VIDEO (frames as an IMAGE batch plus a frame rate)
and MASK; inside a fragment they become the catalog's link types (`catalog_type`). MODEL, CLIP, VAE, LATENT,
CONDITIONING, CONTROL_NET ... stay inside fragments, where the catalog checks them link by link.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

PortType = Literal[
    "IMAGE",
    "VIDEO",
    "MASK",
    "LATENT",
    "CONDITIONING",
    "MODEL",
    "CLIP",
    "VAE",
    "CONTROL_NET",
    "CLIP_VISION",
    "CLIP_VISION_OUTPUT",
    "STYLE_MODEL",
    "UPSCALE_MODEL",
    "MODEL_PATCH",
]
PORT_TYPES: tuple[str, ...] = get_args(PortType)


def catalog_type(port: str) -> str:
    """The link type a port carries in the graph: video frames travel as an IMAGE batch."""
    return "IMAGE" if port == "VIDEO" else port


Operation = Literal[
    "generate_image",
    "generate_video",
    "edit",
    "restyle",
    "inpaint",
    "outpaint",
    "style",
    "control",
    "upscale",
    "image_to_video",
    "video_to_video",
    "interpolate",
    "render_text",
    "lora",
    "face_detail",
    "segment",
    "join",
]
OPERATION_NAMES: tuple[str, ...] = get_args(Operation)

_Side = Field(0, ge=0, le=4096)
_Size = Field(None, ge=16, le=8192)


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Sampled(_Params):
    """An operation a diffusion model samples: the request's seed and step count apply to it."""

    seed: int | None = Field(None, ge=0, le=2**64 - 1)
    steps: int | None = Field(None, ge=1, le=200)


class GenerateImageParams(_Sampled):
    prompt: str = ""
    negative_prompt: str = ""
    width: int | None = _Size
    height: int | None = _Size
    batch: int | None = Field(None, ge=1, le=16)  # pictures made at once ("4 images of a fox")


class _Clip(_Sampled):
    prompt: str = ""
    negative_prompt: str = ""
    seconds: float | None = Field(None, gt=0, le=60)
    frames: int | None = Field(None, ge=1, le=1024)
    fps: float | None = Field(None, gt=0, le=120)
    width: int | None = _Size
    height: int | None = _Size


class GenerateVideoParams(_Clip):
    pass


class ImageToVideoParams(_Clip):
    pass


class EditParams(_Sampled):
    instruction: str = Field(min_length=1)


class RestyleParams(_Sampled):
    prompt: str = ""  # what the result should look like: "an oil painting", "anime, cel shading"
    negative_prompt: str = ""
    denoise: float = Field(0.6, gt=0, le=1)  # how much of the picture is redrawn


class InpaintParams(_Sampled):
    prompt: str = ""
    negative_prompt: str = ""  # what must not come back ("remove the car": the car)
    grow_mask_by: int = Field(6, ge=0, le=64)


class OutpaintParams(_Sampled):
    left: int = _Side
    top: int = _Side
    right: int = _Side
    bottom: int = _Side
    prompt: str = ""
    feathering: int = Field(40, ge=0, le=1024)

    @model_validator(mode="after")
    def _some_side(self) -> OutpaintParams:
        if not (self.left or self.top or self.right or self.bottom):
            raise ValueError("outpaint needs at least one side to extend (left, top, right, bottom)")
        return self


class StyleParams(_Sampled):
    prompt: str = ""
    strength: float = Field(1.0, ge=0, le=2)
    batch: int | None = Field(None, ge=1, le=16)  # pictures made at once ("4 variations of this photo")


ControlKind = Literal["canny", "depth", "pose", "scribble"]


class ControlParams(_Sampled):
    kind: ControlKind = "canny"
    # read from words that suggest a kind ("from this sketch"), not named: a named family's own ControlNet
    # (another kind) may take its place
    kind_guessed: bool | None = None  # (None when named: plans only show it when it was guessed)
    preprocessed: bool = False  # the reference already is an edge / depth / pose map
    prompt: str = ""
    strength: float = Field(1.0, ge=0, le=2)
    width: int | None = _Size
    height: int | None = _Size


class UpscaleParams(_Params):
    factor: float | None = Field(None, gt=0, le=8)
    width: int | None = _Size
    height: int | None = _Size
    method: Literal["model", "resample"] | None = None

    @model_validator(mode="after")
    def _one_target(self) -> UpscaleParams:
        if self.factor is None and self.width is None and self.height is None:
            self.factor = 2.0  # "upscale it" with no figure: the usual 2x
        return self


class VideoToVideoParams(_Sampled):
    prompt: str = ""
    denoise: float = Field(0.6, gt=0, le=1)
    fps: float | None = Field(None, gt=0, le=120)


class InterpolateParams(_Params):
    multiplier: int = Field(2, ge=2, le=8)


class RenderTextParams(_Sampled):
    text: str = Field(min_length=1, max_length=200)
    prompt: str = ""
    width: int | None = _Size
    height: int | None = _Size


class LoraParams(_Params):
    name: str = Field(min_length=1, max_length=200)
    strength: float = Field(1.0, ge=-4, le=4)


class FaceDetailParams(_Sampled):
    prompt: str = ""
    denoise: float = Field(0.5, gt=0, le=1)


class SegmentParams(_Params):
    target: str = Field("subject", min_length=1, max_length=200)


class JoinParams(_Params):
    fps: float | None = Field(None, gt=0, le=120)


@dataclass(frozen=True)
class InputPort:
    types: tuple[str, ...]
    required: bool = True
    many: bool = False  # takes a list of sources (join)


@dataclass(frozen=True)
class OperationSpec:
    name: str
    params: type[_Params]
    inputs: dict[str, InputPort] = field(default_factory=dict)
    output: str | None = None  # None: a modifier (LoRA) that patches other steps' models
    same_type_out: str | None = None  # output type is this input's type (upscale of images or frames)
    generative: bool = False  # samples with a diffusion model (what a LoRA attaches to)
    description: str = ""

    def output_type(self, given: dict[str, str]) -> str | None:
        if self.same_type_out is not None and self.same_type_out in given:
            return given[self.same_type_out]
        return self.output


_IMG = InputPort(("IMAGE",))
_OPT_IMG = InputPort(("IMAGE",), required=False)
_VID = InputPort(("VIDEO",))

OPERATIONS: dict[str, OperationSpec] = {
    spec.name: spec
    for spec in (
        OperationSpec(
            "generate_image",
            GenerateImageParams,
            {},
            "IMAGE",
            generative=True,
            description="a new picture from text",
        ),
        OperationSpec(
            "generate_video",
            GenerateVideoParams,
            {},
            "VIDEO",
            generative=True,
            description="a new clip from text",
        ),
        OperationSpec(
            "edit",
            EditParams,
            {"image": _IMG, "reference": _OPT_IMG},
            "IMAGE",
            generative=True,
            description="change a picture by instruction: add, remove, replace, recolour an object or detail",
        ),
        OperationSpec(
            "restyle",
            RestyleParams,
            {"image": _IMG},
            "IMAGE",
            generative=True,
            description="redraw a whole picture in a style or after a prompt (img2img, partial denoise)",
        ),
        OperationSpec(
            "inpaint",
            InpaintParams,
            {"image": _IMG, "mask": InputPort(("MASK",))},
            "IMAGE",
            generative=True,
            description="repaint the masked area of a picture",
        ),
        OperationSpec(
            "outpaint",
            OutpaintParams,
            {"image": _IMG},
            "IMAGE",
            generative=True,
            description="extend the canvas by N pixels on named sides",
        ),
        OperationSpec(
            "style",
            StyleParams,
            {"reference": _IMG, "image": _OPT_IMG},
            "IMAGE",
            generative=True,
            description="a picture in the style of a reference image",
        ),
        OperationSpec(
            "control",
            ControlParams,
            {"reference": _IMG},
            "IMAGE",
            generative=True,
            description="a picture keeping the structure (edges, depth, pose, scribble) of a reference",
        ),
        OperationSpec(
            "upscale",
            UpscaleParams,
            {"image": InputPort(("IMAGE", "VIDEO"))},
            "IMAGE",
            same_type_out="image",
            description="enlarge a picture or every frame of a clip",
        ),
        OperationSpec(
            "image_to_video",
            ImageToVideoParams,
            {"image": _IMG},
            "VIDEO",
            generative=True,
            description="animate a picture into a clip",
        ),
        OperationSpec(
            "video_to_video",
            VideoToVideoParams,
            {"video": _VID},
            "VIDEO",
            generative=True,
            description="restyle a clip keeping its motion",
        ),
        OperationSpec(
            "interpolate",
            InterpolateParams,
            {"video": _VID},
            "VIDEO",
            description="more frames between frames (smoother, higher frame rate)",
        ),
        OperationSpec(
            "render_text",
            RenderTextParams,
            {"image": _OPT_IMG},
            "IMAGE",
            generative=True,
            description="a picture with given text written in it",
        ),
        OperationSpec("lora", LoraParams, {}, None, description="apply a LoRA to the generating models"),
        OperationSpec(
            "face_detail",
            FaceDetailParams,
            {"image": _IMG},
            "IMAGE",
            generative=True,
            description="redraw faces in detail",
        ),
        OperationSpec(
            "segment", SegmentParams, {"image": _IMG}, "IMAGE", description="cut a subject out of a picture"
        ),
        OperationSpec(
            "join",
            JoinParams,
            {"videos": InputPort(("VIDEO",), many=True)},
            "VIDEO",
            description="join several clips into one video",
        ),
    )
}


def params_model(operation: str) -> type[_Params]:
    return OPERATIONS[operation].params


def operations_for_llm() -> dict[str, dict[str, object]]:
    """Every operation with its input ports and parameter schema: the user message of the LLM strategy."""
    out: dict[str, dict[str, object]] = {}
    for name, spec in OPERATIONS.items():
        schema = spec.params.model_json_schema()
        out[name] = {
            "description": spec.description,
            "inputs": {
                port: {"types": list(p.types), "required": p.required, "many": p.many}
                for port, p in spec.inputs.items()
            },
            "output": spec.output,
            "params": schema.get("properties", {}),
        }
    return out
