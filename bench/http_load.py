"""A lean HTTP/1.1 load client for the ingest benchmark: keep-alive connections over asyncio streams,
each request's bytes written at once, each answer read by its Content-Length.

httpx costs about as much CPU per request as the API under test (bench/results/ingest-*.json of
2026-11-30: 9.8 s of load generator CPU for 11.4 s of API CPU), so on a shared 2-core machine it
takes the core the API needs. This client does only what the benchmark needs: POST, a status code.
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit

HEADER_END = b"\r\n\r\n"


class HttpLoadError(ConnectionError):
    """The server closed the connection or answered something that is not HTTP/1.1 with a length."""


class Connection:
    """One keep-alive connection that posts to one path."""

    def __init__(self, url: str, path: str, headers: dict[str, str]) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.path = path
        lines = [f"{name}: {value}" for name, value in headers.items()]
        self.head = f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n" + "".join(
            f"{line}\r\n" for line in lines
        )
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, body: bytes) -> int:
        """The status code of POSTing `body`; reconnects once when the kept-alive connection was closed."""
        if self.reader is None:
            await self._connect()
        assert self.reader is not None and self.writer is not None
        self.writer.write(f"{self.head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
        try:
            return await self._answer(self.reader)
        except (HttpLoadError, ConnectionError, asyncio.IncompleteReadError):
            await self.close()
            raise

    async def _connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    @staticmethod
    async def _answer(reader: asyncio.StreamReader) -> int:
        head = await reader.readuntil(HEADER_END)
        status_line, _, header_block = head.partition(b"\r\n")
        parts = status_line.split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise HttpLoadError(f"not an HTTP answer: {status_line[:80]!r}")
        length = None
        for line in header_block.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        if length is None:
            raise HttpLoadError("an answer without Content-Length")
        await reader.readexactly(length)
        return int(parts[1])

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(ConnectionError):
                await self.writer.wait_closed()
        self.reader = self.writer = None
