"""Smoke LoRAs: which model a graph's LoRA patches, what `smoke-weights --lora/--all` asks for, the eval
sets' LoRA names, and the eval runner's check that a smoke LoRA fits the model it is loaded onto."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agents.compose.planner import Planner
from comfyui_local.smoke_families import FAMILIES, NOT_RUNNABLE, families_for
from comfyui_local.smoke_loras import (
    DEFAULT_LORA_FAMILY,
    EXAMPLE_LORAS,
    example_loras,
    family_base,
    graph_loras,
    lora_file_name,
    lora_request,
    lora_role_base,
    loras_for_graph,
    smoke_lora,
    smoke_lora_base,
)
from comfyui_local.smoke_weights import MARKER, SmokeWeightsError, _refuse_real_files
from evals.live import smoke_loras_fit

ROOT = Path(__file__).resolve().parents[3]
SETS = ROOT / "evals" / "sets"
SD15 = "v1-5-pruned-emaonly.safetensors"


def lora_graph(
    *, loader: str = "CheckpointLoaderSimple", file: str = SD15, second: str = "ink"
) -> dict[str, Any]:
    key = "ckpt_name" if loader == "CheckpointLoaderSimple" else "unet_name"
    return {
        "1": {"class_type": loader, "inputs": {key: file}},
        "2": {"class_type": "LoraLoader", "inputs": {"lora_name": "ink.safetensors", "model": ["1", 0]}},
        "3": {"class_type": "ModelSamplingFlux", "inputs": {"model": ["2", 0]}},
        "4": {
            "class_type": "LoraLoaderModelOnly",
            "inputs": {"lora_name": f"{second}.safetensors", "model": ["3", 0]},
        },
        "5": {"class_type": "KSampler", "inputs": {"model": ["4", 0]}},
    }


def test_graph_loras_follow_the_model_input_back_to_the_file_loader() -> None:
    assert graph_loras(lora_graph()) == [("ink.safetensors", "sd15_ckpt"), ("ink.safetensors", "sd15_ckpt")]
    flux = lora_graph(loader="UNETLoader", file="flux1-dev.safetensors", second="pixel")
    assert graph_loras(flux) == [("ink.safetensors", "flux_dit"), ("pixel.safetensors", "flux_dit")]
    assert [f.role for f in loras_for_graph(flux)] == [
        "lora:flux_dit:ink.safetensors",
        "lora:flux_dit:pixel.safetensors",
    ]
    unknown = lora_graph(file="my_own_model.safetensors")
    assert graph_loras(unknown)[0] == ("ink.safetensors", None)
    with pytest.raises(SmokeWeightsError, match="no smoke weights"):
        loras_for_graph(unknown)


def test_one_lora_name_on_two_models_cannot_be_one_smoke_file() -> None:
    graph = lora_graph()
    graph["6"] = {"class_type": "UNETLoader", "inputs": {"unet_name": "flux1-dev.safetensors"}}
    graph["7"] = {"class_type": "LoraLoader", "inputs": {"lora_name": "ink.safetensors", "model": ["6", 0]}}
    with pytest.raises(SmokeWeightsError, match="two different models"):
        loras_for_graph(graph)


def test_one_file_name_cannot_hold_two_loras(tmp_path: Path) -> None:
    from comfyui_local.installer import ComfyInstall
    from comfyui_local.smoke_loras import build_loras

    twice = [smoke_lora("ink", family_base("sd15")), smoke_lora("ink", family_base("sdxl"))]
    with pytest.raises(SmokeWeightsError, match="two LoRAs"):
        build_loras(tmp_path, twice, inst=ComfyInstall(tmp_path))


def test_smoke_lora_names_and_roles() -> None:
    lora = smoke_lora("inkwash", family_base("sdxl"))
    assert (lora.folder, lora.filename, lora.role) == (
        "loras",
        "inkwash.safetensors",
        "lora:sdxl_ckpt:inkwash.safetensors",
    )
    assert lora_role_base(lora.role) == "sdxl_ckpt"
    assert lora_role_base("sd15_ckpt") is None
    for bad in ("", "../x.safetensors", "a/b", ".hidden"):
        with pytest.raises(SmokeWeightsError):
            lora_file_name(bad)
    with pytest.raises(SmokeWeightsError, match="safetensors"):
        smoke_lora("old.ckpt", family_base("sd15"))
    with pytest.raises(SmokeWeightsError, match="LoRAs exist for"):
        family_base("esrgan")


def test_lora_request_of_the_cli() -> None:
    # no family: the HunyuanVideo default set stays as before
    assert lora_request([], [], None) == ([], [])
    names, loras = lora_request([], ["inkwash"], None)
    assert names == ["sdxl"] and [f.role for f in loras] == ["lora:sdxl_ckpt:inkwash.safetensors"]
    names, loras = lora_request(["sdxl", "esrgan"], ["a", "b.safetensors"], None)
    assert names == ["sdxl", "esrgan"]
    assert [f.role for f in loras] == ["lora:sdxl_ckpt:a.safetensors", "lora:sdxl_ckpt:b.safetensors"]
    with pytest.raises(SmokeWeightsError, match="--lora-family"):
        lora_request(["sd15", "flux"], ["a"], None)
    names, loras = lora_request(["sd15"], ["a"], "wan21")
    assert names == ["sd15", "wan21"] and loras[0].role == "lora:wan_t2v_dit:a.safetensors"
    with pytest.raises(SmokeWeightsError, match="two LoRAs"):
        lora_request([], ["a", "a.safetensors"], None)
    names, loras = lora_request([], [], None, all_families=True)
    assert names == list(FAMILIES)
    assert sorted(f.filename for f in loras) == sorted(EXAMPLE_LORAS)
    assert {lora_role_base(f.role) for f in loras} == {"sdxl_ckpt"}


def test_example_loras_are_for_the_generators_default_picture_model() -> None:
    """A request that names a LoRA but no model gets the default text-to-image family's checkpoint: the
    example LoRAs must fit it, or they would load with "lora key not loaded" and patch nothing."""
    from agents.defaults import default_family

    assert default_family("text-to-image") == DEFAULT_LORA_FAMILY
    assert {lora_role_base(f.role) for f in example_loras()} == {family_base(DEFAULT_LORA_FAMILY).role}


def test_example_loras_are_the_names_the_eval_sets_ask_for() -> None:
    """`--all` and `make run` write these; the planner reads them from the eval sets' requests."""
    asked: set[str] = set()
    planner = Planner()
    for path in SETS.glob("*.jsonl"):
        for line in path.read_text().splitlines():
            case = json.loads(line)
            if "lora" not in case.get("tags", []):
                continue
            plan = planner.plan(case["prompt"])
            asked |= {lora_file_name(str(s.params["name"])) for s in plan.steps if s.op == "lora"}
    assert asked, "no LoRA case in the eval sets"
    assert asked == set(EXAMPLE_LORAS)


