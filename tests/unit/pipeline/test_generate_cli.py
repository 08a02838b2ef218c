"""`comfy-gateway generate` without a backend: planner output as text or JSON, clear errors, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app


@pytest.fixture(autouse=True)
def _no_llm(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "TEMPLATES_DIR"):
        monkeypatch.delenv(name, raising=False)


def test_generate_prints_each_step() -> None:
    result = CliRunner().invoke(app, ["generate", "a cat surfing, 3 seconds, 720p"])
    assert result.exit_code == 0, result.output
    assert "reformat [planner]" in result.output and "from template hunyuan_t2v" in result.output


def test_generate_json_and_output_file(tmp_path: Path) -> None:
    out = tmp_path / "wf.json"
    result = CliRunner().invoke(
        app,
        [
            "generate",
            "a fox in the snow",
            "--duration",
            "2",
            "--resolution",
            "vertical",
            "--json",
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["intent"]["frames"] == 49 and body["intent"]["width"] == 480
    assert json.loads(out.read_text()) == body["workflow"]


def test_generate_bad_input_exits_non_zero() -> None:
    result = CliRunner().invoke(app, ["generate", "a fox", "--resolution", "gigantic"])
    assert result.exit_code == 1 and "not understood" in result.output
    assert CliRunner().invoke(app, ["generate", ""]).exit_code == 2


def test_generate_composes_a_chain_and_names_a_missing_pack() -> None:
    chain = CliRunner().invoke(app, ["generate", "make a fox in the snow, then upscale it 3x", "--json"])
    assert chain.exit_code == 0, chain.output
    body = json.loads(chain.output)
    assert [step["op"] for step in body["plan"]["steps"]] == ["generate_image", "upscale"]
    assert {"EmptyLatentImage", "ImageScaleBy"} <= {n["class_type"] for n in body["workflow"].values()}
    shown = CliRunner().invoke(app, ["generate", "make a fox in the snow, then upscale it 3x"])
    assert "plan: generate_image -> upscale" in shown.output and "flow [composer]" in shown.output
    refused = CliRunner().invoke(app, ["generate", "make clip.mp4 slow motion"])
    assert refused.exit_code == 1 and "RIFE VFI" in refused.output
