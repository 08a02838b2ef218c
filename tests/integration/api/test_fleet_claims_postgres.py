"""The compare-and-set that moves a `submitting` job (JobStore.move_if) on PostgreSQL, from two replicas'
connections at once: exactly one of them moves the row. Skipped without TEST_DATABASE_URL."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from api.fleet.placement import HELD
from api.jobs import Job, JobStatus, JobStore
from tests.db_support import POSTGRES_SKIP, fresh_postgres_database, postgres_admin_url

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

GRAPH = {"1": {"class_type": "EmptyImage", "inputs": {}}}


async def test_two_replicas_moving_one_submitting_job_at_once_one_wins() -> None:
    if postgres_admin_url() is None:
        pytest.skip(POSTGRES_SKIP)
    async with fresh_postgres_database() as url:
        poster, leader = JobStore(url), JobStore(url)  # two replicas: their own pools
        await poster.open()
        await leader.open()
        try:
            for _ in range(20):
                job = Job(str(uuid.uuid4()), GRAPH, status=JobStatus.SUBMITTING, backend="b0")
                await poster.insert(job)
                read = {"backend": "b0", "status": JobStatus.SUBMITTING}
                won = await asyncio.gather(
                    poster.move_if(job, **read, to_backend="b1", to_status=JobStatus.SUBMITTING),
                    leader.move_if(job, **read, to_backend=HELD, to_status=JobStatus.PENDING),
                )
                assert sorted(won) == [False, True]
                row = await leader.get(job.prompt_id)
                assert row is not None
                winner = ("b1", JobStatus.SUBMITTING) if won[0] else (HELD, JobStatus.PENDING)
                assert (row.backend, row.status) == winner
        finally:
            await poster.close()
            await leader.close()
