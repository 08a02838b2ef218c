"""Wan 2.1 smoke weights (the text-to-video, image-to-video and VACE diffusion models, the UMT5-XXL text
encoder with its tokenizer, the Wan 2.1 VAE, CLIP ViT-H), run by ComfyUI's Python. Imported only by
`_smoke_weights_worker.py` (same folder, on the script's `sys.path`).

ComfyUI's Wan detection reads the width from `head.modulation` and sets one head per 128, so the DiTs are
tiny (width 128, one block, plus one VACE block) and written whole. The VAE is the Qwen-Image family's
builder (same class, `_smoke_qwen_models`); CLIP ViT-H (`clip_vision_h`, for i2v) is a stub described by
`_smoke_vision_models`.
UMT5-XXL's config is fixed (5.7B): a stub. ComfyUI ships no UMT5 tokenizer: it reads a SentencePiece model
from the file's own `spiece_model` tensor. A smoke tokenizer is no more a fake than smoke weights, so one is
trained here, deterministically, on a small built-in corpus with UMT5's special ids (pad 0, eos 1, unk 2, no
bos); its ids stay far below the 256384 rows of the embedding. Prompts are still padded to 512 tokens
(`UMT5XXlTokenizer(min_length=512)`, not configurable from the file), so the stub's cost is 512 tokens through
24 layers of width 4096 per distinct prompt.
"""

from __future__ import annotations

import importlib
import io
from pathlib import Path
from typing import Any

# role -> (in channels of patch_embedding, the model config class ComfyUI must pick, the module class)
DITS = {
    "wan_t2v_dit": (16, "WAN21_T2V", "WanModel"),
    "wan_i2v_dit": (36, "WAN21_I2V", "WanModel"),  # 16 noise + 4 mask + 16 image-latent channels
    "wan_vace_dit": (16, "WAN21_Vace", "VaceWanModel"),
}
TE = "umt5_xxl"
VAE = "wan_vae"
ROLES = frozenset({*DITS, TE, VAE})
ALWAYS_STUB = frozenset({TE})  # 5.7B parameters
# The official files are fp16 / fp8. The DiTs store what ComfyUI computes in on CPU; UMT5 runs in fp32
# whatever the file holds (`SDClipModel` casts): bf16 only halves the one large tensor its detection needs.
FILE_DTYPES = {**dict.fromkeys(DITS, "bfloat16"), TE: "bfloat16", VAE: "float32"}
TINY_DIT = {"dim": 128, "ffn_dim": 256, "layers": 1, "vace_layers": 1}
VACE_IN_DIM = 96  # 16 latent x 2 (inactive, reactive) + 64 mask channels
CLIP_VISION_WIDTH = 1280  # ViT-H: the i2v image embedding's input
SPIECE_KEY = "spiece_model"
# detect_te_model tells UMT5-XXL by this key's width (4096); t5_xxl_detect reads the dtype of the norm.
_TE_DETECTION = frozenset(
    {"encoder.block.23.layer.1.DenseReluDense.wi_1.weight", "encoder.final_layer_norm.weight"}
)
TOKENIZER_VOCAB = 384  # asked for; the corpus yields 139 pieces (characters it lacks encode as unk)
# UMT5's special pieces: what UMT5XXlModel (end 1, pad 0) and UMT5XXlTokenizer (pad_token 0) assume.
TOKENIZER_IDS = {"pad_id": 0, "eos_id": 1, "unk_id": 2, "bos_id": -1}
# The training text: prompt words of the evals and the generator's negative prompts.
_CORPUS = (
    "a 2 second video of a fox running through the snow at dawn",
    "a cinematic shot of a red car driving along a coastal road, golden hour light",
    "a cat sleeping on a windowsill while rain falls outside, soft focus",
    "an astronaut riding a horse on the moon, wide angle, high detail",
    "a timelapse of clouds moving over mountains and a lake in autumn",
    "a dancer spinning in a studio with colourful lights and smoke",
    "low quality, blurry, distorted, watermark, text, oversaturated, static frame",
    "a portrait of an old fisherman, film grain, 35mm photograph, dramatic shadows",
    "waves crashing on rocks, slow motion, water droplets, sunset sky",
    "a city street at night with neon signs reflecting in puddles",
    "a bird flying over a forest canopy, aerial drone footage",
    "children playing football in a park on a sunny afternoon",
)


def keep_in_stub(role: str, key: str) -> bool:
    return role in DITS or role == VAE or key == SPIECE_KEY or key in _TE_DETECTION


def _module(name: str) -> Any:
    return importlib.import_module(name)


