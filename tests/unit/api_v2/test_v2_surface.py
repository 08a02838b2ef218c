"""The Comfy API v2 surface driven by the official `comfy-sdk` client (sync and async) and by plain HTTP, with
ComfyUI unreachable: assets end to end (upload, blake3 dedup, from-hash, by-hash, Range, delete), the error
envelope and codes, ownership per key, and the user's spec routes keeping their own error bodies."""

from __future__ import annotations

import asyncio
from typing import Any

import comfy_sdk
import httpx
import pytest
from blake3 import blake3

from api.v2.errors import envelope
from tests.unit.api_v2.conftest import KEYS

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
BAD_GRAPH = {"1": {"class_type": "SaveImage", "inputs": {"filename_prefix": "x"}}}  # `images` missing
UNKNOWN_NODE = {"1": {"class_type": "NoSuchNodeAnywhere", "inputs": {}}}
UI_EXPORT = {"nodes": [], "links": [], "last_node_id": 0, "last_link_id": 0, "version": 0.4}


def digest(data: bytes) -> str:
    return "blake3:" + blake3(data).hexdigest()


def upload(base: str, data: bytes, name: str, key: str | None = None, **fields: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    form = {"content_type": "image/png", "file_path": name, **fields}
    return httpx.post(
        f"{base}/api/v2/assets", files={"file": (name, data, "image/png")}, data=form, headers=headers
    )


def test_upload_dedups_by_blake3_and_serves_ranges(open_gateway: str) -> None:
    data = PNG + b"range-test"
    first = upload(open_gateway, data, "photo.png")
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["hash"] == digest(data) and body["size_bytes"] == len(data) and body["created_new"] is True
    assert body["url"] == f"{open_gateway}/api/v2/assets/{body['id']}/content"
    again = upload(open_gateway, data, "other-name.png")
    assert again.status_code == 200 and again.json()["created_new"] is False
    assert again.json()["id"] != body["id"]  # a new record over the same blob

    content = httpx.get(body["url"])
    assert content.status_code == 200 and content.content == data
    part = httpx.get(body["url"], headers={"Range": "bytes=2-6"})
    assert part.status_code == 206 and part.content == data[2:7]
    assert httpx.get(body["url"], headers={"Range": "bytes=999999-"}).status_code == 416
    ignored = httpx.get(body["url"], headers={"Range": "pages=1"})
    assert ignored.status_code == 200 and ignored.content == data  # an unusable Range is ignored, not a 400

    assert httpx.head(f"{open_gateway}/api/v2/assets/by-hash/{digest(data)}").status_code == 200
    assert httpx.head(f"{open_gateway}/api/v2/assets/by-hash/{digest(b'never')}").status_code == 404
    assert httpx.head(f"{open_gateway}/api/v2/assets/by-hash/not-a-hash").status_code == 404


def test_expected_hash_is_verified_and_a_mismatch_mints_nothing(open_gateway: str) -> None:
    data = PNG + b"mismatch"
    resp = upload(open_gateway, data, "m.png", expected_hash=digest(b"something else"))
    assert resp.status_code == 409
    assert resp.json()["error"]["code"] == "hash_mismatch"
    assert httpx.head(f"{open_gateway}/api/v2/assets/by-hash/{digest(data)}").status_code == 404
    ok = upload(open_gateway, data, "m.png", expected_hash=digest(data))
    assert ok.status_code == 201


def test_the_sync_sdk_uploads_dedups_and_deletes(open_gateway: str, sdk_env: Any) -> None:
    sdk_env(open_gateway)
    data = PNG + b"sdk-sync"
    with comfy_sdk.Comfy() as client:
        asset = client.assets.from_bytes(data, filename="sdk.png")
        asset_id = asset.commit()
        assert asset.created_new is True and asset.hash == digest(data)
        # The same bytes under the same name: the SDK's HEAD by-hash + from-hash path finds the same record.
        again = client.assets.from_bytes(data, filename="sdk.png")
        assert again.commit() == asset_id and again.created_new is False
        elsewhere = client.assets.from_bytes(data, filename="copy.png")
        assert elsewhere.commit() != asset_id
        fetched = client.assets.get(asset_id)
        assert fetched.file_path == "sdk.png"
        assert asset.get_download_url().url.endswith(f"/api/v2/assets/{asset_id}/content")

        client.assets.delete(asset_id)
        with pytest.raises(comfy_sdk.NotFound):
            client.assets.delete(asset_id)
        with pytest.raises(comfy_sdk.NotFound):
            client.assets.get(asset_id)
        # Another record still points at the blob: its bytes stay.
        assert httpx.get(f"{open_gateway}/api/v2/assets/{elsewhere.id}/content").content == data
        client.assets.delete(elsewhere.id or "")
        assert httpx.head(f"{open_gateway}/api/v2/assets/by-hash/{digest(data)}").status_code == 404


def test_from_hash_needs_bytes_the_gateway_has(open_gateway: str) -> None:
    resp = httpx.post(f"{open_gateway}/api/v2/assets/from-hash", json={"hash": digest(b"unknown bytes")})
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "blob_not_found"


def test_the_sdk_sees_the_contract_error_codes(open_gateway: str, sdk_env: Any) -> None:
    sdk_env(open_gateway)
    with comfy_sdk.Comfy() as client:
        with pytest.raises(comfy_sdk.InvalidWorkflow) as invalid:
            client.submit(client.workflows.from_json(BAD_GRAPH))
        assert invalid.value.http_status == 422 and invalid.value.code == "invalid_workflow"
        node = invalid.value.details["node_errors"]["1"]  # the catalog's verdict, per node
        assert node == [
            {
                "field": "images",
                "reason": "required_input_missing",
                "message": "Required input is missing",
                "details": "images",
                "class_type": "SaveImage",
            }
        ]
        with pytest.raises(comfy_sdk.InvalidWorkflow) as unknown:
            client.submit(client.workflows.from_json(UNKNOWN_NODE))
        assert "NoSuchNodeAnywhere" in unknown.value.message
        assert unknown.value.details["error"]["type"] == "invalid_prompt"

        asset_ref = {"__type": "core/ASSET", "info": {"id": "00000000-0000-0000-0000-000000000000"}}
        graph = {"1": {"class_type": "LoadImage", "inputs": {"image": asset_ref}}}
        with pytest.raises(comfy_sdk.MissingAsset):
            client.submit(client.workflows.from_json(graph))
        with pytest.raises(comfy_sdk.NotFound):
            client.jobs.get("no-such-job")
        with pytest.raises(comfy_sdk.ComfyError) as listing:
            list(client.list_jobs())
        assert listing.value.code == "method_not_allowed" and "2.0.0" in listing.value.message


def test_contract_refusals_over_plain_http(open_gateway: str) -> None:
    jobs = f"{open_gateway}/api/v2/jobs"
    ui = httpx.post(jobs, json={"workflow": UI_EXPORT})
    assert ui.status_code == 422 and ui.json()["error"]["code"] == "workflow_format_ui"
    reserved = httpx.post(jobs, json={"workflow": BAD_GRAPH, "webhook_url": "https://example.com"})
    assert reserved.status_code == 422 and reserved.json()["error"]["code"] == "invalid_request"
    closed = httpx.post(jobs, json={"workflow": BAD_GRAPH, "extra_data": {"client_id": "x"}})
    assert closed.status_code == 422 and closed.json()["error"]["code"] == "invalid_request"
    malformed = httpx.post(jobs, content=b"{not json", headers={"content-type": "application/json"})
    assert malformed.status_code == 422 and set(malformed.json()) == {"error"}
    missing = httpx.get(f"{jobs}/nope/workflow")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert httpx.get(f"{open_gateway}/api/v2/nothing-here").json()["error"]["code"] == "not_found"
    # The user's spec routes keep their own error bodies.
    spec = httpx.get(f"{open_gateway}/api/workflow/status/nope")
    assert spec.status_code == 404 and spec.json()["code"] == "job_not_found"


def test_the_async_sdk_uploads_and_reads_errors(open_gateway: str, sdk_env: Any) -> None:
    sdk_env(open_gateway)

    async def scenario() -> None:
        async with comfy_sdk.AsyncComfy() as client:
            asset = client.assets.from_bytes(PNG + b"async", filename="async.png")
            asset_id = await asset.commit()
            assert (await client.assets.get(asset_id)).id == asset_id
            with pytest.raises(comfy_sdk.InvalidWorkflow):
                await client.submit(client.workflows.from_json(BAD_GRAPH))
            await client.assets.delete(asset_id)

    asyncio.run(scenario())


def test_bearer_keys_and_ownership(keyed_gateway: str, sdk_env: Any) -> None:
    sdk_env(keyed_gateway)
    anonymous = httpx.get(f"{keyed_gateway}/api/v2/jobs/x")
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "unauthorized"
    with comfy_sdk.Comfy(api_key="wrong") as stranger, pytest.raises(comfy_sdk.Unauthorized):
        stranger.assets.get("x")
    data = PNG + b"alice's"
    with comfy_sdk.Comfy(api_key=KEYS["alice"]) as alice, comfy_sdk.Comfy(api_key=KEYS["bob"]) as bob:
        mine = alice.assets.from_bytes(data, filename="a.png")
        asset_id = mine.commit()
        with pytest.raises(comfy_sdk.NotFound):
            bob.assets.get(asset_id)  # another key's asset is a 404, never a 403
        bob_key = {"Authorization": f"Bearer {KEYS['bob']}"}
        # Bob may not mint from Alice's bytes: the hash alone is no authority.
        assert (
            httpx.head(f"{keyed_gateway}/api/v2/assets/by-hash/{digest(data)}", headers=bob_key).status_code
            == 404
        )
        theirs = bob.assets.from_bytes(data, filename="a.png")
        assert theirs.commit() != asset_id and theirs.created_new is False  # same blob, his own record
        ref = {"__type": "core/ASSET", "info": {"id": asset_id}}
        with pytest.raises(comfy_sdk.MissingAsset):
            bob.submit(bob.workflows.from_json({"1": {"class_type": "LoadImage", "inputs": {"image": ref}}}))


def test_envelope_maps_gateway_errors_to_contract_codes() -> None:
    status, body = envelope(404, {"detail": "job x not found", "code": "job_not_found"})
    assert (status, body["error"]["code"]) == (404, "not_found")
    status, body = envelope(422, {"detail": "reused", "code": "idempotency_key_reused"})
    assert (status, body["error"]["code"]) == (422, "idempotency_key_reuse")
    status, body = envelope(503, {"detail": "busy", "code": "gateway_busy", "retry_after": 10})
    assert (status, body["error"]["code"]) == (429, "queue_full")
    status, body = envelope(
        503, {"detail": "ComfyUI is unreachable: http://user:pw@x", "code": "backend_unavailable"}
    )
    assert status == 500 and body["error"]["code"] == "upstream_error" and "pw" not in str(body)
    node_errors = {
        "3": {
            "errors": [
                {
                    "type": "required_input_missing",
                    "message": "Required input is missing",
                    "details": "model",
                    "extra_info": {"input_name": "model"},
                }
            ],
            "class_type": "KSampler",
        }
    }
    status, body = envelope(400, {"detail": "bad", "code": "invalid_workflow", "node_errors": node_errors})
    assert status == 422 and body["error"]["code"] == "invalid_workflow"
    assert body["error"]["details"]["node_errors"]["3"][0]["field"] == "model"
    assert body["error"]["details"]["node_errors"]["3"][0]["reason"] == "required_input_missing"
