"""Access pieces without a backend: key parsing and hashing, the bind rule, redaction, the key table and the
owner column migration, and the `comfy-gateway keys` / `serve` command lines."""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.auth import OPEN, KeyRing, Principal, generate_key, hash_key, parse_env_keys, visible
from api.auth.bind import OpenPublicBind, choose_bind, is_loopback
from api.errors import Unauthorized
from api.jobs.state import Job
from api.jobs.store import JobStore
from api.redaction import install_log_redaction, redact, register_secrets
from cli.main import app as cli


def test_keys_are_random_and_hashed() -> None:
    a, b = generate_key(), generate_key()
    assert a != b and a.startswith("cgw_") and len(a) > 40
    assert hash_key(a) == hash_key(a) and len(hash_key(a)) == 64 and a not in hash_key(a)


def test_env_keys_parse_or_fail_loudly() -> None:
    hashes = parse_env_keys(" ops:0123456789abcdef , ci:fedcba9876543210,")
    assert sorted(hashes.values()) == ["ci", "ops"] and hash_key("0123456789abcdef") in hashes
    for bad in ("nokey", "ops:", "ops:short", "bad name!:0123456789abcdef", "anonymous:0123456789abcdef"):
        with pytest.raises(ValueError):
            parse_env_keys(bad)


async def test_keyring_open_env_and_stored_keys(job_db_url: str) -> None:
    assert await KeyRing().principal(None) is OPEN
    store = JobStore(job_db_url)
    await store.open()
    try:
        ring = KeyRing(parse_env_keys("ops:0123456789abcdef"))
        ring.attach(store)
        with pytest.raises(Unauthorized):
            await ring.principal(None)
        ops = await ring.principal("0123456789abcdef")
        assert ops.name == "ops" and ops.is_admin and ops.owner == "ops"
        key = generate_key()
        await store.add_key("alice", hash_key(key), key[:10], ["read"])
        alice = await ring.principal(key)
        assert alice == Principal("alice", frozenset({"read"}), False) and not alice.has("submit")
        with pytest.raises(ValueError, match="exists"):
            await store.add_key("alice", hash_key(generate_key()), "x", ["read"])
        assert await store.revoke_key("alice") and not await store.revoke_key("alice")
        with pytest.raises(Unauthorized, match="revoked"):
            await ring.principal(key)
        assert visible(ops, "alice") and not visible(alice, "bob") and not visible(alice, None)
    finally:
        await store.close()


def test_open_gateway_binds_loopback_and_refuses_public() -> None:
    assert choose_bind(None, has_keys=False, allow_open_public=False) == "127.0.0.1"
    assert choose_bind(None, has_keys=True, allow_open_public=False) == "0.0.0.0"
    assert choose_bind("::1", has_keys=False, allow_open_public=False) == "::1"
    for public in ("0.0.0.0", "::", "192.168.1.5", "gateway.example.com"):
        with pytest.raises(OpenPublicBind, match="no API key"):
            choose_bind(public, has_keys=False, allow_open_public=False)
        assert choose_bind(public, has_keys=False, allow_open_public=True) == public
        assert choose_bind(public, has_keys=True, allow_open_public=False) == public
    assert is_loopback("localhost") and is_loopback("127.0.0.2") and not is_loopback("10.0.0.1")


def test_redaction_of_urls_and_secrets(caplog: pytest.LogCaptureFixture) -> None:
    register_secrets(["sk-unit-SECRET-value", None, "short"])
    assert redact("GET http://u:p4ss@h:8188/x failed") == "GET http://***@h:8188/x failed"
    assert redact("key sk-unit-SECRET-value here") == "key *** here"
    assert redact("short stays") == "short stays"  # too common a string to mask
    assert redact("x://" + "a" * 100_000) == "x://" + "a" * 100_000  # linear, no match
    install_log_redaction()
    with caplog.at_level(logging.INFO):
        logging.getLogger("tests.redact").info("to %s with %s", "https://a:b@h/", "sk-unit-SECRET-value")
    assert "sk-unit-SECRET-value" not in caplog.text and "a:b@" not in caplog.text


async def test_owner_column_added_to_an_old_database(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as conn:  # the jobs table as an older gateway wrote it
        conn.execute(
            "CREATE TABLE jobs (prompt_id VARCHAR(64) PRIMARY KEY, source VARCHAR(32), "
            "status VARCHAR(16), client_id VARCHAR(64), number FLOAT, request JSON, workflow JSON, "
            "extra_data JSON, progress FLOAT, current_node JSON, outputs JSON, error JSON, "
            "created_at FLOAT, started_at FLOAT, finished_at FLOAT)"
        )
        outputs = json.dumps([{"node_id": "9", "filename": "a.png", "subfolder": "", "type": "output"}])
        conn.execute(
            "INSERT INTO jobs (prompt_id, source, status, workflow, progress, outputs, created_at) "
            "VALUES ('old', 'workflow', 'completed', '{}', 100, ?, 1.0)",
            (outputs,),
        )
    store = JobStore(f"sqlite+aiosqlite:///{db}")
    await store.open()
    try:
        old = await store.get("old")
        assert old is not None and old.owner is None
        assert await store.output_owners("output", "", "a.png") == [None]  # admin-only from now on
        await store.insert(Job(prompt_id="new", workflow={}, owner="alice"))
        new = await store.get("new")
        assert new is not None and new.owner == "alice"
    finally:
        await store.close()


def test_keys_cli_create_list_revoke(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    runner = CliRunner()
    made = runner.invoke(cli, ["keys", "create", "ci-bot", "--scope", "read", "--scope", "submit"])
    assert made.exit_code == 0, made.output
    key = made.output.strip().splitlines()[-1]
    assert key.startswith("cgw_") and " " not in key
    listed = runner.invoke(cli, ["keys", "list"])
    assert "ci-bot\tread,submit" in listed.output and key not in listed.output
    assert runner.invoke(cli, ["keys", "create", "x", "--scope", "root"]).exit_code == 2
    assert runner.invoke(cli, ["keys", "create", "ci-bot"]).exit_code == 2
    assert runner.invoke(cli, ["keys", "revoke", "ci-bot"]).exit_code == 0
    assert "revoked" in runner.invoke(cli, ["keys", "list"]).output
    assert runner.invoke(cli, ["keys", "revoke", "nobody"]).exit_code == 2


def test_serve_refuses_a_public_open_bind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}")
    monkeypatch.delenv("API_KEYS", raising=False)
    result = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0", "--no-local-comfyui"])
    assert result.exit_code == 2 and "no API key" in result.output


async def test_trusted_hosts_and_cors_come_from_settings() -> None:
    import httpx

    from api.app import create_app
    from api.settings import Settings

    app = create_app(
        Settings(trusted_hosts="gw.example, localhost", cors_origins=["https://ui.example"], api_keys=None)
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw.example") as http:
        assert (await http.get("/health/live")).status_code == 200
        assert (await http.get("/health/live", headers={"Host": "evil.example"})).status_code == 400
        preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-api-key"}
        ok = await http.options("/api/workflow/submit", headers={"Origin": "https://ui.example", **preflight})
        assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "https://ui.example"
        other = await http.options(
            "/api/workflow/submit", headers={"Origin": "https://evil.example", **preflight}
        )
        assert "access-control-allow-origin" not in other.headers
    default = Settings()
    assert default.cors_origins == [] and default.trusted_hosts == [] and default.host is None
