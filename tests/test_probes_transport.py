"""The keep-alive HTTP client against scripted servers: reuse, idle close, garbage, size, hangs."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import uvloop

from quorumwatch.model import Reason
from quorumwatch.probes import transport
from quorumwatch.probes.base import GarbageAnswer, classify
from quorumwatch.probes.transport import HttpConnection
from tests.responders import http_response, read_http_request, serve


async def _abandoned(conn: HttpConnection, within: float) -> None:
    """One request whose deadline passes first, as the engine's deadline would."""
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(within):
            await conn.request("GET", "/")


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])  # `watch a.yaml b.yaml ...` runs on uvloop
def test_keep_alive_reuses_one_connection(loop: str) -> None:
    accepted = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal accepted
        accepted += 1
        while req := await read_http_request(reader):
            assert req.startswith(b"POST /v3/maintenance/status HTTP/1.1\r\n")
            assert req.endswith(b"\r\n\r\n{}")
            writer.write(http_response(b'{"ok":1}'))
            await writer.drain()

    async def main() -> list[bytes]:
        async with serve(handler) as port:
            conn = HttpConnection("127.0.0.1", port)
            bodies = [(await conn.request("POST", "/v3/maintenance/status", b"{}")).body for _ in range(5)]
            await conn.aclose()
            return bodies

    assert (uvloop.run(main()) if loop == "uvloop" else asyncio.run(main())) == [b'{"ok":1}'] * 5
    assert accepted == 1


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_a_connection_closing_before_its_loss_is_reported_is_not_written_to(loop: str) -> None:
    """uvloop reports a hang-up a loop turn late and refuses writes meanwhile (RuntimeError): a probe
    sees no usable connection and connects afresh instead of reporting uvloop's error."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await read_http_request(reader):
            writer.write(http_response(b"x"))
            await writer.drain()

    async def main() -> tuple[int, Any, int]:
        async with serve(handler) as port:
            conn = HttpConnection("127.0.0.1", port)
            first = (await conn.request("GET", "/")).status
            opened = conn._conn
            assert opened is not None and opened.transport is not None
            opened.transport.close()  # closing; connection_lost comes a loop turn later
            unsent = conn.send_now("GET", "/")
            closed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            opened.send(b"GET / HTTP/1.1\r\n\r\n", closed)  # a send that raced it fails its answer
            second = (await conn.request("GET", "/")).status
            await conn.aclose()
            refused = closed.exception()
            assert refused is not None
            return first, (unsent, classify(refused).reason), second

    result = uvloop.run(main()) if loop == "uvloop" else asyncio.run(main())
    assert result == (200, (None, Reason.CLOSED), 200)


def test_server_closing_idle_connection_is_retried_once() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_http_request(reader)
        writer.write(http_response(b"x"))
        await writer.drain()
        writer.close()  # one answer per connection, as if an idle timeout hit

    async def main() -> list[int]:
        async with serve(handler) as port:
            conn = HttpConnection("127.0.0.1", port)
            statuses = []
            for _ in range(3):
                statuses.append((await conn.request("GET", "/")).status)
                await asyncio.sleep(0.01)
            return statuses

    assert asyncio.run(main()) == [200, 200, 200]


@pytest.mark.parametrize(
    ("answer", "what"),
    [
        (b"SSH-2.0-OpenSSH_9.2\r\n", "not HTTP"),
        (b'HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{"trunc', "closed mid-answer"),
        (b"\x00\xff\xfe garbage \x01\r\n\r\n", "not HTTP"),
    ],
)
def test_garbage_and_truncated_answers_are_garbage_with_excerpt(answer: bytes, what: str) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_http_request(reader)
        writer.write(answer)
        await writer.drain()
        writer.close()

    async def main() -> None:
        async with serve(handler) as port:
            await HttpConnection("127.0.0.1", port).request("GET", "/")

    with pytest.raises(GarbageAnswer) as err:
        asyncio.run(main())
    assert what in err.value.what
    ans = err.value.answer()
    assert ans.reason is Reason.GARBAGE and ans.detail and len(ans.detail) < 200


def test_huge_answer_is_refused_without_reading_it_all() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_http_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 50000000\r\n\r\n")
        for _ in range(100):
            writer.write(b"a" * 65536)
            await writer.drain()

    async def main() -> None:
        async with serve(handler) as port:
            await HttpConnection("127.0.0.1", port, max_response=100_000).request("GET", "/")

    with pytest.raises(GarbageAnswer, match="larger than 100000"):
        asyncio.run(main())


def test_a_late_answer_is_thrown_away_and_the_connection_kept() -> None:
    calls = accepted = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal calls, accepted
        accepted += 1
        while await read_http_request(reader):
            calls += 1
            if calls == 1:
                await asyncio.sleep(0.3)  # answers late: the client gave up meanwhile
            writer.write(http_response(f"answer {calls}".encode()))
            await writer.drain()

    async def main() -> list[bytes]:
        async with serve(handler) as port:
            conn = HttpConnection("127.0.0.1", port)
            await _abandoned(conn, 0.05)
            bodies = [(await conn.request("GET", "/")).body for _ in range(2)]
            await conn.aclose()
            return bodies

    # the late "answer 1" must never be taken for the second request's answer
    assert asyncio.run(main()) == [b"answer 2", b"answer 3"]
    assert accepted == 1


def test_late_answers_arriving_in_one_read_with_the_awaited_one() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_http_request(reader)
        await read_http_request(reader)  # both requests in, then both answers in one segment
        writer.write(http_response(b"stale") + http_response(b"fresh"))
        await writer.drain()
        while await read_http_request(reader):
            writer.write(http_response(b"next"))
            await writer.drain()

    async def main() -> list[bytes]:
        async with serve(handler) as port:
            conn = HttpConnection("127.0.0.1", port)
            await _abandoned(conn, 0.05)
            bodies = [(await conn.request("GET", "/")).body, (await conn.request("GET", "/")).body]
            await conn.aclose()
            return bodies

    assert asyncio.run(main()) == [b"fresh", b"next"]


def test_a_hung_node_gets_a_new_connection_once_too_many_answers_are_owed() -> None:
    accepted = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal accepted
        accepted += 1
        await asyncio.Event().wait()  # reads nothing, answers nothing

    async def main() -> int:
        async with serve(handler) as port:
            conn = HttpConnection("127.0.0.1", port)
            for _ in range(HttpConnection.MAX_OWED + 2):
                await _abandoned(conn, 0.05)
            await conn.aclose()
            return accepted

    # MAX_OWED + 1 requests on the first connection, then a fresh one
    assert asyncio.run(main()) == 2


def test_refused_connection_classifies_as_refused() -> None:
    async def main() -> None:
        async with serve(lambda r, w: asyncio.sleep(0)) as port:
            pass
        await HttpConnection("127.0.0.1", port).request("GET", "/")

    with pytest.raises(ConnectionRefusedError) as err:
        asyncio.run(main())
    assert classify(err.value).reason is Reason.REFUSED


class _SlowConnects:
    """The transport's connect with scripted delays (and failures) per attempt, counting attempts."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *plan: tuple[float, BaseException | None]) -> None:
        self.plan = list(plan)
        self.attempts = 0
        self.cancelled = 0
        self._real = transport._open
        monkeypatch.setattr(transport, "_open", self)

    async def __call__(self, host: str, port: int, *args: Any) -> Any:
        delay, failure = self.plan[self.attempts] if self.attempts < len(self.plan) else (0.0, None)
        self.attempts += 1
        try:
            await asyncio.sleep(delay)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        if failure is not None:
            raise failure
        return await self._real(host, port, *args)


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while await read_http_request(reader):
        writer.write(http_response(b"up"))
        await writer.drain()


