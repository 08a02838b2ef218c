"""`FastReads` answers a job's status and the queue without FastAPI's routing, exactly as the routes do:
the same bodies and headers, the same 401/403/404/429 answers; anything else still reaches the app."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI

from api.app import create_app
from api.auth import KeyRing, generate_key, hash_key, parse_env_keys
from api.auth.middleware import Access, RequireKey
from api.errors import install_error_handlers
from api.jobs import JobStatus
from api.jobs.service import JobService
from api.limits import Limits, rate_limit
from api.logs import RequestId
from api.middleware import BodySizeLimit
from api.routes import system, workflow
from api.routes.fast_reads import FastReads, install_in_front
from api.settings import Settings
from tests.unit.api.test_hot_reads import until
from tests.unit.api.test_tracker_service import GRAPH, Setup, make, run_to_end, settle

__all__ = ["make"]  # the fixture, used by name
ADMIN = "admin-key-0123456789abcdef"
LIMIT = 1024


class Counted:
    """Innermost middleware: counts the requests that get past FastReads to FastAPI's router."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope["app"].state.calls += 1
        await self.app(scope, receive, send)


def routes(service: JobService, limits: Limits | None) -> FastAPI:
    """The status and queue routes, counting the requests that reach them."""
    app = FastAPI()
    app.state.jobs = service
    app.state.settings = Settings(api_keys=None)
    app.state.limits = limits
    app.state.calls = 0
    install_error_handlers(app)
    for router in (workflow.router, system.router):
        app.include_router(router, dependencies=[Depends(rate_limit)])
    app.add_middleware(Counted)
    return app


def gateway(service: JobService, keyring: KeyRing, *, fast: bool, limits: Limits | None = None) -> FastAPI:
    """The status and queue routes with the middlewares in `create_app`'s order (FastReads innermost)."""
    app = routes(service, limits)
    if fast:
        app.add_middleware(FastReads)
    app.add_middleware(RequireKey, keyring=keyring, allowed_origins=[])
    return app


async def test_same_answers_as_the_routes_without_the_router(make: Setup) -> None:
    wire, service, store = await make()
    await until(lambda: service.tracker.connected and service.tracker.queue_view.valid)
    reader = generate_key()
    await store.add_key("reader", hash_key(reader), reader[:10], ["read"])
    writer = generate_key()
    await store.add_key("writer", hash_key(writer), writer[:10], ["submit"])
    keyring = KeyRing(parse_env_keys(f"root:{ADMIN}"))
    keyring.attach(store)
    job = await service.submit(GRAPH, owner="reader")
    other = await service.submit(GRAPH, owner="someone-else")
    fast_app = gateway(service, keyring, fast=True)
    slow_app = gateway(service, keyring, fast=False)
    cases: list[tuple[str, str | None]] = [
        (f"/api/workflow/status/{job.prompt_id}", ADMIN),
        (f"/api/workflow/status/{job.prompt_id}", reader),
        (f"/api/workflow/status/{other.prompt_id}", reader),  # someone else's: 404
        ("/api/workflow/status/no-such-job", ADMIN),
        (f"/api/workflow/status/{job.prompt_id}", writer),  # no read scope: 403
        (f"/api/workflow/status/{job.prompt_id}", None),  # no key: 401
        ("/api/queue", ADMIN),
        ("/api/queue", reader),  # its own jobs, the others counted
        ("/api/queue", writer),
    ]
    base = "http://gw.test"
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=fast_app), base_url=base) as fast,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=slow_app), base_url=base) as slow,
    ):
        for path, key in cases:
            headers = {"X-API-Key": key} if key else {}
            a, b = await fast.get(path, headers=headers), await slow.get(path, headers=headers)
            assert (a.status_code, a.json()) == (b.status_code, b.json()), path
            assert a.headers["content-type"] == b.headers["content-type"] == "application/json"
            if path == "/api/queue" and a.status_code == 200:
                assert float(a.headers["X-Queue-Age"]) >= 0
        assert fast_app.state.calls == 0  # every one answered before FastAPI's router
        # Anything else goes through: a trailing slash, another method, another route.
        await fast.get(f"/api/workflow/status/{job.prompt_id}/", headers={"X-API-Key": ADMIN})
        await fast.post(f"/api/workflow/cancel/{job.prompt_id}", headers={"X-API-Key": ADMIN})
        await fast.get("/api/queue/", headers={"X-API-Key": ADMIN})
        assert fast_app.state.calls == 3
    del wire


