"""The Comfy API v2 surface (`/api/v2/...`; the contract is vendored in `api/v2/openapi.yaml`, version 2.0.0).

`api.v2.surface.install(app)` is the one call `create_app` makes. Modules: `surface` (install: routers,
envelope, asset store lifespan), `jobs`, `assets`, `health` (routes), `intake` (job body -> API graph, asset
references), `views` (v2 bodies from gateway jobs and asset records), `store` (table `v2_assets`, blobs),
`errors` (v2 codes and the envelope middleware), `deps`.
"""

from __future__ import annotations

from pathlib import Path

CONTRACT = Path(__file__).with_name("openapi.yaml")
CONTRACT_VERSION = "2.0.0"
