"""The LangGraph pipeline: routing, bounded repair loops from execution errors, streaming, checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from comfyui_client import HistoryEntry
from node_catalog import Catalog
from pipeline import GenerationRequest, Generator

MODELS = {
    "vae": ["broken.safetensors", "good_vae.safetensors"],
    "diffusion_models": ["hunyuan_video_t2v_720p_bf16.safetensors"],
    "text_encoders": ["clip_l.safetensors", "llava_llama3_fp8_scaled.safetensors"],
}


class ScriptedExecutor:
    """An Executor whose jobs end as scripted (the graph's side of the Executor protocol, no backend)."""

    def __init__(self, outcomes: list[dict[str, Any] | None]) -> None:
        self.outcomes = outcomes  # None = success, a dict = execution_error data
        self.submitted: list[dict[str, Any]] = []

    async def submit(self, workflow: dict[str, Any], *, extra_data: dict[str, Any] | None = None) -> str:
        self.submitted.append(workflow)
        return f"job-{len(self.submitted)}"

    async def wait(self, prompt_id: str, *, timeout: float) -> HistoryEntry:  # noqa: ASYNC109
        error = self.outcomes.pop(0) if self.outcomes else None
        if error is None:
            return HistoryEntry(prompt_id=prompt_id, status_str="success", completed=True, outcome="success")
        return HistoryEntry(
            prompt_id=prompt_id, status_str="error", completed=False, outcome="error", error=error
        )


def vae_failure(workflow: dict[str, Any]) -> dict[str, Any]:
    node_id = next(k for k, n in workflow.items() if n["class_type"] == "VAELoader")
    return {
        "node_id": node_id,
        "node_type": "VAELoader",
        "exception_type": "safetensors._safetensors_rust.SafetensorError",
        "exception_message": "Error while deserializing header: header too small\n",
    }


async def test_execution_error_goes_back_to_refine_and_the_rerun_succeeds() -> None:
    probe = await Generator(Catalog.bundled()).generate(
        GenerationRequest(prompt="a fox, 2 seconds", models=MODELS)
    )
    assert probe.workflow is not None
    executor = ScriptedExecutor([vae_failure(probe.workflow), None])
    generator = Generator(Catalog.bundled(), executor=executor)
    result = await generator.generate(
        GenerationRequest(
            prompt="a fox, 2 seconds",
            submit=True,
            wait=True,
            models=MODELS,
            overrides={"extra_params": {"vae_name": "broken.safetensors"}},
        )
    )
    assert result.error is None and result.status == "succeeded", result.errors
    agents = [s["agent"] for s in result.steps]
    assert agents == ["reformat", "flow", "refine", "validate", "execute", "refine", "validate", "execute"]
    vaes = [next(n for n in w.values() if n["class_type"] == "VAELoader") for w in executor.submitted]
    assert [v["inputs"]["vae_name"] for v in vaes] == ["broken.safetensors", "good_vae.safetensors"]
    assert result.repairs[-1]["cause"] == "execution_error"


async def test_repairs_are_bounded() -> None:
    probe = await Generator(Catalog.bundled()).generate(GenerationRequest(prompt="a fox", models=MODELS))
    assert probe.workflow is not None
    # every file fails to load: the loop stops after max_repairs resubmissions
    many = {**MODELS, "vae": [f"vae_{i}.safetensors" for i in range(8)]}
    executor = ScriptedExecutor([vae_failure(probe.workflow)] * 10)
    result = await Generator(Catalog.bundled(), executor=executor).generate(
        GenerationRequest(prompt="a fox", submit=True, wait=True, models=many, max_repairs=2)
    )
    assert result.error_code == "execution_failed" and len(executor.submitted) == 3
    # an error Refine has no fix for: it stops instead of resubmitting blindly
    unknown = {
        **vae_failure(probe.workflow),
        "exception_type": "RuntimeError",
        "exception_message": "CUDA error",
    }
    executor = ScriptedExecutor([unknown] * 10)
    result = await Generator(Catalog.bundled(), executor=executor).generate(
        GenerationRequest(prompt="a fox", submit=True, wait=True, models=MODELS, max_repairs=2)
    )
    assert result.error_code == "repair_failed" and len(executor.submitted) == 1


async def test_missing_model_file_is_reported_not_submitted() -> None:
    executor = ScriptedExecutor([])
    result = await Generator(Catalog.bundled(), executor=executor).generate(
        GenerationRequest(
            prompt="a fox", submit=True, models={**MODELS, "diffusion_models": []}, max_repairs=1
        )
    )
    assert result.error_code == "invalid_workflow" and not executor.submitted
    assert "hunyuan_video_t2v_720p_bf16.safetensors" in str(result.validation)


async def test_submit_without_wait_returns_the_prompt_id() -> None:
    executor = ScriptedExecutor([])
    result = await Generator(Catalog.bundled(), executor=executor).generate(
        GenerationRequest(prompt="make a 2-second test video of solid red frames", submit=True)
    )
    assert result.prompt_id == "job-1" and result.status == "submitted"


async def test_submit_without_backend_is_a_clear_error() -> None:
    result = await Generator(Catalog.bundled()).generate(
        GenerationRequest(prompt="red test video", submit=True)
    )
    assert result.error is not None and "ComfyUI backend" in result.error
    assert result.validation and result.validation["ok"]


async def test_invalid_request_stops_at_reformat() -> None:
    result = await Generator(Catalog.bundled()).generate(
        GenerationRequest(prompt="a fox", overrides={"resolution": "enormous"})
    )
    assert result.error_code == "bad_request" and result.workflow is None
    assert [s["agent"] for s in result.steps] == ["reformat"]


async def test_stream_yields_one_item_per_step_then_the_result() -> None:
    items = [i async for i in Generator(Catalog.bundled()).stream(GenerationRequest(prompt="a fox, 3s"))]
    assert [i["event"] for i in items] == ["step"] * 4 + ["result"]
    assert [i["node"] for i in items[:4]] == ["reformat", "flow", "refine", "validate"]
    assert items[-1]["result"]["validation"]["ok"]


async def test_checkpointed_run_is_kept_by_thread_id(tmp_path: Path) -> None:
    async with AsyncSqliteSaver.from_conn_string(str(tmp_path / "ckpt.db")) as saver:
        generator = Generator(Catalog.bundled(), checkpointer=saver)
        result = await generator.generate(GenerationRequest(prompt="a fox, 3s"), thread_id="t-1")
        assert result.thread_id == "t-1"
        snapshot = await generator.graph.aget_state({"configurable": {"thread_id": "t-1"}})
        assert snapshot.values["template"] == "hunyuan_t2v" and not snapshot.next
        # resuming a finished thread replays nothing and returns the same result
        again = await generator.resume("t-1")
        assert again.workflow == result.workflow


async def test_interrupted_run_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    async with AsyncSqliteSaver.from_conn_string(str(tmp_path / "ckpt.db")) as saver:
        generator = Generator(Catalog.bundled(), checkpointer=saver)
        config: Any = {"configurable": {"thread_id": "t-2"}, "interrupt_after": ["flow"]}
        await generator.graph.ainvoke(
            Generator._initial(GenerationRequest(prompt="a fox, 3s")),
            {"configurable": {"thread_id": "t-2"}},
            interrupt_after=["flow"],
        )
        snapshot = await generator.graph.aget_state(config)
        assert snapshot.next == ("refine",)
        result = await generator.resume("t-2")
        assert result.validation and result.validation["ok"]
        assert [s["agent"] for s in result.steps] == ["reformat", "flow", "refine", "validate"]


class RejectingOnceExecutor(ScriptedExecutor):
    """ComfyUI refuses the first submission with node_errors (what a newer backend might do)."""

    async def submit(self, workflow: dict[str, Any], *, extra_data: dict[str, Any] | None = None) -> str:
        from comfyui_client import PromptRejected

        self.submitted.append(workflow)
        if len(self.submitted) == 1:
            node_id = next(k for k, n in workflow.items() if n["class_type"] == "VAELoader")
            error = {
                "type": "prompt_outputs_failed_validation",
                "message": "Prompt outputs failed validation",
                "details": "",
                "extra_info": {},
            }
            node_error = {
                "type": "value_not_in_list",
                "message": "Value not in list",
                "details": "vae_name",
                "extra_info": {"input_name": "vae_name", "closest": ["good_vae.safetensors"]},
            }
            raise PromptRejected(
                error=error, node_errors={node_id: {"errors": [node_error], "class_type": "VAELoader"}}
            )
        return f"job-{len(self.submitted)}"


async def test_a_rejection_at_submit_is_repaired_from_comfyuis_node_errors() -> None:
    executor = RejectingOnceExecutor([])
    result = await Generator(Catalog.bundled(), executor=executor).generate(
        GenerationRequest(
            prompt="a fox",
            submit=True,
            models=MODELS,
            overrides={"extra_params": {"vae_name": "broken.safetensors"}},
        )
    )
    assert result.error is None and result.prompt_id == "job-2", result.errors
    vae = next(n for n in executor.submitted[1].values() if n["class_type"] == "VAELoader")
    assert vae["inputs"]["vae_name"] == "good_vae.safetensors"
