"""Webhooks: each terminal state of a job with a `webhook_url` is POSTed, signed, to that URL.

* Signed in the Standard Webhooks format by the maintained `standardwebhooks` package (`webhook-id`,
  `webhook-timestamp`, `webhook-signature` headers; secret `WEBHOOK_SECRET`, `whsec_...`). The body is
  `{"type": "job.<status>", "timestamp", "data": <the job's status body>}`; a retry keeps its `webhook-id`
  (receivers deduplicate on it) and is signed again with a fresh timestamp.
* The URL passes the input URLs' SSRF rules (`api.url_fetch`: `resolve` + `UrlPolicy.check`, the same
  allowlist) when the job is submitted (400) and again at every attempt, and the request goes to the address
  that was checked (no DNS rebinding, no redirects followed, no proxy).
* Retried with exponential backoff (`WEBHOOK_BACKOFF` doubling up to `WEBHOOK_BACKOFF_MAX`, at most
  `WEBHOOK_MAX_ATTEMPTS`); anything but a 2xx is a failed attempt. A refused address is not retried.
* Never blocks the tracker: its terminal callback only puts the delivery on a queue; ONE sender task per app
  records it (`webhook_deliveries` table of the job database: state and every attempt) and runs each delivery
  as its own task (bounded). Deliveries still pending at shutdown are picked up again at start-up.
* Several replicas (REDIS_URL, one database): a pending delivery is claimed by one replica at a time
  (`claimed_by`, `claimed_until`: its next attempt + `CLAIM_SECONDS`, renewed with every write; a write
  finding another replica's live claim stops sending it). At start and every `CLAIM_SCAN_INTERVAL` each
  replica claims the pending deliveries nobody holds (a stopped replica released its own; a killed one's
  expire), so each is sent by exactly one replica. A single gateway takes every pending one at start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import JSON, Float, Integer, String, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from api.errors import ApiError, BadRequest, UrlNotAllowed
from api.jobs.store import Database
from api.logs import bind_job

if TYPE_CHECKING:
    from api.jobs.state import Job
    from api.metrics import Metrics
    from api.schemas.workflow import WebhookDelivery
    from api.settings import Settings
    from api.url_fetch import UrlPolicy

log = logging.getLogger(__name__)

MAX_CONCURRENT_DELIVERIES = 16
MAX_URL_LENGTH = 2048
USER_AGENT = "comfy-gateway-webhooks/1"
CLAIM_SECONDS = 60.0  # a replica's hold on a pending delivery past its next attempt (renewed as it goes)
CLAIM_SCAN_INTERVAL = 15.0  # how often replicas look for pending deliveries nobody holds (a killed one's)


class WebhooksDisabled(BadRequest):
    """A `webhook_url` was given but the gateway has no `WEBHOOK_SECRET` to sign with (400)."""

    code = "webhooks_disabled"


class _Base(DeclarativeBase):
    pass


class DeliveryRow(_Base):
    __tablename__ = "webhook_deliveries"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the webhook-id, kept across retries
    prompt_id: Mapped[str] = mapped_column(String(64), index=True)
    url: Mapped[str] = mapped_column(String(MAX_URL_LENGTH))
    event_type: Mapped[str] = mapped_column(String(32))
    payload: Mapped[Any] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16), index=True)  # pending | delivered | failed
    attempts: Mapped[Any] = mapped_column(JSON, default=list)
    attempt_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[float] = mapped_column(Float)
    next_at: Mapped[float] = mapped_column(Float)
    claimed_by: Mapped[str | None] = mapped_column(String(128), nullable=True)  # the replica sending it
    claimed_until: Mapped[float | None] = mapped_column(Float, nullable=True)  # its claim holds until then


@dataclass
class Delivery:
    id: str
    prompt_id: str
    url: str
    event_type: str
    payload: dict[str, Any]
    state: str = "pending"
    attempts: list[dict[str, Any]] = field(default_factory=list)
    created_at: float = field(default_factory=time.time)
    next_at: float = field(default_factory=time.time)

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": self.url,
            "event_type": self.event_type,
            "state": self.state,
            "attempts": self.attempts,
        }


def webhook_url_of(job: Job) -> str | None:
    url = (job.request or {}).get("webhook_url")
    return url if isinstance(url, str) and url else None


async def check_webhook_url(url: str | None, settings: Settings) -> None:
    """At submit: 400 unless webhooks are configured and `url` passes the SSRF rules of input URLs."""
    if not url:
        return
    if not settings.webhook_secret:
        raise WebhooksDisabled(
            "webhook_url needs webhooks to be configured on the gateway (WEBHOOK_SECRET is not set)"
        )
    await _checked_address(url, _policy(settings))


def _policy(settings: Settings) -> UrlPolicy:
    from api.routes.files import url_policy

    return url_policy(settings)


async def _checked_address(url: str, policy: UrlPolicy) -> tuple[httpx.URL, dict[str, str], dict[str, str]]:
    """The URL pinned to an address that passed the policy: (request URL, headers, extensions)."""
    from api.url_fetch import _pinned, resolve

    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError) as exc:
        raise BadRequest(f"webhook_url is not a valid URL: {exc}") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise BadRequest(f"webhook_url must be an http(s) URL with a host, got {url[:200]!r}")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    addresses = await resolve(parsed.host, port)
    try:
        await policy.check(parsed.host, port, addresses)
    except UrlNotAllowed as exc:
        raise UrlNotAllowed(f"webhook_url refused: {exc.message}") from exc
    return _pinned(parsed, addresses[0])


def retry_delay(attempt: int, base: float, cap: float) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based)."""
    return float(min(cap, base * 2 ** (attempt - 1)))