def test_connect_cut_by_the_deadline_finishes_for_the_next_request(monkeypatch: pytest.MonkeyPatch) -> None:
    connects = _SlowConnects(monkeypatch, (0.15, None))

    async def main() -> bytes:
        async with serve(_echo) as port:
            conn = HttpConnection("127.0.0.1", port)
            await _abandoned(conn, 0.05)
            body = (await conn.request("GET", "/")).body
            await conn.aclose()
            return body

    assert asyncio.run(main()) == b"up"
    assert connects.attempts == 1  # the second request took over the first one's connect
    assert connects.cancelled == 0


def test_connect_older_than_the_linger_is_abandoned_for_a_fresh_one(monkeypatch: pytest.MonkeyPatch) -> None:
    # the first SYN "lost" (a partition): it would take 30 s; a fresh attempt after the linger answers
    connects = _SlowConnects(monkeypatch, (30.0, None))

    async def main() -> bytes:
        async with serve(_echo) as port:
            conn = HttpConnection("127.0.0.1", port, linger_s=0.01)
            await _abandoned(conn, 0.05)  # outlasts the linger
            body = (await conn.request("GET", "/")).body
            await conn.aclose()
            return body

    assert asyncio.run(main()) == b"up"
    assert (connects.attempts, connects.cancelled) == (2, 1)


def test_an_earlier_connect_failure_is_not_reported_later(monkeypatch: pytest.MonkeyPatch) -> None:
    connects = _SlowConnects(monkeypatch, (0.08, ConnectionRefusedError(111, "refused")))

    async def main() -> bytes:
        async with serve(_echo) as port:
            conn = HttpConnection("127.0.0.1", port)
            await _abandoned(conn, 0.02)
            pending = conn._connecting
            assert pending is not None
            await asyncio.wait([pending], timeout=5)
            # the node refused then, but is up now: this request must see it up
            body = (await conn.request("GET", "/")).body
            await conn.aclose()
            return body

    assert asyncio.run(main()) == b"up"
    assert connects.attempts == 2


def test_close_cancels_a_pending_connect(monkeypatch: pytest.MonkeyPatch) -> None:
    connects = _SlowConnects(monkeypatch, (30.0, None))

    async def main() -> None:
        async with serve(_echo) as port:
            conn = HttpConnection("127.0.0.1", port)
            await _abandoned(conn, 0.02)
            pending = conn._connecting
            await conn.aclose()
            assert pending is not None
            await asyncio.wait([pending], timeout=5)
            assert pending.cancelled()

    asyncio.run(main())
    assert connects.cancelled == 1
