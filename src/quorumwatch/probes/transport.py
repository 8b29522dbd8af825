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
MAX_HEAD = 64 << 10
"""Status lines and headers longer than this are garbage: a node sending headers without end must
not keep the event loop parsing them (a callback per header) while other nodes' answers wait."""

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


class _Messages:
    """httptools callbacks. Answers complete in order; several may arrive in one read (a late
    answer to an abandoned request, then the answer awaited)."""

    def __init__(self) -> None:
        self.parser: httptools.HttpResponseParser | None = None
        self.done: list[HttpResponse] = []
        self.keep_alive = True
        """Of the last completed answer."""
        self.on_message_begin()

    def on_message_begin(self) -> None:
        self.body: list[bytes] = []
        self.size = 0
        self.headers_done = False
        self.framed = False  # Content-Length or chunked: the end does not depend on EOF
        self.status = 0
        self._keep = False

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() in (b"content-length", b"transfer-encoding"):
            self.framed = True

    def on_headers_complete(self) -> None:
        # llhttp answers these only while a message is open, not after it completes
        assert self.parser is not None
        self.headers_done = True
        self.status = self.parser.get_status_code()
        self._keep = self.parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        self.body.append(body)
        self.size += len(body)

    def on_message_complete(self) -> None:
        self.done.append(HttpResponse(self.status, b"".join(self.body)))
        self.keep_alive = self._keep
        self.headers_done = False


class HttpConnection:
    """One persistent connection to one node; reconnects lazily after any failure.

    A request its deadline cancels after it was sent leaves the connection open: its answer, when
    it comes, is read and thrown away before the next one's (HTTP/1.1 answers come in order), so a
    loaded watcher does not reconnect after every late answer. With more than `MAX_OWED` answers
    owed (a hung node), the connection is dropped instead."""

    MAX_OWED = 1

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
        self._messages = _Messages()
        self._owed = 0
        """Requests sent on this connection whose answers were not consumed yet."""
        self._last_request: tuple[tuple[str, str, bytes | None], bytes] | None = None
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
        except asyncio.CancelledError:
            if not self._owed:  # cancelled before sending (while connecting): nothing owed, nothing to drop
                self._drop()
            raise  # sent: its answer is thrown away when it comes
        except BaseException:
            self._drop()
            raise
        # A kept-alive connection the server had closed while idle: one fresh attempt.
        try:
            return await self._exchange(method, path, body)
        except BaseException:
            self._drop()
            raise

    def _encode(self, method: str, path: str, body: bytes | None) -> bytes:
        key = (method, path, body)
        if self._last_request is not None and self._last_request[0] == key:
            return self._last_request[1]  # a probe asks the same question every tick
        encoded = self._build(method, path, body)
        self._last_request = (key, encoded)
        return encoded

    def _build(self, method: str, path: str, body: bytes | None) -> bytes:
        head = f"{method} {path} HTTP/1.1\r\nHost: {self._host_header}\r\nAccept: */*\r\n"
        if body is None:
            return (head + "\r\n").encode()
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        return head.encode() + body

    async def _exchange(self, method: str, path: str, body: bytes | None) -> HttpResponse:
        if self._writer is not None and self._owed - len(self._messages.done) > self.MAX_OWED:
            self._drop()  # answers owed for too long: a hung node, or one that stopped reading
        if self._writer is None:
            self._reader, self._writer = await self._connect()
            self._messages = _Messages()
            self._parser = httptools.HttpResponseParser(self._messages)
            self._messages.parser = self._parser
        assert self._reader is not None and self._writer is not None and self._parser is not None
        msgs, parser = self._messages, self._parser
        self._writer.write(self._encode(method, path, body))
        self._owed += 1
        raw: list[bytes] = []
        head = 0
        while len(msgs.done) < self._owed:
            data = await self._reader.read(65536)
            if not data:
                seen = b"".join(raw)
                if len(msgs.done) == self._owed - 1 and msgs.headers_done and not msgs.framed:
                    # an answer delimited by the connection's end (HTTP/1.0 style)
                    answer = HttpResponse(msgs.status, b"".join(msgs.body))
                    self._drop()
                    return answer
                if not seen or len(msgs.done) < self._owed - 1:
                    raise _ClosedBeforeAnswer
                if seen.startswith(b"HTTP/"):
                    raise GarbageAnswer("connection closed mid-answer", seen)
                raise GarbageAnswer("not HTTP", seen)
            if len(raw) < 4:  # enough to show what garbage looked like
                raw.append(data)
            try:
                parser.feed_data(data)
            except httptools.HttpParserError as exc:
                raise GarbageAnswer(f"not HTTP ({exc})", b"".join(raw)) from None
            if msgs.size > self.max_response:
                raise GarbageAnswer(f"answer larger than {self.max_response} bytes")
            if not msgs.headers_done:
                head += len(data)  # an upper bound: the chunk may also end an earlier answer
                if head > MAX_HEAD:
                    raise GarbageAnswer(f"headers longer than {MAX_HEAD} bytes", b"".join(raw))
        if len(msgs.done) > self._owed:
            raise GarbageAnswer("more answers than requests", b"".join(raw))
        answer = msgs.done[-1]  # the ones before it answered requests whose deadline had passed
        msgs.done.clear()
        self._owed = 0
        if not msgs.keep_alive:
            self._drop()
        return answer

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
        self._owed = 0

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
