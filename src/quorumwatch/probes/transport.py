"""A minimal keep-alive HTTP/1.1 client on asyncio streams, with h11 doing the parsing.

Measured on this machine (docs/benchmarks.md, lab-facts.md) a general-purpose client such as httpx
reaches a few percent of a bare asyncio loop, which would cap a 10 Hz detector at a few dozen
nodes. Probes need one request at a time per node, so we drive the socket ourselves and let h11
handle the protocol.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import h11

from quorumwatch.probes.base import GarbageAnswer

MAX_RESPONSE = 1 << 20
"""Answers larger than this are garbage for a status probe (and must not eat memory)."""


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    body: bytes


class HttpConnection:
    """One persistent connection to one node; reconnects lazily after any failure."""

    def __init__(self, host: str, port: int, *, max_response: int = MAX_RESPONSE) -> None:
        self.host = host
        self.port = port
        self.max_response = max_response
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._conn: h11.Connection | None = None
        self._host_header = f"{host}:{port}".encode()

    async def request(self, method: str, path: str, body: bytes | None = None) -> HttpResponse:
        reused = self._writer is not None
        try:
            return await self._exchange(method, path, body)
        except (ConnectionResetError, BrokenPipeError, asyncio.IncompleteReadError, _ClosedBeforeAnswer):
            self._drop()
            if not reused:
                raise
        except BaseException:
            # includes cancellation by the deadline: the connection's state is unknown now
            self._drop()
            raise
        # A kept-alive connection the server had closed while idle: one fresh attempt.
        try:
            return await self._exchange(method, path, body)
        except BaseException:
            self._drop()
            raise

    async def _exchange(self, method: str, path: str, body: bytes | None) -> HttpResponse:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
            self._conn = h11.Connection(our_role=h11.CLIENT)
        assert self._reader is not None
        assert self._writer is not None
        assert self._conn is not None
        conn = self._conn
        headers = [(b"Host", self._host_header), (b"Accept", b"*/*")]
        if body is not None:
            headers += [(b"Content-Type", b"application/json"), (b"Content-Length", str(len(body)).encode())]
        out = conn.send(h11.Request(method=method, target=path, headers=headers))
        if body is not None:
            out += conn.send(h11.Data(data=body))
        out += conn.send(h11.EndOfMessage())
        self._writer.write(out)
        status = 0
        chunks: list[bytes] = []
        size = 0
        raw: list[bytes] = []
        eof = False
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                seen = b"".join(raw)
                if eof and seen.startswith(b"HTTP/"):
                    raise GarbageAnswer("connection closed mid-answer", seen) from None
                raise GarbageAnswer(f"not HTTP ({exc})", seen) from None
            if event is h11.NEED_DATA:
                data = await self._reader.read(65536)
                if not data:
                    if not raw:
                        raise _ClosedBeforeAnswer
                    eof = True
                if len(raw) < 4:  # enough to show what the garbage looked like
                    raw.append(data)
                conn.receive_data(data)
                continue
            if isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                size += len(event.data)
                if size > self.max_response:
                    self._drop()
                    raise GarbageAnswer(f"answer larger than {self.max_response} bytes")
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                raise _ClosedBeforeAnswer
        if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
            conn.start_next_cycle()
        else:
            self._drop()
        return HttpResponse(status, b"".join(chunks))

    def _drop(self) -> None:
        if self._writer is not None:
            self._writer.transport.abort()
        self._reader = self._writer = None
        self._conn = None

    async def aclose(self) -> None:
        self._drop()


class _ClosedBeforeAnswer(EOFError):
    """The peer closed the connection without sending anything."""
