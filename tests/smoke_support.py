"""The HunyuanVideo smoke-weight fixtures' types (tests/conftest.py) and `place_families`, for every suite:
`from tests.smoke_support import ...`.

conftest.py modules are all imported under the one name `conftest`, so tests must not import from them.
"""

from __future__ import annotations

from collections.abc import Sequence
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


def place_families(cache_dir: Path, families: Sequence[str], models_dir: Path) -> dict[str, Path]:
    """The families' stub smoke weights, written into the machine's cache once, copied into `models_dir`
    (every test: other suites write empty placeholders under the same names); role -> path."""
    from comfyui_local import install
    from comfyui_local.smoke_families import build_families, family_files
    from comfyui_local.smoke_weights import install_smoke_weights

    report = build_families(cache_dir, families, inst=install(), kind=SMOKE_KIND, seed=SMOKE_SEED)
    placed = install_smoke_weights(report.paths, cache_dir, models_dir)
    return {f.role: p for f, p in zip(family_files(families), placed, strict=True)}