def test_loras_are_no_longer_unrunnable_and_add_no_family() -> None:
    assert "loras" not in NOT_RUNNABLE
    graph_files = {"checkpoints": [SD15], "loras": ["anything_at_all.safetensors"]}
    assert families_for(graph_files) == {"sd15"}


def test_smoke_lora_base_is_read_from_the_file(tmp_path: Path) -> None:
    path = tmp_path / "loras" / "ink.safetensors"
    path.parent.mkdir()
    header = json.dumps({"__metadata__": {MARKER: "1", "role": "lora:flux_dit:ink.safetensors"}}).encode()
    path.write_bytes(len(header).to_bytes(8, "little") + header)
    assert smoke_lora_base(path) == "flux_dit"
    real = tmp_path / "loras" / "real.safetensors"
    real.write_bytes(b"x" * 64)
    assert smoke_lora_base(real) is None
    with pytest.raises(SmokeWeightsError, match="refusing"):
        _refuse_real_files([smoke_lora("real", family_base("sd15"))], tmp_path)


class RoleBackend:
    def __init__(self, roles: dict[str, str | None]) -> None:
        self.roles = roles

    async def smoke_role(self, folder: str, name: str) -> str | None:
        assert folder == "loras"
        return self.roles.get(name)


async def test_eval_runs_a_lora_graph_only_when_the_smoke_lora_fits_its_model() -> None:
    graph = lora_graph(second="ink")
    fits = RoleBackend({"ink.safetensors": "lora:sd15_ckpt:ink.safetensors"})
    assert await smoke_loras_fit(fits, graph)  # type: ignore[arg-type]
    other = RoleBackend({"ink.safetensors": "lora:sdxl_ckpt:ink.safetensors"})
    assert not await smoke_loras_fit(other, graph)  # type: ignore[arg-type]
    assert not await smoke_loras_fit(RoleBackend({}), graph)  # type: ignore[arg-type]
    assert await smoke_loras_fit(RoleBackend({}), {"1": {"class_type": "KSampler", "inputs": {}}})  # type: ignore[arg-type]


def test_sdxl_controlnet_is_a_family_of_its_own() -> None:
    assert "sdxl_controlnet" in FAMILIES and "sdxl_controlnet" not in NOT_RUNNABLE
    graph_files = {
        "checkpoints": ["sd_xl_base_1.0.safetensors"],
        "controlnet": ["controlnet-canny-sdxl-1.0.safetensors"],
    }
    assert families_for(graph_files) == {"sdxl", "sdxl_controlnet"}


def test_cli_refuses_an_ambiguous_lora_before_any_work(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cli.comfyui_cmd import app

    args = ["smoke-weights", "--dir", str(tmp_path), "--lora", "ink", "--family", "sd15", "--family", "flux"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and "--lora-family" in result.output
    result = CliRunner().invoke(app, ["smoke-weights", "--dir", str(tmp_path), "--lora", "../ink"])
    assert result.exit_code == 2 and "not a LoRA file name" in result.output
