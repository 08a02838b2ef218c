"""The job lifecycle tests of test_jobs_lifecycle.py again, with the gateway's job database on PostgreSQL
(progress, pending and running cancel, batch): the same routes, the same assertions, another database.
Skipped without TEST_DATABASE_URL (make test starts PostgreSQL with scripts/services.sh)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.db_support import POSTGRES_SKIP, fresh_postgres_database, postgres_admin_url
from tests.gateway_support import Gateway, gateway_settings, running_gateway
from tests.integration.api.test_jobs_lifecycle import (
    test_batch_submits_one_job_each_or_nothing as test_batch_on_postgres,
)
from tests.integration.api.test_jobs_lifecycle import (
    test_progress_monotonic_to_100_and_pending_cancel as test_progress_and_pending_cancel_on_postgres,
)
from tests.integration.api.test_jobs_lifecycle import (
    test_running_job_is_interrupted_by_cancel as test_running_cancel_on_postgres,
)

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

__all__ = [
    "test_batch_on_postgres",
    "test_progress_and_pending_cancel_on_postgres",
    "test_running_cancel_on_postgres",
]


@pytest.fixture(scope="module")
async def gateway(comfyui: Any, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Gateway]:
    """This module's gateway (it replaces the session one): the same settings, the jobs on PostgreSQL."""
    if postgres_admin_url() is None:
        pytest.skip(POSTGRES_SKIP)
    state = tmp_path_factory.mktemp("gateway-pg")
    async with fresh_postgres_database() as url:
        settings = gateway_settings(comfyui.url, state / "jobs.db", database_url=url)
        async with running_gateway(settings) as gw:
            assert gw.app.state.store.url == url
            yield gw
