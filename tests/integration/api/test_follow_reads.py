"""What following a job costs ComfyUI on the real ComfyUI (issue 13): each job's /history read once, and the
/queue read by ComfyUI's `status` events only when the events did not explain the change already."""

from __future__ import annotations

from typing import Any

import pytest

from tests.gateway_support import Gateway, fresh

pytestmark = pytest.mark.integration

JOBS = 6


async def test_a_run_of_jobs_reads_each_history_once_and_few_queues(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = gateway.app.state.client
    reads: list[str] = []
    original = client._http.json

    async def counted(method: str, path: str, *args: Any, **kwargs: Any) -> Any:
        if method == "GET":
            reads.append(path)
        return await original(method, path, *args, **kwargs)

    monkeypatch.setattr(client._http, "json", counted)
    ids = []
    for _ in range(JOBS):  # one at a time, each to its end: ComfyUI's status events come with each
        prompt_id = await gateway.submit(fresh("01_emptyimage_saveimage.prompt.json"))
        assert (await gateway.wait(prompt_id, within=60))["status"] == "completed"
        ids.append(prompt_id)
    for prompt_id in ids:
        assert reads.count(f"/history/{prompt_id}") == 1, reads
    # Before: one /queue per submit (the stream's check of the new job) plus one per `status` event ComfyUI
    # sent (before the POST answer, and before the job's executing(None)); the watchdog's periodic refresh
    # (reconcile_interval 1 s) remains.
    assert reads.count("/queue") < JOBS, reads