class DeliveryStore(Database):
    """The `webhook_deliveries` table, in the job database (its migrations, usually already run by the
    JobStore)."""

    claim_seconds = CLAIM_SECONDS

    async def save(self, d: Delivery, owner: str | None = None) -> bool:
        """Write the delivery as `owner`'s (a pending one claimed until its next attempt + `claim_seconds`;
        None: claimed by nobody); False, writing nothing, when another replica holds a live claim on it."""
        now = time.time()
        async with self._session() as session, session.begin():
            row = await session.get(DeliveryRow, d.id, with_for_update=True)
            if row is not None and row.claimed_by not in (None, owner) and (row.claimed_until or 0) > now:
                return False
            pending = d.state == "pending" and owner is not None
            values = {
                "prompt_id": d.prompt_id,
                "url": d.url,
                "event_type": d.event_type,
                "payload": d.payload,
                "state": d.state,
                "attempts": list(d.attempts),
                "attempt_count": len(d.attempts),
                "created_at": d.created_at,
                "next_at": d.next_at,
                "claimed_by": owner if pending else None,
                "claimed_until": max(now, d.next_at) + self.claim_seconds if pending else None,
            }
            if row is None:
                session.add(DeliveryRow(id=d.id, **values))
            else:
                for key, value in values.items():
                    setattr(row, key, value)
        return True

    async def claim(self, owner: str, *, every: bool = False) -> list[Delivery]:
        """Claim for `owner` the pending deliveries no replica holds (never claimed, or the claim expired;
        `every`: all pending ones, a single gateway's start) and return every pending one `owner` holds.
        One UPDATE: of replicas claiming at once, each row goes to one (the database locks it)."""
        now = time.time()
        free = or_(DeliveryRow.claimed_until.is_(None), DeliveryRow.claimed_until < now)
        async with self._session() as session, session.begin():
            await session.execute(
                update(DeliveryRow)
                .where(DeliveryRow.state == "pending", *(() if every else (free,)))
                .values(claimed_by=owner, claimed_until=now + self.claim_seconds)
            )
        async with self._session() as session:
            rows = await session.scalars(
                select(DeliveryRow)
                .where(DeliveryRow.state == "pending", DeliveryRow.claimed_by == owner)
                .order_by(DeliveryRow.next_at)
            )
            return [_delivery(r) for r in rows.all()]

    async def release(self, owner: str) -> None:
        """`owner` stops: its pending deliveries are free for the next replica's scan (or its next start)."""
        async with self._session() as session, session.begin():
            await session.execute(
                update(DeliveryRow)
                .where(DeliveryRow.state == "pending", DeliveryRow.claimed_by == owner)
                .values(claimed_by=None, claimed_until=None)
            )

    async def for_job(self, prompt_id: str) -> list[Delivery]:
        async with self._session() as session:
            rows = await session.scalars(
                select(DeliveryRow).where(DeliveryRow.prompt_id == prompt_id).order_by(DeliveryRow.created_at)
            )
            return [_delivery(r) for r in rows.all()]

    async def pending(self) -> list[Delivery]:
        async with self._session() as session:
            rows = await session.scalars(
                select(DeliveryRow).where(DeliveryRow.state == "pending").order_by(DeliveryRow.next_at)
            )
            return [_delivery(r) for r in rows.all()]


