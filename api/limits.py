"""Per-key rate limits and pending-job quotas, and the gateway-wide bound on pending jobs.

* Every request spends a token of its caller's bucket (`RATE_LIMIT_PER_SECOND` refill, `RATE_LIMIT_BURST`
  size); an empty bucket is a 429 whose `Retry-After` says when the next token comes.
* A submission (submit, batch, generate, video) is refused with 429 when its caller already has
  `MAX_PENDING_PER_KEY` unfinished jobs, and with 503 when the gateway has `MAX_PENDING_JOBS` (both with
  `Retry-After`): a queue ComfyUI cannot drain is refused at the door, not grown without end.

The caller is `caller_id(request)`: a hash of the API key (`Authorization: Bearer` or `X-API-Key`) or, with
none, the client address. The access part replaces it with its `Principal`'s name; nothing else changes.
Pending jobs per caller are counted here (noted at submit, released by the tracker's terminal callback).

Several replicas (REDIS_URL, `Limits.share`): the buckets live in Redis (`RedisBuckets`: one Lua script, one
round trip, Redis's clock), so a caller's rate is the gateway's, not each replica's; the unfinished jobs are
counted from the job database (one query per submission: every replica's, and a named key's own by the
`owner` column). Callers of an open gateway have no owner recorded: their quota stays per replica. Redis or
the database not answering: the replica's own bucket and counts decide (logged), the request is not refused.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import Request, WebSocketException
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import HTTPConnection

from api.errors import ApiError

if TYPE_CHECKING:
    from api.jobs.state import Job
    from api.metrics import Metrics
    from api.settings import Settings

log = logging.getLogger(__name__)

# Probes must answer even while a caller is throttled.
EXEMPT_PATHS = frozenset({"/health/live"})
MAX_BUCKETS = 100_000  # idle full buckets are dropped past this many callers (bounded memory)


class RateLimited(ApiError):
    """Too many requests, or too many unfinished jobs, for one caller (429 with Retry-After)."""

    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float, code: str | None = None) -> None:
        super().__init__(message, extra={"retry_after": max(1, math.ceil(retry_after))})
        self.retry_after = max(1, math.ceil(retry_after))
        if code:
            self.code = code

    def headers(self) -> dict[str, str] | None:
        return {"Retry-After": str(self.retry_after)}


class GatewayBusy(ApiError):
    """The gateway holds as many unfinished jobs as it may (503 with Retry-After)."""

    status_code = 503
    code = "gateway_busy"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, extra={"retry_after": retry_after})
        self.retry_after = retry_after

    def headers(self) -> dict[str, str] | None:
        return {"Retry-After": str(self.retry_after)}


LIMIT_RESPONSES: dict[int | str, dict[str, Any]] = {
    429: {"description": "Rate limit or pending-job quota of the caller reached (see Retry-After)"},
}
SUBMIT_RESPONSES: dict[int | str, dict[str, Any]] = {
    **LIMIT_RESPONSES,
    503: {"description": "ComfyUI unreachable, or the gateway's pending-job bound reached (see Retry-After)"},
}


def caller_id(conn: HTTPConnection) -> str:
    """Who is asking: the authenticated key's name; on an open gateway `key:<sha256 prefix>` of a key the
    caller sends anyway, else `addr:<client host>`."""
    principal = getattr(conn.state, "principal", None)
    if principal is not None and not getattr(principal, "anonymous", True):
        return f"name:{principal.name}"
    key = conn.headers.get("x-api-key", "")
    auth = conn.headers.get("authorization", "")
    if not key and auth[:7].lower() == "bearer ":
        key = auth[7:].strip()
    if key:
        return "key:" + hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()[:16]
    host = conn.client.host if conn.client else "unknown"
    return f"addr:{host}"


@dataclass
class _Bucket:
    tokens: float
    stamp: float


@dataclass
class Limits:
    """The app's limiter: token buckets per caller and unfinished jobs per caller."""

    rate: float  # tokens per second; 0 = no rate limit
    burst: int
    max_pending_per_key: int  # 0 = no quota
    max_pending_jobs: int  # 0 = no bound
    metrics: Metrics | None = None
    _buckets: dict[str, _Bucket] = field(default_factory=dict)
    _pending: dict[str, set[str]] = field(default_factory=dict)
    _owner: dict[str, str] = field(default_factory=dict)
    shared_buckets: RedisBuckets | None = None  # replicas: the buckets in Redis
    # replicas: (unfinished jobs, those of an owner) from the job database (JobStore.count_active)
    shared_counts: Callable[[str | None], Awaitable[tuple[int, int]]] | None = None

    @classmethod
    def from_settings(cls, settings: Settings, metrics: Metrics | None = None) -> Limits:
        return cls(
            rate=settings.rate_limit_per_second,
            burst=settings.rate_limit_burst,
            max_pending_per_key=settings.max_pending_per_key,
            max_pending_jobs=settings.max_pending_jobs,
            metrics=metrics,
        )

    def _count(self, limit: str) -> None:
        if self.metrics is not None:
            self.metrics.limited.labels(limit).inc()

    def share(
        self, redis_url: str, scope: str, counts: Callable[[str | None], Awaitable[tuple[int, int]]]
    ) -> None:
        """Replicas: buckets in Redis under `scope` (the deployment's), unfinished jobs from `counts`."""
        from api.jobs.bus import redis_client

        self.shared_buckets = RedisBuckets(redis_client(redis_url), f"{scope}:rate")
        self.shared_counts = counts

    async def aclose(self) -> None:
        if self.shared_buckets is not None:
            await self.shared_buckets.redis.aclose()

    async def take(self, caller: str) -> None:
        """Spend a token of the caller's bucket, in Redis when shared (else, or Redis failing, here)."""
        if self.rate <= 0:
            return
        if self.shared_buckets is not None:
            from redis.exceptions import RedisError  # installed: REDIS_URL is set

            try:
                wait = await self.shared_buckets.take(caller, self.rate, self.burst)
            except (RedisError, OSError) as exc:  # Redis down or slow: this replica's own bucket decides
                log.warning("rate limit bucket in Redis unavailable (%s): counted by this replica", exc)
            else:
                if wait is not None:
                    self._refuse_rate(wait)
                return
        self.spend(caller)

    def _refuse_rate(self, wait: float) -> None:
        self._count("rate")
        raise RateLimited(
            f"rate limit of {self.rate:g} requests/s (burst {self.burst}) reached; retry later",
            retry_after=wait,
        )

    async def admit(self, caller: str, active_jobs: int, *, count: int = 1) -> None:
        """`admit_job`, with the unfinished jobs counted from the job database when replicas share it (a
        named key's own: its `owner` rows; an open gateway's callers: this replica's count)."""
        mine: int | None = None
        if self.shared_counts is not None:
            owner = caller.removeprefix("name:") if caller.startswith("name:") else None
            try:
                active_jobs, owned = await self.shared_counts(owner)
            except (SQLAlchemyError, OSError) as exc:  # the database's errors: this replica's counts decide
                log.warning(
                    "could not count unfinished jobs in the database (%s): counted by this replica", exc
                )
            else:
                mine = owned if owner is not None else None
        self.admit_job(caller, active_jobs, count=count, mine=mine)

    def spend(self, caller: str, now: float | None = None) -> None:
        """Take one token from the caller's bucket; `RateLimited` when it is empty."""
        if self.rate <= 0:
            return
        now = time.monotonic() if now is None else now
        bucket = self._buckets.get(caller)
        if bucket is None:
            if len(self._buckets) >= MAX_BUCKETS:
                self._prune(now)
            bucket = self._buckets[caller] = _Bucket(tokens=float(self.burst), stamp=now)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.stamp) * self.rate)
        bucket.stamp = now
        if bucket.tokens < 1.0:
            self._refuse_rate((1.0 - bucket.tokens) / self.rate)
        bucket.tokens -= 1.0

    def _prune(self, now: float) -> None:
        full = [k for k, b in self._buckets.items() if b.tokens + (now - b.stamp) * self.rate >= self.burst]
        for key in full:
            del self._buckets[key]

    def admit_job(self, caller: str, active_jobs: int, *, count: int = 1, mine: int | None = None) -> None:
        """May `caller` add `count` unfinished jobs? `GatewayBusy` (503) / `RateLimited` (429) if not.
        `mine`: the caller's unfinished jobs when counted elsewhere (the database), else this replica's."""
        if self.max_pending_jobs and active_jobs + count > self.max_pending_jobs:
            self._count("gateway_pending")
            raise GatewayBusy(
                f"the gateway already holds {active_jobs} unfinished jobs (MAX_PENDING_JOBS "
                f"{self.max_pending_jobs}); retry later",
                retry_after=10,
            )
        mine = len(self._pending.get(caller, ())) if mine is None else mine
        if self.max_pending_per_key and mine + count > self.max_pending_per_key:
            self._count("key_pending")
            raise RateLimited(
                f"you already have {mine} unfinished jobs (the limit per key is {self.max_pending_per_key}); "
                "wait for some to finish",
                retry_after=10,
                code="too_many_pending_jobs",
            )

    def job_started(self, caller: str, prompt_id: str) -> None:
        """Count an unfinished job against its caller until `job_ended`."""
        self._pending.setdefault(caller, set()).add(prompt_id)
        self._owner[prompt_id] = caller

    def job_ended(self, job: Job) -> None:
        """The tracker's terminal callback: the job no longer counts against its caller."""
        caller = self._owner.pop(job.prompt_id, None)
        if caller is None:
            return
        mine = self._pending.get(caller)
        if mine is not None:
            mine.discard(job.prompt_id)
            if not mine:
                del self._pending[caller]

    def pending_of(self, caller: str) -> int:
        return len(self._pending.get(caller, ()))


