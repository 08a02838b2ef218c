"""`JobsExecutor`: the API's JobService as the pipeline's Executor, keeping the Executor's error contract."""

from __future__ import annotations

from typing import Any, cast

import pytest

from api.errors import InvalidWorkflow, UnprocessableGeneration, raise_for
from api.jobs.executor import JobsExecutor
from api.jobs.service import JobService, JobWaitTimeout
from api.jobs.state import Job, JobError, JobStatus
from comfyui_client import (
    ComfyClient,
    ComfyTimeout,
    ExecutionFailed,
    ExecutionInterrupted,
    HistoryEntry,
    JobLost,
    PromptRejected,
)
from node_catalog import Catalog
from pipeline import GenerationRequest, GenerationResult, Generator

MODELS = {
    "vae": ["broken.safetensors", "good_vae.safetensors"],
    "diffusion_models": ["hunyuan_video_t2v_720p_bf16.safetensors"],
    "text_encoders": ["clip_l.safetensors", "llava_llama3_fp8_scaled.safetensors"],
}


def vae_rejection(workflow: dict[str, Any]) -> InvalidWorkflow:
    """What JobService.submit raises when validation (or ComfyUI) refuses the VAE file: ComfyUI's 400 body."""
    node_id = next(k for k, n in workflow.items() if n["class_type"] == "VAELoader")
    return InvalidWorkflow.from_comfy_body(
        {
            "error": {
                "type": "prompt_outputs_failed_validation",
                "message": "Prompt outputs failed validation",
                "details": "",
                "extra_info": {},
            },
            "node_errors": {
                node_id: {
                    "errors": [
                        {
                            "type": "value_not_in_list",
                            "message": "Value not in list",
                            "details": "vae_name: 'broken.safetensors' not in [...]",
                            "extra_info": {"input_name": "vae_name", "closest": ["good_vae.safetensors"]},
                        }
                    ],
                    "dependent_outputs": [],
                    "class_type": "VAELoader",
                }
            },
        }
    )


class FakeJobs:
    """A JobService that refuses the first `reject` submissions, then records jobs that end as `final`."""

    def __init__(
        self,
        *,
        reject: int = 0,
        final: JobStatus = JobStatus.COMPLETED,
        error: JobError | None = None,
        wait_error: Exception | None = None,
    ) -> None:
        self.reject, self.final, self.error, self.wait_error = reject, final, error, wait_error
        self.submitted: list[dict[str, Any]] = []

    async def submit(
        self,
        workflow: dict[str, Any],
        *,
        extra_data: dict[str, Any] | None = None,
        request: dict[str, Any] | None = None,
        source: str = "workflow",
        owner: str | None = None,
    ) -> Job:
        self.submitted.append(workflow)
        if len(self.submitted) <= self.reject:
            raise vae_rejection(workflow)
        return Job(prompt_id=f"job-{len(self.submitted)}", workflow=workflow, source=source)

    async def wait(self, prompt_id: str, *, timeout: float) -> Job:  # noqa: ASYNC109
        if self.wait_error is not None:
            raise self.wait_error
        job = Job(prompt_id=prompt_id, workflow={}, source="generate")
        job.status, job.error = self.final, self.error
        return job


class FakeClient:
    """Only `history`: a finished job's entry is read once; the event stream is never followed again."""

    def __init__(self, entry: HistoryEntry | None) -> None:
        self.entry = entry
        self.history_calls: list[str] = []

    async def history(self, prompt_id: str) -> HistoryEntry | None:
        self.history_calls.append(prompt_id)
        return self.entry

    async def history_after_finish(self, prompt_id: str, *, timeout: float = 5.0) -> HistoryEntry | None:  # noqa: ASYNC109
        return await self.history(prompt_id)

    async def wait_for(self, prompt_id: str, *, timeout: float) -> HistoryEntry:  # noqa: ASYNC109
        raise AssertionError("a finished job's history is read, not waited for")


def success(prompt_id: str = "job-1") -> HistoryEntry:
    return HistoryEntry(prompt_id=prompt_id, status_str="success", completed=True, outcome="success")


def executor(jobs: FakeJobs, client: FakeClient | None = None) -> JobsExecutor:
    return JobsExecutor(
        cast(JobService, jobs),
        cast(ComfyClient, client or FakeClient(success())),
        request={},
        source="generate",
    )


async def test_invalid_workflow_becomes_prompt_rejected_with_comfyuis_node_errors() -> None:
    jobs = FakeJobs(reject=1)
    workflow = {"1": {"class_type": "VAELoader", "inputs": {"vae_name": "broken.safetensors"}}}
    with pytest.raises(PromptRejected) as info:
        await executor(jobs).submit(workflow)
    assert isinstance(info.value.__cause__, InvalidWorkflow)
    assert info.value.error["type"] == "prompt_outputs_failed_validation"
    assert info.value.node_errors["1"]["errors"][0]["type"] == "value_not_in_list"
    assert info.value.body == {"error": info.value.error, "node_errors": info.value.node_errors}


async def test_invalid_workflow_without_a_top_level_error_still_gives_a_comfy_shaped_one() -> None:
    class Refusing(FakeJobs):
        async def submit(self, workflow: dict[str, Any], **_: Any) -> Job:
            raise InvalidWorkflow("node 1 (VAELoader): bad", node_errors={"1": {"errors": []}})

    with pytest.raises(PromptRejected) as info:
        await executor(Refusing()).submit({})
    assert info.value.error["type"] == "prompt_outputs_failed_validation"
    assert "node 1 (VAELoader): bad" in info.value.message
    assert info.value.node_errors == {"1": {"errors": []}}


