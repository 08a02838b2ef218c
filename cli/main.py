"""`comfy-gateway` console script: one typer app, one sub-module per area."""

from __future__ import annotations

import logging

import typer

from cli import comfyui_cmd, db_cmd, eval_cmd, generate_cmd, keys_cmd, serve_cmd

app = typer.Typer(no_args_is_help=True, help="A REST API and workflow generator in front of ComfyUI.")
app.add_typer(comfyui_cmd.app, name="comfyui")
app.add_typer(eval_cmd.app, name="eval")
app.add_typer(keys_cmd.app, name="keys")
app.add_typer(db_cmd.app, name="db")
app.command("serve")(serve_cmd.serve)
app.command("generate")(generate_cmd.generate)


@app.callback()
def main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log at DEBUG level")) -> None:
    """comfy-gateway command line."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )


if __name__ == "__main__":
    app()