def describe(comfy: dict[str, Any], role: str) -> tuple[dict[str, Any], set[str]]:
    """(meta state dict under the file's key names, the names of its normalisation parameters)."""
    if role == VAE:
        described: tuple[dict[str, Any], set[str]] = _module("_smoke_qwen_models").describe(comfy, "qwen_vae")
        return described
    module = _wan_dit(comfy, role) if role in DITS else _umt5(comfy)
    sd = dict(module.state_dict())
    norm_ids = _module("_smoke_image_models")._norm_ids(module, sd)
    norms = {k for k, t in sd.items() if id(t) in norm_ids}
    if role == TE:
        sd[SPIECE_KEY] = smoke_tokenizer(comfy["torch"])  # real bytes: written as they are
    return sd, norms


def _wan_dit(comfy: dict[str, Any], role: str) -> Any:
    torch = comfy["torch"]
    in_dim, want_class, class_name = DITS[role]
    dim = TINY_DIT["dim"]

    def empty(*shape: int) -> Any:
        return torch.empty(*shape, device="meta")

    probe = {
        "head.modulation": empty(1, 2, dim),
        "head.head.weight": empty(16 * 4, dim),  # 16 latent channels x 1x2x2 patch
        "patch_embedding.weight": empty(dim, in_dim, 1, 2, 2),
        **{f"blocks.{i}.ffn.0.weight": empty(TINY_DIT["ffn_dim"], dim) for i in range(TINY_DIT["layers"])},
    }
    if role == "wan_i2v_dit":
        probe["img_emb.proj.0.bias"] = empty(CLIP_VISION_WIDTH)
    if role == "wan_vace_dit":
        probe["vace_patch_embedding.weight"] = empty(dim, VACE_IN_DIM, 1, 2, 2)
        probe.update({f"vace_blocks.{i}.after_proj.weight": empty(1) for i in range(TINY_DIT["vace_layers"])})
    tensors = _module("_smoke_tensors")
    return tensors.detected_model(comfy, role, probe, "comfy.ldm.wan.model", class_name, want_class)


def _umt5(comfy: dict[str, Any]) -> Any:
    wan = _module("comfy.text_encoders.wan")
    torch = comfy["torch"]
    return wan.te(dtype_t5=torch.bfloat16)(device="meta", dtype=torch.bfloat16).umt5xxl.transformer


def smoke_tokenizer(torch: Any) -> Any:
    """A SentencePiece model trained on `_CORPUS` with UMT5's special ids, as the uint8 tensor ComfyUI reads
    (`SPieceTokenizer` takes the serialized proto from the tensor's bytes). One thread: the same bytes on
    every run."""
    sentencepiece = _module("sentencepiece")  # ComfyUI's virtualenv has it (its SPieceTokenizer needs it)
    out = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(_CORPUS),
        model_writer=out,
        vocab_size=TOKENIZER_VOCAB,
        hard_vocab_limit=False,  # a small corpus may yield fewer pieces; any count under 256384 works
        model_type="unigram",
        character_coverage=1.0,
        num_threads=1,
        minloglevel=2,
        **TOKENIZER_IDS,
    )
    return torch.frombuffer(bytearray(out.getvalue()), dtype=torch.uint8)


def verify(
    comfy: dict[str, Any], role: str, files: dict[str, Path], written: dict[str, list[str]]
) -> dict[str, Any]:
    """{role: report} after loading the file as ComfyUI's loader node does (`_smoke_weights_worker.judge`)."""
    path, keys = files[role], set(written[role])
    if role == VAE:
        qwen = _module("_smoke_qwen_models")
        return {
            role: qwen.verify(comfy, "qwen_vae", {"qwen_vae": path}, {"qwen_vae": written[role]})["qwen_vae"]
        }
    compare, tensors = _module("_smoke_image_models")._compare, _module("_smoke_tensors")
    if role in DITS:
        return {role: compare(comfy, path, *tensors.loaded_dit(comfy, path, keys))}
    sd_mod = comfy["sd"]
    clip = sd_mod.load_clip(ckpt_paths=[str(path)], clip_type=sd_mod.CLIPType.WAN)
    te = clip.cond_stage_model
    loaded_as = type(te).__name__
    if loaded_as != "WanTEModel":
        raise RuntimeError(f"{role}: CLIPLoader(wan) builds {loaded_as}")
    _check_tokens(clip, te)
    return {role: compare(comfy, path, te.umt5xxl.transformer.state_dict(), keys - {SPIECE_KEY}, loaded_as)}


def _check_tokens(clip: Any, te: Any) -> None:
    """ComfyUI's tokenizer, read from the file, gives ids the embedding has, ending with eos and pad."""
    tokens = clip.tokenize(_CORPUS[0])["umt5xxl"][0]
    ids = [int(t[0]) for t in tokens]
    rows = te.umt5xxl.transformer.shared.weight.shape[0]
    eos = ids.index(1) if 1 in ids else -1
    if len(ids) != 512 or eos < 1 or max(ids) >= rows or any(i != 0 for i in ids[eos + 1 :]):
        raise RuntimeError(f"{TE}: the file's tokenizer gives {ids[:12]}... ({len(ids)} ids, {rows} rows)")
