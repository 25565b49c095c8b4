"""A TCP proxy on loopback that can cut and restore the way to a real server (PostgreSQL, RabbitMQ).

Cutting closes every open connection and makes new ones fail the way a dependency that is away
does: `reset` accepts and closes at once (a proxy or load balancer whose upstream is gone),
`hang` accepts and never answers (a black-holed route). `restore` forwards again. With
`limit_bytes`, each connection is closed once that many bytes came from the upstream: a cut in the
middle of a protocol handshake.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

Cut = Literal["reset", "hang"]


class TcpProxy:
    def __init__(self, upstream_host: str, upstream_port: int, *, limit_bytes: int | None = None) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.limit_bytes = limit_bytes
        self.cut_mode: Cut | None = None
        self.port = 0
        self.accepted = 0
        #: bytes passed from the upstream to clients, over all connections
        self.bytes_down = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @classmethod
    def for_url(cls, url: str, **options: int | None) -> TcpProxy:
        parts = urlsplit(url)
        return cls(parts.hostname or "127.0.0.1", parts.port or 0, **options)

    def url(self, upstream_url: str) -> str:
        """`upstream_url` with its host and port replaced by the proxy's."""
        parts = urlsplit(upstream_url)
        credentials = parts.netloc.rpartition("@")[0]
        netloc = f"{credentials}@127.0.0.1:{self.port}" if credentials else f"127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def aclose(self) -> None:
        self._close_all()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def cut(self, mode: Cut = "reset") -> None:
        self.cut_mode = mode
        self._close_all()

    def restore(self) -> None:
        self.cut_mode = None

    def _close_all(self) -> None:
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self._writers.add(writer)
        try:
            if self.cut_mode == "reset":
                return
            if self.cut_mode == "hang":
                await reader.read()  # until the client gives up, or a cut/restore closes it
                return
            try:
                upstream_reader, upstream_writer = await asyncio.open_connection(*self.upstream)
            except OSError:
                return
            self._writers.add(upstream_writer)
            await asyncio.gather(
                self._pipe(reader, upstream_writer, None, down=False),
                self._pipe(upstream_reader, writer, self.limit_bytes, down=True),
                return_exceptions=True,
            )
            upstream_writer.close()
            self._writers.discard(upstream_writer)
        finally:
            writer.close()
            self._writers.discard(writer)

    async def _pipe(
        self, source: asyncio.StreamReader, target: asyncio.StreamWriter, limit: int | None, *, down: bool
    ) -> None:
        sent = 0
        try:
            while data := await source.read(65536):
                if limit is not None:
                    data = data[: limit - sent]
                target.write(data)
                await target.drain()
                sent += len(data)
                if down:
                    self.bytes_down += len(data)
                if limit is not None and sent >= limit:
                    break
        finally:
            # One side ended: end the other, as a real proxy would.
            target.close()


@contextlib.asynccontextmanager
async def proxy_to(url: str, *, cut: Cut | None = None, limit_bytes: int | None = None) -> AsyncIterator[TcpProxy]:
    """A started proxy in front of the server of `url` (cut from the start when `cut` is given)."""
    proxy = TcpProxy.for_url(url, limit_bytes=limit_bytes)
    await proxy.start()
    if cut is not None:
        proxy.cut(cut)
    try:
        yield proxy
    finally:
        await proxy.aclose()