async def test_the_rate_limit_holds_on_the_fast_path(make: Setup) -> None:
    _, service, store = await make()
    await until(lambda: service.tracker.connected and service.tracker.queue_view.valid)
    keyring = KeyRing()
    keyring.attach(store)
    limits = Limits(rate=0.01, burst=2, max_pending_per_key=0, max_pending_jobs=0)
    app = gateway(service, keyring, fast=True, limits=limits)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw.test") as http:
        codes = [(await http.get("/api/queue")).status_code for _ in range(3)]
        refused = await http.get("/api/workflow/status/x")
    assert codes == [200, 200, 429] and refused.status_code == 429
    assert refused.json()["code"] == "rate_limited" and int(refused.headers["Retry-After"]) >= 1
    assert app.state.calls == 0


async def test_a_finished_jobs_body_is_served_serialised_and_stays_right(make: Setup) -> None:
    wire, service, store = await make()
    await until(lambda: service.tracker.connected and service.tracker.queue_view.valid)
    keyring = KeyRing()
    keyring.attach(store)
    job = await service.submit(GRAPH)
    run_to_end(wire, job.prompt_id)
    await settle(service, job.prompt_id, JobStatus.COMPLETED)
    fast_app, slow_app = gateway(service, keyring, fast=True), gateway(service, keyring, fast=False)
    path = f"/api/workflow/status/{job.prompt_id}"
    for host in ("gw.test", "gw.test", "other.test:8080", "gw.test"):  # cached per base URL
        async with (
            httpx.AsyncClient(transport=httpx.ASGITransport(app=fast_app), base_url=f"http://{host}") as fast,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=slow_app), base_url=f"http://{host}") as slow,
        ):
            a, b = await fast.get(path), await slow.get(path)
            assert a.status_code == b.status_code == 200 and a.json() == b.json()
            assert a.json()["status"] == "completed"
            assert a.json()["output_images"] == [f"http://{host}/api/outputs/output/t_00001_.png"]
            assert (await fast.get("/api/workflow/status/unknown")).status_code == 404
    assert fast_app.state.calls == 0


def chain(service: JobService, keyring: KeyRing, *, front: bool) -> FastAPI:
    """`create_app`'s chain around the routes (request id, access, body limit), with `FastReads` in front
    of all of it (`front`) or absent (every read routed by FastAPI)."""
    app = routes(service, None)
    app.add_middleware(BodySizeLimit, max_bytes=LIMIT)
    app.add_middleware(RequireKey, keyring=keyring, allowed_origins=[])
    app.add_middleware(RequestId)
    if front:
        install_in_front(app, Access(keyring, []), max_body_bytes=LIMIT, cors=False)
    return app


def _headers(resp: httpx.Response) -> list[tuple[bytes, bytes]]:
    """The headers, the request id left out and the queue's age (a clock reading) by name only."""
    return [(k, b"" if k == b"x-queue-age" else v) for k, v in resp.headers.raw if k != b"x-request-id"]


