"""`comfy-gateway generate "a cat surfing, 3 seconds, 720p" [--submit] [--wait] [--json]`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import typer

from api.settings import Settings


def generate(
    prompt: str = typer.Argument(..., help="What to generate, in plain language"),
    submit: bool = typer.Option(False, "--submit", help="Queue the workflow on ComfyUI (COMFYUI_URL)"),
    wait: bool = typer.Option(
        False, "--wait", help="With --submit: follow the job, repairing execution errors"
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the whole result as JSON"),
    template: str | None = typer.Option(None, help="Use this template instead of choosing one"),
    duration: float | None = typer.Option(None, help="Seconds of video (wins over the text)"),
    resolution: str | None = typer.Option(
        None, help="512x512, 720p, 16:9, vertical ... (wins over the text)"
    ),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the API workflow JSON here"),
) -> None:
    """Turn a request into a validated ComfyUI workflow (planner, or the LLM when OPENAI_* is set)."""
    settings = Settings()
    overrides: dict[str, Any] = {}
    if duration is not None:
        overrides["duration"] = duration
    if resolution is not None:
        overrides["resolution"] = resolution
    from pydantic import ValidationError

    from comfyui_client import ComfyError
    from node_catalog import NodeCatalogError

    try:
        result = asyncio.run(
            _run(settings, prompt, submit=submit, wait=wait, template=template, overrides=overrides)
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        typer.echo(f"error: {first['loc'][0]}: {first['msg']}", err=True)
        raise typer.Exit(2) from exc
    except (ComfyError, NodeCatalogError) as exc:
        typer.echo(f"error: ComfyUI at {settings.comfyui_url}: {exc}", err=True)
        raise typer.Exit(1) from exc
    if output is not None and result.get("workflow"):
        output.write_text(json.dumps(result["workflow"], indent=1))
    if as_json:
        typer.echo(json.dumps(result, indent=1, default=str))
    else:
        for step in result["steps"]:
            typer.echo(f"{step['agent']:>9} [{step['strategy']}] {step['ms']:8.1f} ms  {step['summary']}")
            for fix in step["details"].get("fixes", []):
                typer.echo(f"{'':>12}- {fix}")
        if result.get("prompt_id"):
            typer.echo(f"prompt_id: {result['prompt_id']} ({result['status']})")
        for out in result.get("outputs", []):
            typer.echo(f"output: {out.get('subfolder', '')}/{out.get('filename')}")
    if result.get("error"):
        typer.echo(f"error: {result['error']}", err=True)
        raise typer.Exit(1)


async def _run(
    settings: Settings,
    prompt: str,
    *,
    submit: bool,
    wait: bool,
    template: str | None,
    overrides: dict[str, Any],
) -> dict[str, Any]:
    from comfyui_client import ComfyClient
    from node_catalog import Catalog, CatalogProvider
    from pipeline import GenerationRequest, Generator, TemplateLibrary

    request = GenerationRequest(
        prompt=prompt,
        submit=submit,
        wait=wait and submit,
        overrides=overrides,
        template=template,
        max_repairs=settings.max_repair_attempts,
        timeout=settings.workflow_timeout,
    )
    templates = TemplateLibrary.load(settings.templates_dir)
    if not submit:
        async with Generator(Catalog.bundled(), llm=settings.llm_config(), templates=templates) as generator:
            return (await generator.generate(request)).model_dump(mode="json")
    async with ComfyClient(settings.comfyui_url, timeout=settings.comfyui_timeout) as client:
        # the gateway's provider: the backend's catalog (it must answer), or the snapshot when configured
        catalogs = CatalogProvider(client, live=settings.catalog_source == "live")
        if settings.catalog_source == "live":
            await catalogs.require_live()
        async with Generator(
            catalogs, llm=settings.llm_config(), client=client, templates=templates
        ) as generator:
            return (await generator.generate(request)).model_dump(mode="json")
