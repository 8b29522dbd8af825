"""Scripted TCP responders on loopback for probe tests (real sockets, scripted answers)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def serve(handler: Handler) -> AsyncIterator[int]:
    """Serve `handler` on 127.0.0.1 with a free port; yields the port; closes everything after."""
    conns: set[asyncio.StreamWriter] = set()

    async def wrapped(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conns.add(writer)
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            conns.discard(writer)
            writer.transport.abort()

    server = await asyncio.start_server(wrapped, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield port
    finally:
        server.close()
        for w in list(conns):
            w.transport.abort()
        await server.wait_closed()


async def read_http_request(reader: asyncio.StreamReader) -> bytes:
    """Read one request (headers + Content-Length body); b'' at EOF."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return b""
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    body = await reader.readexactly(length) if length else b""
    return head + body


def http_response(body: bytes, status: int = 200, extra: bytes = b"") -> bytes:
    return (
        f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n".encode()
        + extra + b"\r\n" + body
    )
