"""Shared fixtures: sample files, one real local ComfyUI per test session for `integration` tests, and the
HunyuanVideo smoke weights (`hunyuan_smoke_models`) that make the official model files in it real."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.smoke_support import SMOKE_KIND, SMOKE_SEED, SmokeModels
from tests.support import COMFY_FIXTURES, FIXTURES, SAMPLES, load_sample

__all__ = ["COMFY_FIXTURES", "FIXTURES", "SAMPLES", "load_sample"]
log = logging.getLogger(__name__)


def _import_anyio_eagerly() -> None:
    """anyio is a pytest plugin, so pytest's assertion rewriter compiles each of its modules on import, and
    anyio imports many lazily. One first imported in a test server's thread while the main thread compiles as
    well trips a CPython 3.11 bug (SystemError "AST constructor recursion depth mismatch"), which aborted a
    response mid-body now and then. So every anyio module is imported here, once, in the main thread."""
    import importlib
    import pkgutil

    import anyio

    for module in pkgutil.walk_packages(anyio.__path__, "anyio."):
        try:
            importlib.import_module(module.name)
        except ImportError:  # a backend this interpreter lacks (trio)
            continue


_import_anyio_eagerly()


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    return SAMPLES


@pytest.fixture(scope="session")
def object_info() -> dict[str, Any]:
    return json.loads((COMFY_FIXTURES / "object_info.json").read_text())


@pytest.fixture(scope="session")
def comfyui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real ComfyUI 0.3.75 on a free port with a base directory of its own, for the whole session.

    Installed on first use (`comfy-gateway comfyui install`, cached under ~/.cache/comfy-gateway). Set
    `COMFYUI_TEST_URL` to run the integration tests against an already running ComfyUI instead.
    """
    from comfyui_local import LocalComfyUI, install

    if os.environ.get("COMFYUI_TEST_URL"):
        pytest.skip("COMFYUI_TEST_URL given: fixture `comfyui` manages a local process only")
    base = tmp_path_factory.mktemp("comfyui-base")
    with LocalComfyUI(install(), base_dir=base) as comfy:
        yield comfy


@pytest.fixture(scope="session")
def smoke_weights_cache() -> Any:
    """Stub smoke weights in ~/.cache/comfy-gateway/smoke-weights/stub-0 (written once per machine);
    a `comfyui_local.smoke_weights.SmokeWeightsReport`."""
    from comfyui_local import default_root, install
    from comfyui_local.smoke_weights import build_smoke_weights

    cache = default_root().parent / "smoke-weights" / f"{SMOKE_KIND}-{SMOKE_SEED}"
    started = time.monotonic()
    report = build_smoke_weights(cache, inst=install(), kind=SMOKE_KIND, seed=SMOKE_SEED)
    log.info("smoke weights ready in %.1f s (generated: %s)", time.monotonic() - started, report.generated)
    return report


@pytest.fixture()
def hunyuan_smoke_models(comfyui: Any, smoke_weights_cache: Any) -> SmokeModels:
    """The official HunyuanVideo file names in `comfyui.models_dir` made real (stub) smoke weights, copied
    in again before every test that asks (other tests write empty placeholders under the same names).
    The session ComfyUI runs them after whatever ran before: the weights a stub omits are exact zeros there
    (comfyui_local/_comfy_site/sitecustomize.py), never another model's freed memory."""
    from comfyui_local.smoke_weights import ALL_FILES, install_smoke_weights

    cache_dir = smoke_weights_cache.paths[0].parents[1]
    placed = install_smoke_weights(smoke_weights_cache.paths, cache_dir, comfyui.models_dir)
    return SmokeModels(
        models_dir=comfyui.models_dir,
        cache_dir=cache_dir,
        paths={f.role: p for f, p in zip(ALL_FILES, placed, strict=True)},
        report=smoke_weights_cache,
    )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def job_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, empty job database: a SQLite file, and (TEST_DATABASE_URL set) a PostgreSQL database."""
    from tests.db_support import POSTGRES_SKIP, job_database, postgres_admin_url

    if request.param == "postgres" and postgres_admin_url() is None:
        pytest.skip(POSTGRES_SKIP)
    async with job_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture()
async def postgres_url() -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database (skipped without TEST_DATABASE_URL)."""
    from tests.db_support import POSTGRES_SKIP, fresh_postgres_database, postgres_admin_url

    if postgres_admin_url() is None:
        pytest.skip(POSTGRES_SKIP)
    async with fresh_postgres_database() as url:
        yield url


@pytest.fixture()
def redis_url() -> str:
    """The test Redis server's URL (skipped without TEST_REDIS_URL)."""
    from tests.db_support import REDIS_SKIP, redis_test_url

    url = redis_test_url()
    if url is None:
        pytest.skip(REDIS_SKIP)
    return url
