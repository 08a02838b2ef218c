"""Types of the HunyuanVideo smoke-weight fixtures (tests/conftest.py): `from tests.smoke_support import ...`.

conftest.py modules are all imported under the one name `conftest`, so tests must not import from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from comfyui_local.smoke_weights import Kind, SmokeWeightsReport

# The smoke set the tests use: stub weights (10.8 MiB), seed 0, cached once per machine.
SMOKE_KIND: Kind = "stub"
SMOKE_SEED = 0


@dataclass(frozen=True)
class SmokeModels:
    """The smoke files as placed in the fixture's models folder, plus the cache they came from."""

    models_dir: Path
    cache_dir: Path
    paths: dict[str, Path]  # role -> file in models_dir
    report: SmokeWeightsReport

    def name(self, role: str) -> str:
        return self.paths[role].name