def _delivery(row: DeliveryRow) -> Delivery:
    return Delivery(
        id=row.id,
        prompt_id=row.prompt_id,
        url=row.url,
        event_type=row.event_type,
        payload=row.payload or {},
        state=row.state,
        attempts=list(row.attempts or []),
        created_at=row.created_at,
        next_at=row.next_at,
    )


class WebhookSender:
    """The app's one webhook sender: `job_finished(job)` (the tracker's terminal callback) never waits."""

    def __init__(
        self,
        settings: Settings,
        *,
        metrics: Metrics | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        from standardwebhooks import Webhook

        self.settings = settings
        # A malformed secret fails at start-up, not at the first delivery.
        secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else ""
        self._signer = Webhook(secret) if secret else None
        self.metrics = metrics
        self.store = DeliveryStore(settings.database_url)
        self._transport = transport
        self._queue: asyncio.Queue[Delivery] = asyncio.Queue()
        self._live: dict[str, Delivery] = {}  # in flight: served from here, the row may lag an attempt
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: asyncio.Task[None] | None = None
        self._limit = asyncio.Semaphore(MAX_CONCURRENT_DELIVERIES)
        self._http: httpx.AsyncClient | None = None
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"  # this replica
        self.shared = settings.redis_url is not None  # other replicas send from the same table
        self.store.claim_seconds = max(CLAIM_SECONDS, 3 * settings.webhook_timeout)
        self._scanner: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.store.open()
        self._http = httpx.AsyncClient(
            timeout=self.settings.webhook_timeout,
            follow_redirects=False,
            trust_env=False,
            transport=self._transport,
        )
        await self._claim(every=not self.shared)
        self._runner = asyncio.create_task(self._run(), name="webhook-sender")
        if self.shared:
            self._scanner = asyncio.create_task(self._scan(), name="webhook-claims")

    async def _claim(self, *, every: bool = False) -> None:
        """Queue the pending deliveries this replica claims (those it sends already stay as they are)."""
        for delivery in await self.store.claim(self.owner, every=every):
            if delivery.id not in self._live:
                self._live[delivery.id] = delivery
                self._queue.put_nowait(delivery)

    async def _scan(self) -> None:
        """Take over, every `CLAIM_SCAN_INTERVAL`, pending deliveries a replica that died left unclaimed."""
        while True:
            await asyncio.sleep(CLAIM_SCAN_INTERVAL)
            try:
                await self._claim()
            except (SQLAlchemyError, OSError) as exc:
                log.warning("could not claim pending webhook deliveries: %s", exc)

    async def stop(self) -> None:
        """Stop sending; pending deliveries stay recorded and are sent after the next start."""
        tasks = [t for t in (self._runner, self._scanner, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._http is not None:
            await self._http.aclose()
        try:
            await self.store.release(self.owner)  # another replica (or our next start) sends them now
        except (SQLAlchemyError, OSError) as exc:  # their claims expire instead
            log.warning("could not release webhook deliveries: %s", exc)
        await self.store.close()

    # -- the tracker's side ----------------------------------------------------------------------------------
    def job_finished(self, job: Job, *, base_url: str = "") -> None:
        """Queue the job's terminal state for its `webhook_url` (none: nothing to do). Never blocks."""
        url = webhook_url_of(job)
        if url is None or self._signer is None:
            return
        from api.responses import status_body

        base = (
            self.settings.public_base_url or base_url or f"http://{self.settings.host}:{self.settings.port}"
        )
        data = status_body(job, self.settings, base).model_dump(mode="json")
        event_type = f"job.{job.status.value}"
        payload = {"type": event_type, "timestamp": datetime.now(tz=UTC).isoformat(), "data": data}
        delivery = Delivery(
            id=f"msg_{uuid.uuid4().hex}",
            prompt_id=job.prompt_id,
            url=url,
            event_type=event_type,
            payload=payload,
        )
        self._live[delivery.id] = delivery
        self._queue.put_nowait(delivery)

    async def deliveries(self, prompt_id: str) -> list[Delivery]:
        """The job's deliveries and their attempts (in-flight ones from memory)."""
        try:
            stored = {d.id: d for d in await self.store.for_job(prompt_id)}
        except SQLAlchemyError as exc:
            log.warning("could not read webhook deliveries of %s: %s", prompt_id, exc)
            stored = {}
        for d in self._live.values():
            if d.prompt_id == prompt_id:
                stored[d.id] = d
        return sorted(stored.values(), key=lambda d: d.created_at)

    # -- the sender ------------------------------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            delivery = await self._queue.get()
            self._live.setdefault(delivery.id, delivery)
            task = asyncio.create_task(self._deliver(delivery), name=f"webhook-{delivery.id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _record(self, d: Delivery) -> bool:
        """Write the delivery; False when another replica holds it (it sends it from now on)."""
        try:
            if await self.store.save(d, self.owner):
                return True
        except (SQLAlchemyError, OSError) as exc:  # the delivery goes on; its record catches up later
            log.warning("could not record webhook delivery %s: %s", d.id, exc)
            return True
        log.warning("webhook %s is sent by another replica now: this one stops", d.id)
        return False

    async def _deliver(self, d: Delivery) -> None:
        bind_job(d.prompt_id)
        s = self.settings
        try:
            if not await self._record(d):
                return
            while d.state == "pending":
                wait = d.next_at - time.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                async with self._limit:
                    outcome = await self._attempt(d)
                if outcome == "delivered":
                    d.state = "delivered"
                elif outcome == "refused" or len(d.attempts) >= s.webhook_max_attempts:
                    d.state = "failed"
                    outcome = "refused" if outcome == "refused" else "failed"
                else:
                    delay = retry_delay(len(d.attempts), s.webhook_backoff, s.webhook_backoff_max)
                    d.next_at = time.time() + delay
                if self.metrics is not None:
                    self.metrics.webhook_deliveries.labels(outcome).inc()
                if not await self._record(d):
                    return
            if d.state == "failed":
                log.warning("webhook %s failed after %d attempts", d.id, len(d.attempts))
        finally:
            self._live.pop(d.id, None)

    async def _attempt(self, d: Delivery) -> str:
        """One POST; records the attempt on `d`. 'delivered', 'retry' or 'refused' (the address)."""
        import json

        assert self._signer is not None and self._http is not None
        started = time.time()
        record: dict[str, Any] = {"at": started, "status_code": None, "error": None}
        outcome = "retry"
        try:
            target, headers, extensions = await _checked_address(d.url, _policy(self.settings))
            body = json.dumps(d.payload, separators=(",", ":"))
            now = datetime.now(tz=UTC)
            headers.update(
                {
                    "content-type": "application/json",
                    "user-agent": USER_AGENT,
                    "webhook-id": d.id,
                    "webhook-timestamp": str(int(now.timestamp())),
                    "webhook-signature": self._signer.sign(d.id, now, body),
                }
            )
            request = self._http.build_request(
                "POST", target, content=body.encode(), headers=headers, extensions=extensions
            )
            response = await self._http.send(request)
            await response.aclose()
            record["status_code"] = response.status_code
            if 200 <= response.status_code < 300:
                outcome = "delivered"
            else:
                record["error"] = f"HTTP {response.status_code}"
        except UrlNotAllowed as exc:
            record["error"] = exc.message
            outcome = "refused"
        except ApiError as exc:  # the host does not resolve (now): worth another try
            record["error"] = exc.message
        except httpx.HTTPError as exc:
            record["error"] = f"{type(exc).__name__}: {exc}"[:500]
        record["duration_ms"] = round((time.time() - started) * 1000, 1)
        d.attempts.append(record)
        log.info(
            "webhook %s attempt %d for job %s: %s",
            d.id,
            len(d.attempts),
            d.prompt_id,
            record["status_code"] or record["error"],
        )
        return outcome


def get_webhooks(conn: Any) -> WebhookSender | None:
    sender: WebhookSender | None = getattr(conn.app.state, "webhooks", None)
    return sender


async def webhook_status(conn: Any, job: Job) -> list[WebhookDelivery] | None:
    """What the status body shows of the job's webhook: its deliveries and attempts (None: no webhook)."""
    from api.schemas.workflow import WebhookDelivery

    sender = get_webhooks(conn)
    if sender is None or webhook_url_of(job) is None:
        return None
    return [WebhookDelivery.model_validate(d.public()) for d in await sender.deliveries(job.prompt_id)]
