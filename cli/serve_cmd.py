"""`comfy-gateway serve`: the REST API, with a local ComfyUI when no backend is configured.

The local ComfyUI gets the whole smoke set (every family of `comfyui_local.smoke_families`: random stubs
under the official file names, never real weights) so a fresh checkout's first request of any kind that has
smoke weights (text to image on SD1.5/SDXL/Flux, SD1.5 and SDXL ControlNets, a model upscale, HunyuanVideo,
SD1.5 with the LoRAs the eval sets name) completes with a real, meaningless, image or mp4. A family with a
real file under one of its names is left alone as a whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import typer

from api.settings import Settings

if TYPE_CHECKING:
    from comfyui_local import ComfyInstall

log = logging.getLogger(__name__)


def real_model_files(models_dir: Path, families: Sequence[str] | None = None) -> list[Path]:
    """Files under the smoke set's names (of `families`, default all) that hold something else (real
    weights): never overwritten."""
    from comfyui_local.smoke_families import FAMILIES, family_files
    from comfyui_local.smoke_weights import is_smoke_weights

    paths = (f.path(models_dir) for f in family_files(families if families is not None else list(FAMILIES)))
    return [p for p in paths if p.is_file() and p.stat().st_size > 0 and not is_smoke_weights(p)]


def place_smoke_weights(models_dir: Path, inst: ComfyInstall) -> list[str]:
    """Smoke weights of every family into the local ComfyUI's models folder, except the families with real
    files under their names; returns the families placed."""
    from comfyui_local.smoke_families import FAMILIES, NOT_RUNNABLE, build_families, family_files

    placed: list[str] = []
    real_families = [family for family in FAMILIES if real_model_files(models_dir, [family])]
    # Families share files (Flux's clip_l is HunyuanVideo's): none may write into a family that is real.
    blocked = set(family_files(real_families))
    for family in FAMILIES:
        real = real_model_files(models_dir, [family])
        if real:
            # A family is all or nothing: smoke files beside a real one would make a mixed, broken model.
            typer.echo(
                f"{family}: real model files found ({', '.join(p.name for p in real)}): kept, no smoke"
            )
        elif blocked.intersection(family_files([family])):
            typer.echo(f"{family}: shares files with a family that has real model files: no smoke")
        else:
            placed.append(family)
    if not placed:
        return placed
    typer.echo(f"smoke weights (random stubs, NOT a model) for {', '.join(placed)} in {models_dir}")
    build_families(models_dir, placed, inst=inst)
    place_example_loras(models_dir, inst, placed)
    typer.echo(f"no smoke weights (these requests cannot run locally): {', '.join(NOT_RUNNABLE)}")
    typer.secho(
        "Images and videos made on smoke weights are meaningless noise or flat colour; set COMFYUI_URL to a "
        "GPU ComfyUI with the real weights for real pictures.",
        fg=typer.colors.YELLOW,
    )
    return placed


def place_example_loras(models_dir: Path, inst: ComfyInstall, placed: Sequence[str]) -> list[Path]:
    """The smoke LoRAs under the names the eval sets ask for (`comfyui_local.smoke_loras.EXAMPLE_LORAS`),
    for the default family's model when it got smoke weights; a real LoRA under one of the names is kept."""
    from comfyui_local.smoke_loras import DEFAULT_LORA_FAMILY, build_loras, example_loras
    from comfyui_local.smoke_weights import is_smoke_weights

    if DEFAULT_LORA_FAMILY not in placed:
        return []
    loras = [
        f
        for f in example_loras()
        if not (f.path(models_dir).is_file() and f.path(models_dir).stat().st_size > 0)
        or is_smoke_weights(f.path(models_dir))
    ]
    return build_loras(models_dir, loras, inst=inst).paths if loras else []


def exit_on_sigterm(signum: int, _frame: FrameType | None) -> None:
    """SIGTERM as SystemExit, so the local ComfyUI is stopped on the way out: uvicorn re-raises the signal it
    caught after its own shutdown, and the default action would kill us and orphan ComfyUI."""
    raise SystemExit(128 + signum)


def bind_host(settings: Settings, host: str | None, allow_open_public: bool) -> str:
    """The interface to serve, by the open-gateway rule (`api.auth.bind`); exits 2 when it is refused."""
    from api.auth.bind import OpenPublicBind, choose_bind, keys_exist

    has_keys = asyncio.run(keys_exist(settings))
    try:
        bind = choose_bind(
            host or settings.host,
            has_keys=has_keys,
            allow_open_public=allow_open_public or settings.allow_open_public,
        )
    except OpenPublicBind as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from exc
    if not has_keys:
        typer.secho(
            f"no API key exists: the gateway runs OPEN on {bind} (every caller is admin). "
            "Create one with `comfy-gateway keys create NAME --scope admin`.",
            fg=typer.colors.YELLOW,
        )
    return bind


def serve(
    host: str | None = typer.Option(
        None, help="Interface to bind (default: settings HOST, else 0.0.0.0 with API keys, 127.0.0.1 without)"
    ),
    port: int | None = typer.Option(None, help="Port to bind (default: settings PORT, 8000)"),
    local_comfyui: bool | None = typer.Option(
        None,
        "--local-comfyui/--no-local-comfyui",
        help="Install and start a local CPU ComfyUI (default: only when COMFYUI_URL is not set)",
    ),
    smoke_weights: bool = typer.Option(
        True,
        "--smoke-weights/--no-smoke-weights",
        help="Give the local ComfyUI the smoke weights of every family (random stubs, not a model) so "
        "image and video requests run end to end; real files already under those names are kept",
    ),
    allow_open_public: bool = typer.Option(
        False, "--allow-open-public", help="Serve a public interface although no API key exists (all admin)"
    ),
) -> None:
    """Start the gateway."""
    import uvicorn

    from api.app import create_app
    from api.logs import configure_logging

    settings = Settings()
    configure_logging(settings)  # one formatter (LOG_FORMAT) for the gateway's and uvicorn's lines
    bind = bind_host(settings, host, allow_open_public)
    # COMFYUI_URL (or a fleet, COMFYUI_URLS) from the environment or a .env file both count as "configured".
    configured = (
        "comfyui_url" in settings.model_fields_set
        or "COMFYUI_URL" in os.environ
        or bool(settings.comfyui_urls)
    )
    use_local = local_comfyui if local_comfyui is not None else not configured
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    with contextlib.ExitStack() as stack:
        if use_local:
            from comfyui_local import LocalComfyUI, SmokeWeightsError, install

            typer.echo(
                "COMFYUI_URL is not set: installing/starting a local CPU ComfyUI (first time takes minutes)"
            )
            inst = install()
            comfy = LocalComfyUI(inst, port=settings.local_comfyui_port)
            if smoke_weights:
                try:
                    place_smoke_weights(comfy.models_dir, inst)
                except SmokeWeightsError as exc:
                    # The gateway still serves everything else; only jobs needing model files would fail.
                    typer.secho(f"no smoke weights: {exc}", fg=typer.colors.RED, err=True)
            stack.enter_context(comfy)
            settings = settings.model_copy(update={"comfyui_url": comfy.url})
            typer.echo(f"local ComfyUI ready at {comfy.url} (log: {comfy.log_path})")
        uvicorn.run(
            create_app(settings),
            host=bind,
            port=port or settings.port,
            log_level=settings.log_level.lower(),
            log_config=None,
        )