def get_limits(conn: HTTPConnection) -> Limits | None:
    """The app's limiter (None in an app assembled without `create_app`: nothing is limited)."""
    limits: Limits | None = getattr(conn.app.state, "limits", None)
    return limits


async def rate_limit(conn: HTTPConnection) -> None:
    """Router dependency: every request (WebSocket too) but the liveness probe spends a caller's token."""
    # The raw path, not `conn.url` (a URL object built per request), and nothing computed with no limit set.
    if conn.scope["path"] in EXEMPT_PATHS:
        return
    limits = get_limits(conn)
    if limits is None or limits.rate <= 0:
        return
    try:
        await limits.take(caller_id(conn))
    except RateLimited as exc:
        if conn.scope["type"] == "websocket":  # no HTTP answer once a socket is asked for: close it
            raise WebSocketException(code=1008, reason=exc.message) from exc
        raise


async def admit_jobs(request: Request, *, count: int = 1) -> str:
    """Before a submission: the caller's quota and the global bound; returns the caller id to note jobs."""
    from api.deps import get_jobs

    caller = caller_id(request)
    limits = get_limits(request)
    if limits is not None:
        await limits.admit(caller, get_jobs(request).active_count, count=count)
    return caller


def note_jobs(request: Request, caller: str, *prompt_ids: str | None) -> None:
    """After a submission: each job still unfinished counts against `caller` until it ends."""
    from api.deps import get_jobs

    limits = get_limits(request)
    if limits is None:
        return
    jobs = get_jobs(request)
    for prompt_id in prompt_ids:
        job = jobs.live_job(prompt_id) if prompt_id else None
        if job is not None and not job.terminal:
            limits.job_started(caller, job.prompt_id)


# KEYS[1]: the caller's bucket (a hash: tokens, stamp); ARGV: rate, burst. Redis's own clock, so replicas'
# clocks never matter. Returns {1, ""} when a token was taken, else {0, seconds until the next one}.
_TAKE = """
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local v = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local tokens = math.min(burst, (tonumber(v[1]) or burst) + math.max(0, now - (tonumber(v[2]) or now)) * rate)
local taken = 0
if tokens >= 1 then
  tokens = tokens - 1
  taken = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'stamp', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
if taken == 1 then return {1, ''} end
return {0, tostring((1 - tokens) / rate)}
"""


class RedisBuckets:
    """Token buckets shared by replicas: one Lua script per request (one round trip); a bucket left full
    expires (nothing kept for idle callers)."""

    def __init__(self, redis: Any, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix
        self._script = redis.register_script(_TAKE)

    async def take(self, caller: str, rate: float, burst: int) -> float | None:
        """None when a token was taken, else the seconds until the caller's next one."""
        taken, wait = await self._script(keys=[f"{self.prefix}:{caller}"], args=[rate, burst])
        return None if int(taken) == 1 else float(wait)
