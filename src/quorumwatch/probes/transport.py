"""A minimal keep-alive HTTP/1.1 client on an asyncio `Protocol`, with httptools (llhttp) parsing.

Measured on this machine (docs/benchmarks.md, lab-facts.md): httpx reaches a few percent of a bare
asyncio loop and h11 spends ~95 µs parsing one status answer, which would cap a 10 Hz detector at a
few hundred nodes; httptools parses the same answer in ~2 µs. Probes send one request at a time per
node, so we drive the socket ourselves: bytes go to the parser as they arrive (`data_received`) and
each completed answer resolves the future of the request it answers, with no stream or task between.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections import deque
from dataclasses import dataclass
from typing import cast

import httptools

from quorumwatch.config import NodeConfig, TlsConfig
from quorumwatch.model import Answer
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

_SHOWN_CHUNKS = 4
"""Chunks of an answer kept to show what garbage looked like."""


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    body: bytes


class _Answers(asyncio.Protocol):
    """One connection. Answers complete in order and go to the requests waiting for them in order;
    a request its deadline cancelled still holds its place, so its late answer is thrown away
    rather than taken for the next one's."""

    def __init__(self, max_response: int, tls: bool = False) -> None:
        self.max_response = max_response
        self.tls = tls
        self.transport: asyncio.Transport | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiting: deque[asyncio.Future[HttpResponse]] = deque()
        self.lost = False
        self.answered = False
        """Any byte ever received on this connection."""
        self.on_message_begin()
        self.raw: list[bytes] = []
        """The first chunks received since the last complete answer (to show garbage)."""
        self.head = 0

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is one, without subclassing it
        # kept for the answers' futures: asyncio.get_running_loop() costs a getpid() system call
        self.loop = asyncio.get_running_loop()

    def data_received(self, data: bytes) -> None:
        self.answered = True
        if len(self.raw) < _SHOWN_CHUNKS:
            self.raw.append(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.fail(GarbageAnswer(f"not HTTP ({exc})", b"".join(self.raw)))
            return
        if self.size > self.max_response:
            self.fail(GarbageAnswer(f"answer larger than {self.max_response} bytes"))
        elif not self.headers_done and self.raw:
            self.head += len(data)  # an upper bound: the chunk may also end an earlier answer
            if self.head > MAX_HEAD:
                self.fail(GarbageAnswer(f"headers longer than {MAX_HEAD} bytes", b"".join(self.raw)))

    def eof_received(self) -> bool:
        return False  # close our side too: a half-closed node answers no more requests

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        try:
            self._lost(exc)
        finally:
            # the parser and this protocol refer to each other: free what an answer cut short holds
            # now rather than when the garbage collector finds the cycle (a node sending 1 MB
            # garbage answers every tick would otherwise pile them up)
            self.on_message_begin()
            self.raw = []

    def _lost(self, exc: Exception | None) -> None:
        if exc is not None:
            self._fail_waiting(exc)
            return
        if self.waiting and self.headers_done and not self.framed:
            # an answer delimited by the connection's end (HTTP/1.0 style)
            self._complete(HttpResponse(self.status, b"".join(self.body)))
        if self.waiting:
            # the answer cut short is the oldest owed; those after it never started
            fut = self.waiting.popleft()
            if not fut.done():
                fut.set_exception(self._cut_short())
            self._fail_waiting(_ClosedBeforeAnswer())

    def _cut_short(self) -> Exception:
        """What the connection's end means for the answer awaited first."""
        seen = b"".join(self.raw)
        if seen.startswith(b"HTTP/"):
            return GarbageAnswer("connection closed mid-answer", seen)
        if seen:
            return GarbageAnswer("not HTTP", seen)
        if not self.answered:
            # etcd with --client-cert-auth closes a plain-text connection without a word; a TLS
            # 1.3 server checks the client's certificate after the handshake, then may just hang up
            return _ClosedBeforeAnswer(
                "connection closed without an answer (does the node want a client certificate?)"
                if self.tls
                else "connection closed without an answer (does this port want TLS?)"
            )
        return _ClosedBeforeAnswer()

    # httptools callbacks

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
        self.headers_done = True
        self.status = self.parser.get_status_code()
        self._keep = self.parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        self.body.append(body)
        self.size += len(body)

    def on_message_complete(self) -> None:
        self.headers_done = False
        self._complete(HttpResponse(self.status, b"".join(self.body)))
        if not self._keep:
            self.close()

    # ours

    @property
    def closed(self) -> bool:
        """Lost, or closing with the loss not reported yet (uvloop reports it a loop turn after the
        node hangs up, and refuses a write meanwhile)."""
        return self.lost or self.transport is None or self.transport.is_closing()

    def send(self, request: bytes, answer: asyncio.Future[HttpResponse]) -> None:
        if self.closed:  # closed under us before the question left: as if it were cut short
            answer.set_exception(self._cut_short() if not self.waiting else _ClosedBeforeAnswer())
            return
        assert self.transport is not None
        self.waiting.append(answer)
        self.transport.write(request)

    @property
    def owed(self) -> int:
        """Answers still to come, the abandoned requests' included."""
        return len(self.waiting)

    def _complete(self, answer: HttpResponse) -> None:
        shown, self.raw, self.head = self.raw, [], 0
        if not self.waiting:
            self.fail(GarbageAnswer("more answers than requests", b"".join(shown)))
            return
        fut = self.waiting.popleft()
        if not fut.done():
            fut.set_result(answer)

    def fail(self, exc: Exception) -> None:
        """The connection is unusable: the requests waiting get `exc` and it is closed."""
        self._fail_waiting(exc)
        self.close()

    def _fail_waiting(self, exc: Exception) -> None:
        while self.waiting:
            fut = self.waiting.popleft()
            if not fut.done():
                fut.set_exception(exc)

    def close(self) -> None:
        self.lost = True
        if self.transport is not None:
            self.transport.abort()


async def _open(
    host: str, port: int, protocol: _Answers, tls: ssl.SSLContext | None, server_name: str | None
) -> _Answers:
    """Connect (and shake hands, with TLS); a seam for tests that script slow or failing connects."""
    loop = asyncio.get_running_loop()
    hostname = (server_name or host) if tls is not None else None
    await loop.create_connection(lambda: protocol, host, port, ssl=tls, server_hostname=hostname)
    return protocol


def connection(
    host: str, port: int, tls: TlsConfig | None, *, max_response: int = MAX_RESPONSE
) -> HttpConnection:
    """A connection speaking what a probe's or workload's settings ask: plain, or TLS verified as
    `tls` says (server name default: the host)."""
    if tls is None:
        return HttpConnection(host, port, max_response=max_response)
    from quorumwatch.probes.tls import client_context

    return HttpConnection(
        host, port, max_response=max_response, tls=client_context(tls), server_name=tls.server_name
    )


class HttpConnection:
    """One persistent connection to one node; reconnects lazily after any failure.

    A request its deadline cancels after it was sent leaves the connection open: its answer, when
    it comes, is thrown away (HTTP/1.1 answers come in order), so a loaded watcher does not
    reconnect after every late answer. With more than `MAX_OWED` answers owed (a hung node), the
    connection is dropped instead."""

    MAX_OWED = 1

    def __init__(
        self,
        host: str,
        port: int,
        *,
        max_response: int = MAX_RESPONSE,
        linger_s: float = CONNECT_LINGER_S,
        tls: ssl.SSLContext | None = None,
        server_name: str | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.max_response = max_response
        self.linger_s = linger_s
        self.tls = tls
        self.server_name = server_name
        self._connecting: asyncio.Task[_Answers] | None = None
        self._connect_started = 0.0
        self._conn: _Answers | None = None
        self._last_request: tuple[tuple[str, str, bytes | None], bytes] | None = None
        self._host_header = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"

    async def request(self, method: str, path: str, body: bytes | None = None) -> HttpResponse:
        conn = self._usable()
        pending = self._connecting
        # a connection an earlier request's connect left open may have been closed since, like an idle one
        reused = conn is not None or (
            pending is not None and pending.done() and not pending.cancelled() and pending.exception() is None
        )
        request = self._encode(method, path, body)
        try:
            return await self._exchange(request)
        except (ConnectionResetError, BrokenPipeError, _ClosedBeforeAnswer):
            self._drop()
            if not reused:
                raise
        except asyncio.CancelledError:
            raise  # sent: its answer is thrown away when it comes; not sent: the connect goes on
        except BaseException:
            self._drop()
            raise
        # A kept-alive connection the node had closed while idle: one fresh attempt.
        try:
            return await self._exchange(request)
        except BaseException as exc:
            if not isinstance(exc, asyncio.CancelledError):
                self._drop()
            raise

    async def connect(self) -> None:
        """Open the connection ahead of the first request; a failure is left for it to report
        (cancelled, the connect goes on for that request, as one a deadline interrupted)."""
        if self._usable() is None:
            with contextlib.suppress(Exception):
                self._conn = await self._connect()

    def send_now(
        self, method: str, path: str, body: bytes | None = None
    ) -> asyncio.Future[HttpResponse] | None:
        """The request sent on the open connection, its answer's future; None when there is no
        usable connection (then `request`, which connects). No retry here: a node that closed the
        connection at the very instant of sending costs one unknown answer, and the next request
        connects afresh."""
        conn = self._usable()
        return None if conn is None else _sent(conn, self._encode(method, path, body))

    def _usable(self) -> _Answers | None:
        """The open connection, dropped first when the node closed it or owes too many answers (a
        hung node); None when there is none."""
        conn = self._conn
        if conn is not None and (conn.closed or conn.owed > self.MAX_OWED):
            self._drop()
            conn = None
        return conn

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

    async def _exchange(self, request: bytes) -> HttpResponse:
        conn = self._conn
        if conn is None or conn.closed:
            conn = self._conn = await self._connect()
        return await _sent(conn, request)

    async def _connect(self) -> _Answers:
        """Connect, or take over the connect an earlier request's deadline interrupted."""
        loop = asyncio.get_running_loop()
        task = self._connecting
        if task is not None and task.done() and (task.cancelled() or task.exception() is not None):
            task = None  # an earlier attempt's failure says nothing about now: try afresh
        elif task is not None and not task.done() and loop.time() - self._connect_started > self.linger_s:
            task.cancel()
            task = None
        if task is None:
            answers = _Answers(self.max_response, self.tls is not None)
            opening = _open(self.host, self.port, answers, self.tls, self.server_name)
            task = loop.create_task(opening)
            task.add_done_callback(_retrieve)
            self._connecting, self._connect_started = task, loop.time()
        # shielded: the deadline cancels this request, not the connect, which goes on for the next one
        conn = await asyncio.shield(task)
        self._connecting = None
        return conn

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None

    async def aclose(self) -> None:
        self._drop()
        task, self._connecting = self._connecting, None
        if task is None:
            return
        if not task.done():
            task.cancel()
        elif not task.cancelled() and task.exception() is None:
            task.result().close()


def _sent(conn: _Answers, request: bytes) -> asyncio.Future[HttpResponse]:
    """The request on its way on `conn`, and the future of its answer."""
    answer: asyncio.Future[HttpResponse] = (conn.loop or asyncio.get_running_loop()).create_future()
    conn.send(request, answer)
    return answer


def _retrieve(task: asyncio.Task[_Answers]) -> None:
    """Mark a background connect's failure as seen: the request that awaits it reports it, and one
    nobody awaited any more must not be logged as "exception never retrieved"."""
    if not task.cancelled():
        task.exception()


class _ClosedBeforeAnswer(EOFError):
    """The peer closed the connection without sending anything."""


class RequestProbe:
    """A probe that sends one HTTP request per tick and reads the role from the answer: the
    connection handling every HTTP kind shares; a kind says only what it sends and `read`."""

    def __init__(
        self, node: NodeConfig, tls: TlsConfig | None, method: str, path: str, body: bytes | None = None
    ) -> None:
        self.node = node.name
        self._request = (method, path, body)
        self._http = connection(node.host, node.port, tls)

    def read(self, status: int, body: bytes) -> Answer:
        """The role (epoch, leader) one answer says; GarbageAnswer when it says nothing we read."""
        raise NotImplementedError

    async def ask(self) -> Answer:
        resp = await self._http.request(*self._request)
        return self.read(resp.status, resp.body)

    async def connect(self) -> None:
        await self._http.connect()

    def send(self) -> asyncio.Future[HttpResponse] | None:
        return self._http.send_now(*self._request)

    def interpret(self, reply: HttpResponse) -> Answer:
        return self.read(reply.status, reply.body)

    async def aclose(self) -> None:
        await self._http.aclose()
