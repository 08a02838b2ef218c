from __future__ import annotations

from collections.abc import Iterator

import pytest
from llm_server import ScriptedLLM


@pytest.fixture(scope="module")
def llm_server() -> Iterator[ScriptedLLM]:
    server = ScriptedLLM().start()
    yield server
    server.stop()
