"""A fleet of ComfyUI backends behind one gateway (issue 13): `COMFYUI_URLS` (api.fleet.spec), a `Backend`
per server (client, catalog, model index, job tracker) and the `Fleet` that chooses, checks and drains."""

from api.fleet.backend import Backend
from api.fleet.fleet import Fleet
from api.fleet.placement import NoBackendAvailable, owner_rule
from api.fleet.spec import BackendSpec, FleetConfigError, parse_backends

__all__ = [
    "Backend",
    "BackendSpec",
    "Fleet",
    "FleetConfigError",
    "NoBackendAvailable",
    "owner_rule",
    "parse_backends",
]
