"""`Idempotency-Key` on submit and generate: the same key (per caller) returns the same job.

A key is stored on the job row, scoped by the caller (an API key's name once access control is on), with a
hash of the request body; the same key with another body is refused (422), never silently applied to it.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Header
from starlette.requests import HTTPConnection

from api.errors import BadRequest

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
_KEY = re.compile(r"[\x21-\x7e]{1,255}")  # visible ASCII, as the IETF draft's string examples; linear time


@dataclass(frozen=True)
class Idempotency:
    """A caller-scoped key and the fingerprint of the body it came with."""

    key: str
    fingerprint: str

    def attempt(self, n: int) -> Idempotency:
        """The key of the n-th submission of one generation run (repairs submit again)."""
        return self if n <= 1 else Idempotency(f"{self.key}#{n}", self.fingerprint)


def fingerprint(body: Any) -> str:
    """A stable hash of a JSON-able request body (key order does not matter)."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def caller_scope(conn: HTTPConnection) -> str:
    """Whose keys these are: the authenticated caller's name (`request.state.principal`, set by access
    control; an open gateway's callers are all "anonymous", one shared scope), "" without access control."""
    principal = getattr(conn.state, "principal", None)
    name = getattr(principal, "name", principal)
    return str(name) if name else ""


def idempotency_for(conn: HTTPConnection, key: str | None, body: Any) -> Idempotency | None:
    """The request's Idempotency from its header value (None without one); 400 for an unusable key."""
    if key is None:
        return None
    if not _KEY.fullmatch(key):
        raise BadRequest(
            f"{HEADER} must be 1-{MAX_KEY_LENGTH} visible ASCII characters (a UUID, say), "
            f"got {len(key)} characters"
        )
    return Idempotency(f"{caller_scope(conn)}:{key}", fingerprint(body))


IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias=HEADER,
        description="Makes the request safe to retry: the same key (per caller) returns the same job, "
        "never a second run. The same key with a different body is refused (422).",
    ),
]
