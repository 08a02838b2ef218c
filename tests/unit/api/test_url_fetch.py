"""Input URLs cannot reach the gateway's own network (SSRF): address checks, pinning, redirects, bounds.

No internet: refusals happen before any connection (a transport that fails the test if used), public
addresses are served by httpx.MockTransport, and allow-listed downloads hit a local stdlib HTTP server."""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from api import url_fetch
from api.errors import BadRequest, PayloadTooLarge, UrlNotAllowed
from api.settings import Settings
from api.url_fetch import UrlPolicy, fetch_public, is_public, parse_allow_entry

PUBLIC = "93.184.216.34"
BODY = b"\x89PNG fake image bytes"


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        if path == "/file":
            self._send(200, BODY)
        elif path == "/big":
            self._send(200, b"x" * 4096)
        elif path == "/big-chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for _ in range(8):
                self.wfile.write(b"200\r\n" + b"y" * 512 + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        elif path == "/redirect":
            self._redirect(query.removeprefix("to="))
        elif path == "/loop":
            self._redirect("/loop")
        elif path == "/slow":
            time.sleep(1.0)
            self._send(200, BODY)
        else:
            self._send(404, b"no")

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, to: str) -> None:
        self.send_response(302)
        self.send_header("Location", to)
        self.send_header("Content-Length", "0")
        self.end_headers()


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that gave up (the timeout test) break the pipe on purpose


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = QuietServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def no_network() -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"a refused URL was fetched: {request.url}")

    return httpx.MockTransport(handler)


async def fetch(url: str, policy: UrlPolicy | None = None, **kw: Any) -> tuple[bytes, httpx.URL, str | None]:
    kw.setdefault("max_bytes", 1024)
    kw.setdefault("timeout", 5.0)
    return await fetch_public(url, policy or UrlPolicy(), **kw)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x.png",
        "http://127.8.9.10:8188/view?filename=a.png",
        "http://10.1.2.3/x.png",
        "http://192.168.0.7/x.png",
        "http://172.16.5.5/x.png",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/x.png",
        "http://0.0.0.0:8188/x.png",
        "http://[::1]/x.png",
        "http://[::ffff:127.0.0.1]/x.png",
        "http://[fe80::1]/x.png",
        "http://[fd00::1]/x.png",
        "http://localhost:8188/x.png",
        "https://224.0.0.1/x.png",
    ],
)
async def test_non_public_addresses_are_refused_before_any_connection(url: str) -> None:
    with pytest.raises(UrlNotAllowed, match="non-public address") as info:
        await fetch(url, transport=no_network())
    assert info.value.status_code == 400 and info.value.code == "url_not_allowed"
    assert "INPUTS_URL_ALLOWLIST" in info.value.message


async def test_every_resolved_address_must_be_public(monkeypatch: pytest.MonkeyPatch) -> None:
    async def resolve(host: str, port: int) -> list[Any]:
        return [ipaddress.ip_address(PUBLIC), ipaddress.ip_address("10.0.0.1")]

    monkeypatch.setattr(url_fetch, "resolve", resolve)
    with pytest.raises(UrlNotAllowed, match=r"10\.0\.0\.1"):
        await fetch("http://mixed.example/x.png", transport=no_network())


async def test_public_hosts_are_fetched_from_the_checked_address(monkeypatch: pytest.MonkeyPatch) -> None:
    async def resolve(host: str, port: int) -> list[Any]:
        return [ipaddress.ip_address(PUBLIC)]

    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=BODY, headers={"content-type": "image/png"})

    monkeypatch.setattr(url_fetch, "resolve", resolve)
    content, final, ctype = await fetch(
        "https://files.example:8443/a/b.png?v=1", transport=httpx.MockTransport(handler)
    )
    assert content == BODY and ctype == "image/png" and str(final) == "https://files.example:8443/a/b.png?v=1"
    (request,) = seen
    # Connected to the address that was checked (no second DNS answer), named as the user asked.
    assert request.url.host == PUBLIC and request.url.port == 8443 and request.url.raw_path == b"/a/b.png?v=1"
    assert request.headers["host"] == "files.example:8443"
    assert request.extensions["sni_hostname"] == "files.example"


async def test_a_redirect_to_a_private_address_is_refused() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"location": "http://169.254.169.254/latest/meta-data/"})

    with pytest.raises(UrlNotAllowed, match=r"169\.254\.169\.254"):
        await fetch(f"http://{PUBLIC}/x.png", transport=httpx.MockTransport(handler))


