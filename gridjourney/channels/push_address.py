"""Where the push sender may connect: a push service on the internet, never this machine or a network
of ours.

A push subscription's endpoint is a URL a customer's browser (or anyone with an `events:write` key)
gives us, and the send worker posts to it from inside our network. So the address it connects to is
judged, not the URL's spelling: an address written in the URL is judged as it is; a name is judged by
what it resolves to, in the resolver of the sender's connection pool (`PublicAddressResolver`), so the
address checked is the address connected to and a DNS answer that changes between a check and the
connection (rebinding) cannot move it. Redirects are not followed (channels/push.py): each request
goes to its endpoint's host only. `GRIDJOURNEY_PUSH_LOCAL_ENDPOINTS` lifts the rule for the embedded
stack's stand-in on 127.0.0.1 (and compose's private network).

The API applies the same rule when a browser subscribes (api/routes/push_subscriptions.py), resolving
the name then; a name that does not resolve yet is accepted, the sender's check still holds.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
RESOLVE_SECONDS = 2.0  # the API's check at subscribe time: a slow resolver must not hold the request


class RefusedAddress(OSError):
    """The endpoint's host is, or resolves to, an address no push service has."""


def address_problem(address: Address) -> str | None:
    """Why no push service can be at this address (this machine, a private or special network), or
    None for an address on the internet."""
    if isinstance(address, ipaddress.IPv6Address):
        # An IPv4 address carried in IPv6 (mapped, 6to4, Teredo) is the IPv4 address connected to.
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo or (None, None))[1]
        if embedded is not None:
            return address_problem(embedded)
    if address.is_loopback:
        return f"{address} is this machine (loopback)"
    if address.is_unspecified:
        return f"{address} is this machine (unspecified)"
    if address.is_link_local:
        return f"{address} is link-local (e.g. a cloud's metadata service)"
    if address.is_multicast:
        return f"{address} is multicast"
    if address.is_reserved:
        return f"{address} is reserved, not on the internet"
    if address.is_private:
        return f"{address} is a private network"
    if not address.is_global:  # e.g. carrier-grade NAT (100.64.0.0/10)
        return f"{address} is reserved, not on the internet"
    return None


def literal_address(host: str) -> Address | None:
    """The address a URL's host spells as an IP (brackets already removed by urlsplit), else None."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def is_loopback_name(host: str) -> bool:
    """`localhost` and its subdomains (RFC 6761): this machine, whatever a resolver says."""
    host = host.rstrip(".").lower()
    return host == "localhost" or host.endswith(".localhost")


def send_time_problem(endpoint: str, local_allowed: bool) -> str | None:
    """What the sender can judge before connecting: plain http off the local stand-in, a host written
    as an address that no push service has, `localhost`. Names are judged as they resolve, by
    `PublicAddressResolver`."""
    url = urlsplit(endpoint)
    host = (url.hostname or "").rstrip(".")
    if local_allowed:
        return None
    if url.scheme != "https":
        return "is not an https URL"
    if is_loopback_name(host):
        return f"{host} is this machine"
    address = literal_address(host)
    if address is not None:
        return address_problem(address)
    return None


async def resolved_problem(host: str, port: int, *, seconds: float = RESOLVE_SECONDS) -> str | None:
    """Why `host` is refused as it resolves now (any of its addresses not on the internet), or None:
    also when it does not resolve, or not in time (the sender checks again when it connects)."""
    if literal_address(host) is not None:
        return None  # judged as written (address_problem)
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(seconds):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError):
        return None
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
        if (problem := address_problem(address)) is not None:
            return f"{host} resolves to {problem}"
    return None


class PublicAddressResolver(AbstractResolver):
    """aiohttp's resolver that refuses a name any of whose addresses is not on the internet.

    The connection pool connects to the addresses it returns, so every request of the session (and
    every DNS answer, cached or new) goes through the check. Hosts written as IP addresses never reach
    a resolver in aiohttp: `send_time_problem` judges those before the request."""

    def __init__(self, resolver: AbstractResolver | None = None) -> None:
        self._resolver = resolver or ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._resolver.resolve(host, port, family)
        for result in results:
            address = ipaddress.ip_address(result["host"].split("%")[0])
            if (problem := address_problem(address)) is not None:
                raise RefusedAddress(f"{host.rstrip('.')} resolves to {problem}")
        return results

    async def close(self) -> None:
        await self._resolver.close()
