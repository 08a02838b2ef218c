"""`COMFYUI_URLS`: the fleet's backends, each a URL with optional `;weight=`, `;tags=` and `;name=`.

    COMFYUI_URLS=http://a:8188;weight=2;tags=gpu-a100|video,http://b:8188;name=spare

Entries are comma-separated; options follow the URL after `;` (weight: a positive number, default 1; tags:
`|`-separated; name: how the gateway names the backend, default `host:port`). Without `COMFYUI_URLS` the
fleet is `COMFYUI_URL` alone (a fleet of one behaves exactly as the single-backend gateway did).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit


class FleetConfigError(ValueError):
    """`COMFYUI_URLS` cannot be read (the message names the entry and what is wrong)."""


@dataclass(frozen=True)
class BackendSpec:
    url: str
    name: str
    weight: float = 1.0
    tags: frozenset[str] = field(default_factory=frozenset)


def _default_name(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FleetConfigError(f"{url!r} is not an http(s) URL with a host")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.hostname}:{port}"


def parse_entry(entry: str) -> BackendSpec:
    url, *options = (part.strip() for part in entry.split(";"))
    url = url.rstrip("/")
    name = _default_name(url)
    weight = 1.0
    tags: frozenset[str] = frozenset()
    for option in options:
        key, sep, value = (s.strip() for s in option.partition("="))
        if not sep or not value:
            raise FleetConfigError(f"{entry!r}: option {option!r} is not key=value")
        if key == "weight":
            try:
                weight = float(value)
            except ValueError:
                weight = 0.0
            if not weight > 0 or weight == float("inf"):
                raise FleetConfigError(f"{entry!r}: weight must be a positive number, got {value!r}")
        elif key == "tags":
            tags = frozenset(t.strip() for t in value.split("|") if t.strip())
        elif key == "name":
            name = value
        else:
            raise FleetConfigError(f"{entry!r}: unknown option {key!r} (weight, tags, name)")
    return BackendSpec(url=url, name=name, weight=weight, tags=tags)


def parse_backends(urls: str, default_url: str) -> list[BackendSpec]:
    """The backends `COMFYUI_URLS` names (first = primary), or `default_url` alone when it is empty."""
    entries = [e.strip() for e in urls.split(",") if e.strip()]
    specs = [parse_entry(e) for e in entries] if entries else [parse_entry(default_url)]
    names = [s.name for s in specs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise FleetConfigError(
            f"backends named twice in COMFYUI_URLS: {', '.join(duplicates)} (give each a ;name=)"
        )
    return specs
