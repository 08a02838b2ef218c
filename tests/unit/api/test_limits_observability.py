"""The pure parts of limits, webhooks, metrics and logs: token buckets, backoff, labels, JSON lines."""

from __future__ import annotations

import json
import logging

import pytest
from starlette.requests import Request

from api.limits import GatewayBusy, Limits, RateLimited, caller_id
from api.logs import ContextFilter, JsonFormatter, bind_job, request_id
from api.metrics import Metrics, route_label
from api.webhooks import retry_delay


def limits(**kw: float) -> Limits:
    values = {"rate": 2.0, "burst": 3, "max_pending_per_key": 2, "max_pending_jobs": 5, **kw}
    return Limits(
        rate=float(values["rate"]),
        burst=int(values["burst"]),
        max_pending_per_key=int(values["max_pending_per_key"]),
        max_pending_jobs=int(values["max_pending_jobs"]),
    )


def test_token_bucket_burst_then_refill() -> None:
    lim = limits()
    for _ in range(3):
        lim.spend("a", now=100.0)
    with pytest.raises(RateLimited) as info:
        lim.spend("a", now=100.0)
    assert info.value.status_code == 429 and info.value.headers() == {"Retry-After": "1"}
    lim.spend("b", now=100.0)  # buckets are per caller
    lim.spend("a", now=100.5)  # half a second at 2/s is one token
    with pytest.raises(RateLimited):
        lim.spend("a", now=100.5)
    limits(rate=0).spend("a")  # 0 turns the limit off


def test_pending_quota_and_global_bound() -> None:
    lim = limits()
    lim.job_started("a", "j1")
    lim.job_started("a", "j2")
    with pytest.raises(RateLimited) as info:
        lim.admit_job("a", active_jobs=2)
    assert info.value.code == "too_many_pending_jobs"
    lim.admit_job("b", active_jobs=2, count=2)
    with pytest.raises(GatewayBusy) as busy:
        lim.admit_job("b", active_jobs=4, count=2)
    assert busy.value.status_code == 503 and "Retry-After" in (busy.value.headers() or {})

    class Ended:
        prompt_id = "j1"

    lim.job_ended(Ended())  # type: ignore[arg-type]
    assert lim.pending_of("a") == 1
    lim.admit_job("a", active_jobs=1)


def test_caller_id_hashes_keys_and_falls_back_to_address() -> None:
    def req(headers: dict[str, str]) -> Request:
        raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        return Request({"type": "http", "headers": raw, "client": ("10.1.2.3", 5555)})

    by_header = caller_id(req({"X-API-Key": "secret-key"}))
    assert by_header == caller_id(req({"Authorization": "Bearer secret-key"}))
    assert by_header.startswith("key:") and "secret-key" not in by_header
    assert caller_id(req({})) == "addr:10.1.2.3"


def test_backoff_doubles_up_to_the_cap() -> None:
    assert [retry_delay(n, 1.0, 5.0) for n in range(1, 6)] == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_route_labels_never_carry_ids() -> None:
    assert route_label("/history/5b8f0c36-2f0e") == "/history"
    assert route_label("/prompt") == "/prompt"
    assert route_label("/view_metadata/checkpoints") == "/view_metadata"
    assert route_label("/%2e%2e/x") == "/other"
    metrics = Metrics()
    metrics.generation_steps([{"agent": "flow", "ms": 12.5}, {"agent": "validate", "ms": True}])
    text = metrics.render().decode()
    assert 'comfy_gateway_generation_step_seconds_count{agent="flow"} 1.0' in text
    assert 'agent="validate"' not in text


def test_json_lines_carry_context_ids_and_extras() -> None:
    record = logging.LogRecord("api.x", logging.INFO, __file__, 1, "job %s done", ("j1",), None)
    record.thing = {"a": 1}
    token = request_id.set("req-1")
    job_token = bind_job("j1")
    try:
        ContextFilter().filter(record)
    finally:
        request_id.reset(token)
        from api.logs import job_id

        job_id.reset(job_token)
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "job j1 done" and line["level"] == "INFO" and line["logger"] == "api.x"
    assert line["request_id"] == "req-1" and line["job_id"] == "j1" and line["thing"] == {"a": 1}
