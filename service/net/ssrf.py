"""SSRF guard for every URL a user makes us fetch (HTTP inputs, callbacks).

Addresses are checked after DNS resolution, and again for the peer actually connected to, so a name
that resolves to a public address at check time and a private one at connect time (DNS rebinding)
is still refused. Refused unless allow-listed: loopback, private, link-local (which holds the cloud
metadata address 169.254.169.254), multicast, reserved and unspecified addresses.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from service.errors import BlockedAddress, InvalidParameter, UnresolvableHost

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_allow_list(raw: str) -> tuple[Network, ...]:
    """`SNAPSHOTD_SSRF_ALLOW`: comma-separated addresses or CIDRs (e.g. `127.0.0.1/32,10.1.0.0/16`)."""
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in raw.split(",") if part.strip())


def is_allowed(address: str, allow: Iterable[Network] = ()) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip in network for network in allow):
        return True
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified)


def check_address(address: str, allow: Iterable[Network], url: str) -> None:
    if not is_allowed(address, allow):
        raise BlockedAddress(f"{url} resolves to {address}, an address this service does not fetch from.")


def check_url(url: str, allow: Iterable[Network]) -> None:
    """Resolve the URL's host (blocking) and refuse it if any address is not allowed."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidParameter(f"{url} is not an http(s) URL.")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UnresolvableHost(f"The host of {url} cannot be resolved: {exc.strerror}.") from None
    allow = tuple(allow)
    for info in infos:
        check_address(str(info[4][0]), allow, url)


async def check_url_for(field: str, url: str, allow: Iterable[Network], *, unresolvable_ok: bool = False) -> None:
    """`check_url` off the event loop, its refusal naming the request field that carried the URL.

    `unresolvable_ok`: a name that does not resolve now passes (a callback target whose DNS is not up
    yet); its delivery is checked again on every connection."""
    try:
        await asyncio.to_thread(check_url, url, tuple(allow))
    except BlockedAddress as exc:
        raise BlockedAddress(f'The specified parameter "{field}" is not valid. {exc.message}') from None
    except UnresolvableHost:
        if not unresolvable_ok:
            raise
    except InvalidParameter as exc:
        raise InvalidParameter(f'The specified parameter "{field}" is not valid. {exc.message}') from None
