"""`comfy-gateway serve`: the REST API, with a local ComfyUI when no backend is configured."""

from __future__ import annotations

import contextlib
import logging
import os

import typer

from api.settings import Settings

log = logging.getLogger(__name__)


def serve(
    host: str | None = typer.Option(None, help="Interface to bind (default: settings HOST)"),
    port: int | None = typer.Option(None, help="Port to bind (default: settings PORT, 8000)"),
    local_comfyui: bool | None = typer.Option(
        None,
        "--local-comfyui/--no-local-comfyui",
        help="Install and start a local CPU ComfyUI (default: only when COMFYUI_URL is not set)",
    ),
) -> None:
    """Start the gateway."""
    import uvicorn

    from api.app import create_app

    settings = Settings()
    # COMFYUI_URL from the environment or a .env file both count as "configured".
    configured = "comfyui_url" in settings.model_fields_set or "COMFYUI_URL" in os.environ
    use_local = local_comfyui if local_comfyui is not None else not configured
    with contextlib.ExitStack() as stack:
        if use_local:
            from comfyui_client.local import LocalComfyUI, install

            typer.echo(
                "COMFYUI_URL is not set: installing/starting a local CPU ComfyUI (first time takes minutes)"
            )
            comfy = stack.enter_context(LocalComfyUI(install(), port=settings.local_comfyui_port))
            settings = settings.model_copy(update={"comfyui_url": comfy.url})
            typer.echo(f"local ComfyUI ready at {comfy.url} (log: {comfy.log_path})")
        uvicorn.run(
            create_app(settings),
            host=host or settings.host,
            port=port or settings.port,
            log_level=settings.log_level.lower(),
        )