async def test_the_comfyui_backend_is_refused_even_when_public() -> None:
    policy = UrlPolicy.from_allowlist([], blocked_origins=[(PUBLIC, 8188)])
    with pytest.raises(UrlNotAllowed, match="own ComfyUI backend"):
        await fetch(f"http://{PUBLIC}:8188/view?filename=x.png", policy, transport=no_network())
    listed = UrlPolicy.from_allowlist([f"{PUBLIC}/32"], blocked_origins=[(PUBLIC, 8188)])
    ok = httpx.MockTransport(lambda r: httpx.Response(200, content=BODY))
    assert (await fetch(f"http://{PUBLIC}:8188/view", listed, transport=ok))[0] == BODY


async def test_an_allow_listed_local_server_works(server: str) -> None:
    content, _, _ = await fetch(f"{server}/file", UrlPolicy.from_allowlist(["127.0.0.0/8"]))
    assert content == BODY
    by_name = server.replace("127.0.0.1", "localhost")
    content, _, _ = await fetch(f"{by_name}/file", UrlPolicy.from_allowlist(["LOCALHOST."]))
    assert content == BODY


async def test_redirects_are_checked_hop_by_hop(server: str) -> None:
    by_name = server.replace("127.0.0.1", "localhost")
    policy = UrlPolicy.from_allowlist(["localhost"])
    content, final, _ = await fetch(f"{by_name}/redirect?to=/file", policy)
    assert content == BODY and str(final) == f"{by_name}/file"
    # The same server under its IP is not what the operator listed.
    with pytest.raises(UrlNotAllowed, match=r"127\.0\.0\.1"):
        await fetch(f"{by_name}/redirect?to={server}/file", policy)


async def test_redirect_loops_and_odd_targets_are_bounded(server: str) -> None:
    policy = UrlPolicy.from_allowlist(["127.0.0.1"])
    with pytest.raises(BadRequest, match="more than 5 redirects"):
        await fetch(f"{server}/loop", policy)
    with pytest.raises(BadRequest, match="http\\(s\\) URL"):
        await fetch(f"{server}/redirect?to=file:///etc/passwd", policy)


async def test_size_and_time_are_bounded(server: str) -> None:
    policy = UrlPolicy.from_allowlist(["127.0.0.1"])
    with pytest.raises(PayloadTooLarge):
        await fetch(f"{server}/big", policy, max_bytes=1000)
    with pytest.raises(PayloadTooLarge):
        await fetch(f"{server}/big-chunked", policy, max_bytes=1000)
    with pytest.raises(BadRequest, match=r"longer than 0\.2 s"):
        await fetch(f"{server}/slow", policy, timeout=0.2)
    with pytest.raises(BadRequest, match="HTTP 404"):
        await fetch(f"{server}/missing", policy)


async def test_unresolvable_hosts_and_bad_urls_are_400() -> None:
    with pytest.raises(BadRequest, match="cannot resolve"):
        await fetch("http://no-such-host.invalid/x.png", transport=no_network())
    for bad in ("ftp://example.com/x", "http:///x", "not a url"):
        with pytest.raises(BadRequest):
            await fetch(bad, transport=no_network())


def test_allowlist_entries_and_settings() -> None:
    assert parse_allow_entry("10.0.0.0/8") == ipaddress.ip_network("10.0.0.0/8")
    assert parse_allow_entry("[::1]") == ipaddress.ip_network("::1/128")
    assert parse_allow_entry("Files.Internal.") == "files.internal"
    for bad in ("", "http://x", "a/b/c", "host:80"):
        with pytest.raises(ValueError):
            parse_allow_entry(bad)
    assert Settings(inputs_url_allowlist=["10.0.0.0/8", "nas.local"]).inputs_url_allowlist
    with pytest.raises(ValidationError, match="neither a host name"):
        Settings(inputs_url_allowlist=["http://nas.local/"])
    assert Settings().inputs_allow_urls is True and Settings().inputs_url_allowlist == []


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ("10.0.0.0/8, nas.local", ["10.0.0.0/8", "nas.local"]),
        ('["192.168.1.7", "::1"]', ["192.168.1.7", "::1"]),
        ("", []),
    ],
)
def test_the_allowlist_from_the_environment(
    env: str, expected: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INPUTS_URL_ALLOWLIST", env)
    assert Settings().inputs_url_allowlist == expected


def test_public_means_globally_routable() -> None:
    assert is_public(ipaddress.ip_address(PUBLIC))
    assert is_public(ipaddress.ip_address("2606:4700:4700::1111"))
    for ip in ("127.0.0.1", "10.0.0.1", "169.254.1.1", "::1", "::ffff:10.0.0.1", "0.0.0.0", "239.1.1.1"):
        assert not is_public(ipaddress.ip_address(ip)), ip
