"""`comfy-gateway keys`: create, list and revoke API keys in the job database (DATABASE_URL).

A new key is shown once, alone on the last line of `keys create`'s output (scripts take `tail -n1`); the
database keeps only its sha256. A running gateway sees new and revoked keys within KEYS_REFRESH_SECONDS
(1 s by default: it keeps the keys in memory and checks the database for changes at most that often).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

import typer

from api.auth.keys import SCOPES, check_name, check_scopes, generate_key, hash_key, key_prefix
from api.jobs.store import JobStore
from api.settings import Settings

app = typer.Typer(no_args_is_help=True, help="API keys: once any exists, every route needs one.")
T = TypeVar("T")


def _with_store(action: Callable[[JobStore], Awaitable[T]]) -> T:
    async def run() -> T:
        store = JobStore(Settings().database_url)
        await store.open()
        try:
            return await action(store)
        finally:
            await store.close()

    return asyncio.run(run())


def _fail(message: str) -> typer.Exit:
    typer.secho(message, fg=typer.colors.RED, err=True)
    return typer.Exit(2)


@app.command("create")
def create(
    name: str = typer.Argument(..., help="A name for the key's holder (owns the jobs it creates)"),
    scope: list[str] = typer.Option(
        ["read", "submit"], "--scope", "-s", help=f"Repeat for several: {', '.join(SCOPES)}"
    ),
) -> None:
    """Create a key; it is printed once, alone on the last line."""
    try:
        check_name(name)
        scopes = check_scopes(scope)
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    key = generate_key()
    try:
        _with_store(lambda store: store.add_key(name, hash_key(key), key_prefix(key), scopes))
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    typer.echo(f"created key {name!r} with scopes {', '.join(scopes)}; it is shown only now:")
    typer.echo(key)


@app.command("list")
def list_keys() -> None:
    """Every key: name, scopes, shown prefix, created, revoked."""
    keys = _with_store(lambda store: store.keys())
    if not keys:
        typer.echo("no API keys: the gateway runs open (unless API_KEYS is set)")
        return
    for k in keys:
        state = f"revoked {_when(k['revoked_at'])}" if k["revoked_at"] else "active"
        scopes = ",".join(k["scopes"])
        typer.echo(f"{k['name']}\t{scopes}\t{k['prefix']}...\tcreated {_when(k['created_at'])}\t{state}")


@app.command("revoke")
def revoke(name: str = typer.Argument(..., help="The key's name")) -> None:
    """Revoke a key at once (its jobs stay; the name is not reused)."""
    if not _with_store(lambda store: store.revoke_key(name)):
        raise _fail(f"no active key named {name!r} (`comfy-gateway keys list` shows them)")
    typer.echo(f"revoked key {name!r}; running gateways refuse it within KEYS_REFRESH_SECONDS")


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M:%SZ")
