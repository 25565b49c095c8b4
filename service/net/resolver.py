"""aiohttp resolver enforcing the SSRF guard on every connection an HTTP client makes."""

from __future__ import annotations

import socket
from collections.abc import Iterable
from typing import Any

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from service.net.ssrf import Network, check_address


class GuardedResolver(AbstractResolver):
    """aiohttp resolver that refuses disallowed addresses: every connection, redirects included."""

    def __init__(self, allow: Iterable[Network]) -> None:
        self.allow = tuple(allow)
        self.inner = DefaultResolver()

    async def resolve(self, host: str, port: int = 0, family: Any = socket.AF_INET) -> list[ResolveResult]:
        results = await self.inner.resolve(host, port, family)
        for result in results:
            check_address(result["host"], self.allow, host)
        return results

    async def close(self) -> None:
        await self.inner.close()
