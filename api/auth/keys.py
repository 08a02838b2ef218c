"""API keys: making them, hashing them, and turning a presented key into a `Principal`.

A key is `cgw_` + 43 url-safe characters (256 random bits), so a plain sha256 is a safe stored form (no
salt or slow hash needed for a secret that is not guessable); comparisons are constant-time.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import math
import re
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from api.errors import Unauthorized

if TYPE_CHECKING:
    from api.jobs.store import JobStore

SCOPES = ("read", "submit", "admin")
KEY_PREFIX = "cgw_"
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
MAX_KEY_LENGTH = 256  # longer presented keys are refused without hashing
DEFAULT_REFRESH_SECONDS = 1.0  # KEYS_REFRESH_SECONDS: how long a revoked key may still work, at most


@dataclass(frozen=True)
class Principal:
    """Who is calling: a key's name and scopes (`admin` implies every scope and sees every owner's things).

    `anonymous` is the open gateway's caller (no key exists): an admin that owns nothing it creates.
    """

    name: str
    scopes: frozenset[str]
    is_admin: bool
    anonymous: bool = False

    def has(self, scope: str) -> bool:
        return self.is_admin or scope in self.scopes

    @property
    def owner(self) -> str | None:
        """The owner recorded on what this caller creates (None while the gateway runs open)."""
        return None if self.anonymous else self.name


OPEN = Principal(name="anonymous", scopes=frozenset(SCOPES), is_admin=True, anonymous=True)


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def key_prefix(key: str) -> str:
    """The part of a key shown by `keys list` (enough to tell keys apart, useless to an attacker)."""
    return key[: len(KEY_PREFIX) + 6]


def check_name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name) or name == OPEN.name:
        raise ValueError(
            f"invalid key name {name!r}: 1-64 letters, digits, '_', '.', '@' or '-' (not {OPEN.name!r})"
        )
    return name


def check_scopes(scopes: list[str]) -> list[str]:
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise ValueError(f"unknown scope(s) {', '.join(unknown)}: choose from {', '.join(SCOPES)}")
    return sorted(set(scopes), key=SCOPES.index)


def parse_env_keys(value: str) -> dict[str, str]:
    """`API_KEYS`: comma-separated `name:key` -> {key hash: name}. A malformed entry fails at start-up."""
    hashes: dict[str, str] = {}
    for entry in (part.strip() for part in value.split(",")):
        if not entry:
            continue
        name, sep, key = entry.partition(":")
        if not sep or not key.strip():
            raise ValueError("API_KEYS entries are `name:key`, comma-separated (an entry has no ':key')")
        if len(key.strip()) < 16:
            raise ValueError(f"API_KEYS: the key of {name.strip()!r} is shorter than 16 characters")
        hashes[hash_key(key.strip())] = check_name(name.strip())
    return hashes


log = logging.getLogger(__name__)


class KeyRing:
    """Authenticates presented keys against the bootstrap keys (`API_KEYS`) and the database's keys.

    Built by `create_app`; the lifespan attaches the job database once it is open. The database's active
    keys are cached in memory, so a request costs no database round trip: the cache is checked against the
    store's `key_generation()` (one cheap count query) at most every `refresh_seconds`
    (`KEYS_REFRESH_SECONDS`) and reloaded when that changed. A key made or revoked by `comfy-gateway keys` in
    another process (or on another replica) therefore counts, or stops working, within `refresh_seconds`;
    one changed through this process's own store counts on the next request. `refresh_seconds=0` checks on
    every request.

    The check runs ahead (issue 13): once the copy is half `refresh_seconds` old, the request that notices
    starts it in the background and is answered from the copy at once. Only a copy past the bound makes
    requests wait for the check; under steady traffic none does (every concurrent request waited for the
    check's database round trip once a second: the open gateway's p99 at 32 connections).
    """

    def __init__(
        self, env_hashes: dict[str, str] | None = None, *, refresh_seconds: float = DEFAULT_REFRESH_SECONDS
    ) -> None:
        self._env = dict(env_hashes or {})
        # One Principal per bootstrap key, made once (frozen, so shared by every request of that key).
        self._env_principals = {
            digest: Principal(name=name, scopes=frozenset(SCOPES), is_admin=True)
            for digest, name in self._env.items()
        }
        self._store: JobStore | None = None
        self.refresh_seconds = refresh_seconds
        self._keys: dict[str, Principal] = {}
        self._generation: tuple[int, int] | None = None
        self._checked = -math.inf  # monotonic time the last check started
        self._writes_seen = -1
        self._lock = asyncio.Lock()
        self._ahead: asyncio.Task[None] | None = None  # the check started early, while it runs

    def attach(self, store: JobStore) -> None:
        self._store = store
        self._writes_seen = -1  # a new store: load on the next request

    def _fresh(self, store: JobStore) -> bool:
        return (
            store.key_writes == self._writes_seen and time.monotonic() - self._checked < self.refresh_seconds
        )

    async def _stored(self) -> dict[str, Principal]:
        """The database's active keys by hash, checked against the database at most every refresh_seconds."""
        store = self._store
        if store is None:
            return {}
        if not self._fresh(store):
            async with self._lock:  # one check at a time; the others then find it fresh
                if not self._fresh(store):
                    await self._reload(store)
        elif self._ahead is None and time.monotonic() - self._checked >= self.refresh_seconds / 2:
            self._ahead = asyncio.create_task(self._check_ahead(store), name="keyring-check")
        return self._keys

    async def _check_ahead(self, store: JobStore) -> None:
        try:
            async with self._lock:
                await self._reload(store)
        except Exception:  # the next request past the bound checks again, and fails loudly if it must
            log.warning("checking the API keys ahead failed", exc_info=True)
        finally:
            self._ahead = None

    async def _reload(self, store: JobStore) -> None:
        # The start time counts: a change committed after it is seen by the next check, so no key outlives
        # its revocation by more than refresh_seconds.
        started, writes = time.monotonic(), store.key_writes
        generation = await store.key_generation()
        if generation != self._generation or writes != self._writes_seen:
            self._keys = {
                digest: Principal(name=name, scopes=frozenset(scopes), is_admin="admin" in scopes)
                for digest, (name, scopes) in (await store.active_keys()).items()
            }
            self._generation = generation
        self._writes_seen, self._checked = writes, started

    async def any_keys(self) -> bool:
        return bool(self._env) or bool(await self._stored())

    async def principal(self, key: str | None) -> Principal:
        """The caller for a presented key (None: none presented); `Unauthorized` (401) otherwise."""
        if key is None:
            if await self.any_keys():
                raise Unauthorized(
                    "an API key is required: send `Authorization: Bearer <key>` or `X-API-Key: <key>`"
                )
            return OPEN
        if len(key) > MAX_KEY_LENGTH:
            raise Unauthorized("invalid API key")
        digest = hash_key(key)
        bootstrap = None
        for known, env_principal in self._env_principals.items():  # every one compared: constant time
            if hmac.compare_digest(known, digest):
                bootstrap = env_principal
        if bootstrap is not None:
            return bootstrap
        # A dict lookup by the key's sha256: its timing tells nothing about the key itself.
        found = (await self._stored()).get(digest)
        if found is None:
            raise Unauthorized("invalid or revoked API key")
        return found
