"""Gateway fixtures: an app on the session's real ComfyUI, with its lifespan entered once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.gateway_support import Gateway, gateway_settings, running_gateway


@pytest.fixture(scope="session")
async def gateway(comfyui: Any, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Gateway]:
    db = tmp_path_factory.mktemp("gateway") / "jobs.db"
    async with running_gateway(gateway_settings(comfyui.url, db)) as gw:
        yield gw
