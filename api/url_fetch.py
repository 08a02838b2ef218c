"""Downloading a user-given URL without letting it reach the gateway's own network (SSRF).

`POST /api/inputs` with a `url` makes the gateway fetch it, so a user could point it at loopback, the private
network, a cloud metadata endpoint (169.254.169.254) or ComfyUI itself. `fetch_public` therefore:

* resolves the host and refuses it unless EVERY resolved address is public (`ipaddress`'s `is_global`, after
  unwrapping IPv4-mapped IPv6), or the host / address is in the operator's allowlist (host names or CIDRs);
* connects to the address it checked (the URL is rewritten to the IP with the original `Host` header and TLS
  server name), so a second DNS answer cannot swap in a private address (DNS rebinding);
* follows redirects itself, checking every hop the same way, at most `max_redirects` of them;
* ignores proxy environment variables (a proxy would make the address check meaningless);
* bounds the size (`PayloadTooLarge`) and the total time of the whole download.

Every refusal is a `UrlNotAllowed` (400) naming the host and why; download failures are `BadRequest` (400).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urljoin

import httpx

from api.errors import BadRequest, PayloadTooLarge, UrlNotAllowed

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_REDIRECTS = 5
REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})


def parse_allow_entry(entry: str) -> str | IPNetwork:
    """A host name (lower-cased, no trailing dot) or a network ("10.0.0.0/8", "::1", "192.168.1.7")."""
    text = entry.strip()
    if not text:
        raise ValueError("empty allowlist entry")
    try:
        return ipaddress.ip_network(text.strip("[]"), strict=False)
    except ValueError:
        pass
    host = text.lower().rstrip(".")
    if not host or any(c in host for c in "/:@ ?#"):
        raise ValueError(f"{entry!r} is neither a host name nor an IP address/CIDR")
    return host


def _unmapped(ip: IPAddress) -> IPAddress:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def is_public(ip: IPAddress) -> bool:
    """A globally routable unicast address (not loopback, private, link-local, CGNAT, reserved, ...)."""
    ip = _unmapped(ip)
    return ip.is_global and not ip.is_multicast


@dataclass(frozen=True)
class UrlPolicy:
    """Which hosts a user-given URL may reach: public addresses, plus the allowlist's hosts and networks.

    `blocked_origins` are (host, port) pairs refused unless allow-listed even when public (ComfyUI itself)."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()
    blocked_origins: frozenset[tuple[str, int]] = frozenset()

    @classmethod
    def from_allowlist(
        cls, entries: Iterable[str], *, blocked_origins: Iterable[tuple[str, int]] = ()
    ) -> UrlPolicy:
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for entry in entries:
            parsed = parse_allow_entry(entry)
            if isinstance(parsed, str):
                hosts.add(parsed)
            else:
                networks.append(parsed)
        blocked = frozenset((h.lower().rstrip("."), p) for h, p in blocked_origins)
        return cls(hosts=frozenset(hosts), networks=tuple(networks), blocked_origins=blocked)

    def _listed_ip(self, ip: IPAddress) -> bool:
        candidates = {ip, _unmapped(ip)}
        return any(c in net for c in candidates for net in self.networks if c.version == net.version)

    async def _is_blocked_origin(self, name: str, port: int, addresses: Sequence[IPAddress]) -> bool:
        """Whether (name, port) is a blocked origin, by name or by any shared address."""
        wanted = {_unmapped(ip) for ip in addresses}
        for host, blocked_port in self.blocked_origins:
            if blocked_port != port:
                continue
            if host == name:
                return True
            try:
                blocked_ips = await resolve(host, port)
            except BadRequest:
                continue  # the backend's name does not resolve here: nothing to compare
            if wanted & {_unmapped(ip) for ip in blocked_ips}:
                return True
        return False

    async def check(self, host: str, port: int, addresses: Sequence[IPAddress]) -> None:
        """Raise UrlNotAllowed unless `host` (resolved to `addresses`) may be fetched."""
        name = host.lower().rstrip(".")
        if name in self.hosts:
            return
        if not addresses:
            raise UrlNotAllowed(f"cannot download from {host!r}: it resolves to no address")
        if all(self._listed_ip(ip) for ip in addresses):
            return
        if await self._is_blocked_origin(name, port, addresses):
            raise UrlNotAllowed(
                f"cannot download from {host}:{port}: that is the gateway's own ComfyUI backend "
                "(add it to INPUTS_URL_ALLOWLIST to permit it)"
            )
        bad = [ip for ip in addresses if not is_public(ip) and not self._listed_ip(ip)]
        if bad:
            raise UrlNotAllowed(
                f"cannot download from {host!r}: it resolves to the non-public address {bad[0]} "
                "(loopback, private, link-local and reserved ranges are refused; an operator can permit "
                "hosts or networks with INPUTS_URL_ALLOWLIST)"
            )


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to (an IP literal resolves to itself)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise BadRequest(f"cannot resolve the host {host!r} of the URL: {exc}") from exc
    seen: dict[IPAddress, None] = {}
    for *_, sockaddr in infos:
        seen[ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])] = None
    return list(seen)


