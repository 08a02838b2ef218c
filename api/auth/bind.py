"""Where `comfy-gateway serve` may listen: an open gateway (no API key) stays on loopback unless the
operator says otherwise, because every caller of an open gateway is an admin of expensive GPUs."""

from __future__ import annotations

import ipaddress

from api.jobs.store import JobStore
from api.settings import Settings

LOOPBACK = "127.0.0.1"
PUBLIC_DEFAULT = "0.0.0.0"


class OpenPublicBind(Exception):
    """Asked to serve a non-loopback interface with no API key and without ALLOW_OPEN_PUBLIC."""


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def choose_bind(requested: str | None, *, has_keys: bool, allow_open_public: bool) -> str:
    """The interface to bind: `requested`, else 0.0.0.0 with keys, 127.0.0.1 without."""
    host = requested or (PUBLIC_DEFAULT if has_keys else LOOPBACK)
    if not has_keys and not is_loopback(host) and not allow_open_public:
        raise OpenPublicBind(
            f"refusing to serve {host} with no API key: anyone reaching it could run anything. Create a key "
            "(`comfy-gateway keys create NAME --scope admin`, or API_KEYS=name:key), bind 127.0.0.1, or "
            "pass --allow-open-public (ALLOW_OPEN_PUBLIC=true) to serve it open anyway"
        )
    return host


async def keys_exist(settings: Settings) -> bool:
    """Whether the gateway will ask for keys: bootstrap keys in the settings, or any active key stored."""
    if settings.api_keys is not None and settings.api_keys.get_secret_value().strip():
        return True
    store = JobStore(settings.database_url)
    await store.open()
    try:
        return await store.has_keys()
    finally:
        await store.close()
