"""A minimal keep-alive HTTP/1.1 client on asyncio streams, with httptools (llhttp) parsing.

Measured on this machine (docs/benchmarks.md, lab-facts.md): httpx reaches a few percent of a bare
asyncio loop and h11 spends ~95 µs parsing one status answer, which would cap a 10 Hz detector at a
few hundred nodes; httptools parses the same answer in ~2 µs. Probes send one request at a time per
node, so we drive the socket ourselves and let httptools handle the protocol.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httptools

from quorumwatch.probes.base import GarbageAnswer

MAX_RESPONSE = 1 << 20
"""Answers larger than this are garbage for a status probe (and must not eat memory)."""

CONNECT_LINGER_S = 0.5
"""How long a connect interrupted by a probe's deadline goes on for the requests after it.

Aborting every connect at the deadline made a loaded watcher (100 clusters × 5 nodes here) open
thousands of sockets a second, none finishing in time (docs/benchmarks.md). Letting a connect finish
for the next tick ends that; but a connect whose SYN a partition dropped waits ~1 s for its first
retransmission, so one older than this is abandoned for a fresh attempt: a healed node is seen again
within about this long."""

_Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    body: bytes


class _Message:
    """httptools callbacks for one response at a time."""

    def __init__(self) -> None:
        self.parser: httptools.HttpResponseParser | None = None
        self.reset()

    def reset(self) -> None:
        self.body: list[bytes] = []
        self.size = 0
        self.headers_done = False
        self.complete = False
        self.framed = False  # Content-Length or chunked: the end does not depend on EOF
        self.status = 0
        self.keep_alive = False

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() in (b"content-length", b"transfer-encoding"):
            self.framed = True

    def on_headers_complete(self) -> None:
        # llhttp answers these only while a message is open, not after it completes
        assert self.parser is not None
        self.headers_done = True
        self.status = self.parser.get_status_code()
        self.keep_alive = self.parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        self.body.append(body)
        self.size += len(body)

    def on_message_complete(self) -> None:
        self.complete = True


class HttpConnection:
    """One persistent connection to one node; reconnects lazily after any failure."""

    def __init__(
        self, host: str, port: int, *, max_response: int = MAX_RESPONSE, linger_s: float = CONNECT_LINGER_S
    ) -> None:
        self.host = host
        self.port = port
        self.max_response = max_response
        self.linger_s = linger_s
        self._connecting: asyncio.Task[_Streams] | None = None
        self._connect_started = 0.0
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._parser: httptools.HttpResponseParser | None = None
        self._message = _Message()
        self._host_header = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"

    async def request(self, method: str, path: str, body: bytes | None = None) -> HttpResponse:
        pending = self._connecting
        # a connection an earlier request's connect left open may have been closed since, like an idle one
        reused = self._writer is not None or (
            pending is not None and pending.done() and not pending.cancelled() and pending.exception() is None
        )
        try:
            return await self._exchange(method, path, body)
        except (ConnectionResetError, BrokenPipeError, _ClosedBeforeAnswer):
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

    def _encode(self, method: str, path: str, body: bytes | None) -> bytes:
        head = f"{method} {path} HTTP/1.1\r\nHost: {self._host_header}\r\nAccept: */*\r\n"
        if body is None:
            return (head + "\r\n").encode()
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        return head.encode() + body

    async def _exchange(self, method: str, path: str, body: bytes | None) -> HttpResponse:
        if self._writer is None:
            self._reader, self._writer = await self._connect()
            self._message = _Message()
            self._parser = httptools.HttpResponseParser(self._message)
            self._message.parser = self._parser
        assert self._reader is not None and self._writer is not None and self._parser is not None
        msg, parser = self._message, self._parser
        msg.reset()
        self._writer.write(self._encode(method, path, body))
        raw: list[bytes] = []
        while not msg.complete:
            data = await self._reader.read(65536)
            if not data:
                seen = b"".join(raw)
                if not seen:
                    raise _ClosedBeforeAnswer
                if msg.headers_done and not msg.framed:
                    break  # an answer delimited by the connection's end (HTTP/1.0 style)
                if seen.startswith(b"HTTP/"):
                    raise GarbageAnswer("connection closed mid-answer", seen)
                raise GarbageAnswer("not HTTP", seen)
            if len(raw) < 4:  # enough to show what garbage looked like
                raw.append(data)
            try:
                parser.feed_data(data)
            except httptools.HttpParserError as exc:
                raise GarbageAnswer(f"not HTTP ({exc})", b"".join(raw)) from None
            if msg.size > self.max_response:
                raise GarbageAnswer(f"answer larger than {self.max_response} bytes")
        if not (msg.complete and msg.keep_alive):
            self._drop()
        return HttpResponse(msg.status, b"".join(msg.body))

    async def _connect(self) -> _Streams:
        """Connect, or take over the connect an earlier request's deadline interrupted."""
        loop = asyncio.get_running_loop()
        task = self._connecting
        if task is not None and task.done() and (task.cancelled() or task.exception() is not None):
            task = None  # an earlier attempt's failure says nothing about now: try afresh
        elif task is not None and not task.done() and loop.time() - self._connect_started > self.linger_s:
            task.cancel()
            task = None
        if task is None:
            task = loop.create_task(asyncio.open_connection(self.host, self.port))
            task.add_done_callback(_retrieve)
            self._connecting, self._connect_started = task, loop.time()
        # shielded: the deadline cancels this request, not the connect, which goes on for the next one
        streams = await asyncio.shield(task)
        self._connecting = None
        return streams

    def _drop(self) -> None:
        if self._writer is not None:
            self._writer.transport.abort()
        self._reader = self._writer = None
        self._parser = None

    async def aclose(self) -> None:
        self._drop()
        task, self._connecting = self._connecting, None
        if task is None:
            return
        if not task.done():
            task.cancel()
        elif not task.cancelled() and task.exception() is None:
            task.result()[1].transport.abort()


def _retrieve(task: asyncio.Task[_Streams]) -> None:
    """Mark a background connect's failure as seen: the request that awaits it reports it, and one
    nobody awaited any more must not be logged as "exception never retrieved"."""
    if not task.cancelled():
        task.exception()


class _ClosedBeforeAnswer(EOFError):
    """The peer closed the connection without sending anything."""
