"""The OpenAPI fuzzing of tests/unit/api/test_openapi_fuzz.py against the real local ComfyUI, for the read
routes (their 200 bodies: queue, models, health, templates): no 5xx, every answer as documented. Writes
stay in the unit module (an unreachable backend), so no fuzzed job loads the CPU ComfyUI."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.unit.api.test_openapi_fuzz import EXAMPLES, call_and_validate, schema, serve

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def live_url(comfyui: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from serve(tmp_path_factory.mktemp("fuzz-live"), comfyui.url)


@schema.include(method="GET").parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_read_routes_on_the_real_backend(case: schemathesis.Case, live_url: str) -> None:
    call_and_validate(case, live_url)