async def test_in_front_the_keyed_reads_answer_exactly_as_the_routed_chain(make: Setup) -> None:
    _, service, store = await make()
    await until(lambda: service.tracker.connected and service.tracker.queue_view.valid)
    reader, writer, revoked = generate_key(), generate_key(), generate_key()
    await store.add_key("reader", hash_key(reader), reader[:10], ["read"])
    await store.add_key("writer", hash_key(writer), writer[:10], ["submit"])
    await store.add_key("gone", hash_key(revoked), revoked[:10], ["read"])
    keyring = KeyRing(parse_env_keys(f"root:{ADMIN}"), refresh_seconds=0)
    keyring.attach(store)
    mine = await service.submit(GRAPH, owner="reader")
    other = await service.submit(GRAPH, owner="someone-else")
    gone = await service.submit(GRAPH, owner="gone")
    fast_app, slow_app = chain(service, keyring, front=True), chain(service, keyring, front=False)
    assert await store.revoke_key("gone")
    status = "/api/workflow/status/"
    cases: list[tuple[str, dict[str, str]]] = [
        (status + mine.prompt_id, {"X-API-Key": ADMIN}),
        (status + mine.prompt_id, {"Authorization": f"Bearer {reader}"}),
        (status + mine.prompt_id, {"X-API-Key": reader, "X-Request-ID": "caller-id-1"}),
        (status + other.prompt_id, {"X-API-Key": reader}),  # another key's job: 404
        (status + "no-such-job", {"X-API-Key": reader}),  # unknown: 404
        (status + mine.prompt_id, {"X-API-Key": writer}),  # no read scope: 403
        (status + mine.prompt_id, {}),  # no key: 401
        (status + mine.prompt_id, {"X-API-Key": "cgw_not-a-key-at-all-0123456789"}),  # unknown key: 401
        (status + gone.prompt_id, {"X-API-Key": revoked}),  # revoked: 401
        (status + mine.prompt_id, {"X-API-Key": "x" * 300}),  # too long: 401
        ("/api/queue", {"X-API-Key": reader, "X-Request-ID": "bad id\twith tab"}),
        ("/api/queue", {"X-API-Key": revoked}),
        ("/api/queue", {}),
    ]
    base = "http://gw.test"
    seen: set[int] = set()
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=fast_app), base_url=base) as fast,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=slow_app), base_url=base) as slow,
    ):
        for path, headers in cases:
            a, b = await fast.get(path, headers=headers), await slow.get(path, headers=headers)
            assert (a.status_code, a.json()) == (b.status_code, b.json()), (path, headers)
            assert _headers(a) == _headers(b), (path, headers)
            assert (
                a.headers.raw[-1][0].lower() == b"x-request-id"
            )  # the request id last, as RequestId puts it
            if "X-Request-ID" in headers and " " not in headers["X-Request-ID"]:
                assert a.headers["X-Request-ID"] == b.headers["X-Request-ID"] == headers["X-Request-ID"]
            else:
                assert len(a.headers["X-Request-ID"]) == len(b.headers["X-Request-ID"]) == 32
            seen.add(a.status_code)
        assert seen == {200, 401, 403, 404}
        assert fast_app.state.calls == 0  # all answered in front of the chain
        # A body its framing does not bound within the limit goes through the chain: the chain's answer.
        big = {"X-API-Key": reader, "Content-Length": str(LIMIT + 1)}
        a = await fast.request("GET", status + mine.prompt_id, headers=big, content=b"x" * (LIMIT + 1))
        b = await slow.request("GET", status + mine.prompt_id, headers=big, content=b"x" * (LIMIT + 1))
        assert a.status_code == b.status_code == 413 and a.json() == b.json()


async def test_a_fault_in_front_is_answered_by_the_stack_as_for_any_route(
    make: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, service, store = await make()
    keyring = KeyRing(parse_env_keys(f"root:{ADMIN}"))
    keyring.attach(store)
    job = await service.submit(GRAPH)

    async def broken(prompt_id: str) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(service, "get", broken)
    fast_app, slow_app = chain(service, keyring, front=True), chain(service, keyring, front=False)
    path, headers = f"/api/workflow/status/{job.prompt_id}", {"X-API-Key": ADMIN}
    answers = []
    for app in (fast_app, slow_app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw.test") as http:
            answers.append(await http.get(path, headers=headers))
    a, b = answers
    assert a.status_code == b.status_code == 500 and a.json() == b.json()
    assert fast_app.state.calls == 1  # handed to the stack, which routed it


def test_create_app_puts_the_reads_in_front_unless_hosts_are_checked(tmp_path: Path) -> None:
    def front(**overrides: Any) -> Any:
        app = create_app(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'jobs.db'}", **overrides))
        return app.build_middleware_stack()

    stack = front(api_keys=f"root:{ADMIN}", cors_origins=["https://ui.test"])
    assert isinstance(stack, FastReads) and stack.access is not None and stack.cors
    assert stack.max_body_bytes == Settings().max_body_bytes
    assert not isinstance(front(trusted_hosts=["gw.test"]), FastReads)  # the host check comes first