async def test_the_pipeline_repairs_a_jobservice_rejection_and_resubmits() -> None:
    jobs = FakeJobs(reject=1)
    client = FakeClient(success("job-2"))
    result = await Generator(Catalog.bundled(), executor=executor(jobs, client)).generate(
        GenerationRequest(
            prompt="a fox",
            submit=True,
            wait=True,
            models=MODELS,
            overrides={"extra_params": {"vae_name": "broken.safetensors"}},
        )
    )
    assert result.error is None and result.prompt_id == "job-2", result.errors
    assert result.status == "succeeded"
    assert len(jobs.submitted) == 2
    first, second = (next(n for n in w.values() if n["class_type"] == "VAELoader") for w in jobs.submitted)
    assert first["inputs"]["vae_name"] == "broken.safetensors"
    assert second["inputs"]["vae_name"] == "good_vae.safetensors"
    assert [s["agent"] for s in result.steps].count("execute") == 2
    assert client.history_calls == ["job-2"]


async def test_a_rejection_that_cannot_be_repaired_ends_the_run_with_its_thread_id() -> None:
    jobs = FakeJobs(reject=100)
    result = await Generator(Catalog.bundled(), executor=executor(jobs)).generate(
        GenerationRequest(
            prompt="a fox",
            submit=True,
            models=MODELS,
            max_repairs=1,
            overrides={"extra_params": {"vae_name": "broken.safetensors"}},
        )
    )
    assert result.status == "failed" and result.error_code == "invalid_workflow", result
    assert result.thread_id
    with pytest.raises(InvalidWorkflow) as info:
        raise_for(result)
    body = info.value.body()
    assert body["thread_id"] == result.thread_id and body["node_errors"]


async def test_a_wait_timeout_becomes_comfy_timeout() -> None:
    jobs = FakeJobs(wait_error=JobWaitTimeout("job job-1 did not finish within 5 s"))
    with pytest.raises(ComfyTimeout) as info:
        await executor(jobs).wait("job-1", timeout=5)
    assert isinstance(info.value.__cause__, JobWaitTimeout)
    assert "did not finish within 5 s" in info.value.message


async def test_a_wait_timeout_ends_the_run_instead_of_escaping_it() -> None:
    jobs = FakeJobs(wait_error=JobWaitTimeout("job job-1 did not finish within 5 s"))
    result = await Generator(Catalog.bundled(), executor=executor(jobs)).generate(
        GenerationRequest(prompt="a fox", submit=True, wait=True, models=MODELS)
    )
    assert result.status == "failed" and result.error_code == "backend_unavailable", result
    with pytest.raises(Exception) as info:
        raise_for(result)
    assert getattr(info.value, "extra", {})["thread_id"] == result.thread_id


async def test_a_job_that_timed_out_on_the_gateway_is_comfy_timeout() -> None:
    jobs = FakeJobs(final=JobStatus.TIMEOUT, error=JobError(message="ran over 600 s", type="timeout"))
    with pytest.raises(ComfyTimeout, match="ran over 600 s"):
        await executor(jobs).wait("job-1", timeout=5)


async def test_a_finished_job_answers_with_its_history_entry() -> None:
    client = FakeClient(success())
    entry = await executor(FakeJobs(), client).wait("job-1", timeout=5)
    assert entry.outcome == "success" and client.history_calls == ["job-1"]


async def test_a_failed_job_raises_execution_failed_with_its_entry() -> None:
    error = {"node_id": "3", "node_type": "VAELoader", "exception_message": "header too small"}
    entry = HistoryEntry(prompt_id="job-1", status_str="error", completed=False, outcome="error", error=error)
    with pytest.raises(ExecutionFailed) as info:
        await executor(FakeJobs(final=JobStatus.FAILED), FakeClient(entry)).wait("job-1", timeout=5)
    assert info.value.entry is entry and info.value.node_type == "VAELoader"


async def test_a_lost_job_raises_job_lost() -> None:
    lost = JobError(message="ComfyUI restarted", type="job_lost")
    with pytest.raises(JobLost, match="ComfyUI restarted") as info:
        await executor(FakeJobs(final=JobStatus.FAILED, error=lost), FakeClient(None)).wait(
            "job-1", timeout=5
        )
    assert info.value.prompt_id == "job-1"


async def test_a_job_cancelled_before_it_ran_is_interrupted() -> None:
    with pytest.raises(ExecutionInterrupted):
        await executor(FakeJobs(final=JobStatus.CANCELLED), FakeClient(None)).wait("job-1", timeout=5)


def test_every_failed_run_answers_with_its_thread_id() -> None:
    for code in ("llm_unavailable", "llm_error", "backend_unavailable", "backend_error", "repair_failed"):
        result = GenerationResult.model_validate(
            {"error": "it failed", "error_code": code, "status": "failed", "thread_id": "t-1"}
        )
        with pytest.raises(Exception) as info:
            raise_for(result)
        assert getattr(info.value, "extra", {})["thread_id"] == "t-1", code
    result = GenerationResult.model_validate({"error": "no", "error_code": "bad_request", "thread_id": "t-2"})
    with pytest.raises(UnprocessableGeneration):
        raise_for(result)
