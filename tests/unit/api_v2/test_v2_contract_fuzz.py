"""Schemathesis against the vendored Comfy API v2 contract (api/v2/openapi.yaml, 2.0.0), the gateway served
on loopback with ComfyUI unreachable: every answer to a request the contract allows has a status and a body
the contract documents; a request it does not allow is refused with a 4xx, and nothing answers 5xx."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from api.v2 import CONTRACT
from tests.gateway_support import serve_in_thread

EXAMPLES = 20

schema = schemathesis.openapi.from_path(str(CONTRACT))


@pytest.fixture(scope="module")
def contract_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from serve_in_thread(tmp_path_factory.mktemp("v2fuzz"))


def not_a_server_error(ctx: object, response: object, case: schemathesis.Case) -> bool | None:
    status = getattr(response, "status_code", 0)
    assert status < 500, f"{case.method} {case.path} answered {status}: {getattr(response, 'text', '')[:300]}"
    return None


def validate(case: schemathesis.Case, base_url: str) -> None:
    negative = case.meta is not None and case.meta.generation.mode is GenerationMode.NEGATIVE
    checks = (
        [negative_data_rejection, not_a_server_error]
        if negative
        else [
            status_code_conformance,
            response_schema_conformance,
            content_type_conformance,
            not_a_server_error,
        ]
    )
    case.call_and_validate(base_url=base_url, timeout=30, checks=checks)


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_v2_operation_answers_as_the_contract_documents(
    case: schemathesis.Case, contract_gateway: str
) -> None:
    validate(case, contract_gateway)
