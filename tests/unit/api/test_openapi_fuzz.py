"""Property-based fuzzing of the gateway's own OpenAPI schema (schemathesis), against the real app served
by uvicorn on loopback. ComfyUI is unreachable (the bundled catalog answers validation), so every route runs
its input handling and error paths: no 5xx other than the documented 503s, and every response matches its
documented status code and schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from api.settings import Settings
from tests.gateway_support import serve_in_thread

# Bounded: the whole module runs in about a minute on a loaded machine.
EXAMPLES = 25


def serve(tmp: Path, comfyui_url: str | None = None) -> Iterator[str]:
    """The app on a free loopback port (uvicorn in a thread); ComfyUI unreachable unless `comfyui_url`."""
    yield from serve_in_thread(tmp, comfyui_url, comfyui_timeout=5.0)


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from serve(tmp_path_factory.mktemp("fuzz"))


# The schema as the app publishes it at /openapi.json (building it needs no lifespan and no backend).
schema = schemathesis.openapi.from_dict(create_app(Settings(catalog_source="bundled")).openapi())


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_route_answers_its_documented_schema(case: schemathesis.Case, base_url: str) -> None:
    call_and_validate(case, base_url)


def call_and_validate(case: schemathesis.Case, base_url: str) -> None:
    case.call_and_validate(
        base_url=base_url,
        timeout=30,
        checks=[
            status_code_conformance,
            response_schema_conformance,
            content_type_conformance,
            negative_data_rejection,
        ],
    )


def test_the_schema_is_valid_openapi_31_and_documents_the_real_error_bodies() -> None:
    from openapi_spec_validator import validate

    doc = create_app(Settings(catalog_source="bundled")).openapi()
    validate(doc)  # /api/queue's [number, prompt_id, info] tuples included
    assert doc["openapi"].startswith("3.1")
    assert "HTTPValidationError" not in str(doc)
    for path, item in doc["paths"].items():
        for method, op in item.items():
            for status, response in op["responses"].items():
                if status.startswith(("4", "5")):
                    assert response["content"]["application/json"]["schema"], (method, path, status)