def _pinned(url: httpx.URL, ip: IPAddress) -> tuple[httpx.URL, dict[str, str], dict[str, str]]:
    """`url` aimed at `ip`, with the original Host header and TLS server name (certificates still checked)."""
    extensions = {"sni_hostname": url.host} if url.scheme == "https" else {}
    return url.copy_with(host=str(ip)), {"Host": url.netloc.decode("ascii")}, extensions


def _parse(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError) as exc:
        raise BadRequest(f"`url` is not a valid URL: {exc}") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise BadRequest(f"`url` must be an http(s) URL with a host, got {url!r}")
    return parsed


async def fetch_public(
    url: str,
    policy: UrlPolicy,
    *,
    max_bytes: int,
    timeout: float,  # noqa: ASYNC109 (one bound for every hop, not per request)
    max_redirects: int = MAX_REDIRECTS,
    transport: httpx.AsyncBaseTransport | None = None,
) -> tuple[bytes, httpx.URL, str | None]:
    """Download `url` under `policy`: (content, final URL, content type). See the module docstring."""
    current = _parse(url)
    try:
        async with (
            asyncio.timeout(timeout),
            httpx.AsyncClient(
                timeout=timeout, follow_redirects=False, trust_env=False, transport=transport
            ) as http,
        ):
            for _hop in range(max_redirects + 1):
                port = current.port or (443 if current.scheme == "https" else 80)
                addresses = await resolve(current.host, port)
                await policy.check(current.host, port, addresses)
                target, headers, extensions = _pinned(current, addresses[0])
                request = http.build_request("GET", target, headers=headers, extensions=extensions)
                response = await http.send(request, stream=True)
                try:
                    location = response.headers.get("location")
                    if response.status_code in REDIRECT_CODES and location:
                        current = _parse(urljoin(str(current), location))
                        continue
                    if response.status_code != 200:
                        raise BadRequest(f"downloading {url} gave HTTP {response.status_code}")
                    declared = response.headers.get("content-length", "")
                    if declared.isdigit() and int(declared) > max_bytes:
                        raise PayloadTooLarge(f"the file at {url} is larger than {max_bytes} bytes")
                    chunks: list[bytes] = []
                    size = 0
                    async for chunk in response.aiter_bytes():
                        size += len(chunk)
                        if size > max_bytes:
                            raise PayloadTooLarge(f"the file at {url} is larger than {max_bytes} bytes")
                        chunks.append(chunk)
                    return b"".join(chunks), current, response.headers.get("content-type")
                finally:
                    await response.aclose()
            raise BadRequest(f"downloading {url} needed more than {max_redirects} redirects")
    except TimeoutError as exc:
        raise BadRequest(f"downloading {url} took longer than {timeout:g} s") from exc
    except httpx.HTTPError as exc:
        raise BadRequest(f"could not download {url}: {exc}") from exc
