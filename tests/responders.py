"""Scripted TCP responders on loopback for probe tests (real sockets, scripted answers)."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from quorumwatch.model import Answer

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def serve(handler: Handler, tls: ssl.SSLContext | None = None) -> AsyncIterator[int]:
    """Serve `handler` on 127.0.0.1 with a free port (in TLS with `tls`); yields the port; closes
    everything after."""
    conns: set[asyncio.StreamWriter] = set()

    async def wrapped(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conns.add(writer)
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            conns.discard(writer)
            writer.transport.abort()

    server = await asyncio.start_server(wrapped, "127.0.0.1", 0, ssl=tls)
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
        + extra
        + b"\r\n"
        + body
    )


class EtcdLikeCluster:
    """N fake etcd members on loopback in a background thread; `roles[i]` is what member i says:
    "L", "F", or "hang" (accepts, never answers). For CLI tests that run quorumwatch as a process.
    `size`: the members form clusters of that many, one after the other (a fleet: `cluster_yaml`
    of each `group`)."""

    def __init__(self, roles: list[str], keep_writes: bool = True, size: int | None = None) -> None:
        import threading

        self.roles = roles
        self.size = size or len(roles)
        self.kv = FakeKv()
        """One store behind every member (as if replicated); writes are acknowledged and, with
        keep_writes False, forgotten (a store that loses acknowledged writes)."""
        self.keep_writes = keep_writes
        self.ports: list[int] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _answer(self, i: int) -> bytes:
        first = i - i % self.size
        leader = next((k for k in range(first, first + self.size) if self.roles[k] == "L"), None)
        me = 1000 + i
        lead = me if self.roles[i] == "L" else (1000 + leader if leader is not None else 0)
        term = 3 + i if self.roles[i] == "L" else 3
        return f'{{"header":{{"member_id":"{me}"}},"leader":"{lead}","raftTerm":"{term}"}}'.encode()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main())
        self._loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        servers = []
        tasks: set[asyncio.Task[None]] = set()
        for i in range(len(self.roles)):

            async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, i: int = i) -> None:
                task = asyncio.current_task()
                assert task is not None
                tasks.add(task)
                try:
                    while request := await read_http_request(reader):
                        if self.roles[i] == "hang":
                            await asyncio.sleep(3600)
                        if request.startswith(b"POST /v3/kv/"):
                            writer.write(self.kv.answer(request))
                            if not self.keep_writes:
                                self.kv.keys.clear()
                        else:
                            writer.write(http_response(self._answer(i)))
                        await writer.drain()
                except (ConnectionError, asyncio.CancelledError):
                    pass
                finally:
                    writer.transport.abort()

            server = await asyncio.start_server(handler, "127.0.0.1", 0)
            servers.append(server)
            self.ports.append(server.sockets[0].getsockname()[1])
        self._ready.set()
        await self._stop.wait()
        for s in servers:
            s.close()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def __enter__(self) -> EtcdLikeCluster:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def cluster_yaml(
        self, interval: float = 0.1, deadline: float = 0.05, name: str = "fake", group: int = 0
    ) -> str:
        ports = self.ports[group * self.size : (group + 1) * self.size]
        nodes = "".join(f"  - name: n{i + 1}\n    address: 127.0.0.1:{p}\n" for i, p in enumerate(ports))
        timing = f"interval: {interval}\ndeadline: {deadline}"
        return f"name: {name}\nprobe: {{kind: etcd}}\n{timing}\nnodes:\n{nodes}"


class FakeKv:
    """An etcd-like v3 JSON gateway for workload unit tests: put and paged range over a dict.
    `mode`: "ok", "hang" (never answers), "reject" (gRPC InvalidArgument), "timeout" (etcd's
    ambiguous "request timed out")."""

    def __init__(self, term: int = 7, mode: str = "ok", page: int = 3) -> None:
        self.keys: dict[str, str] = {}
        self.term = term
        self.mode = mode
        self.page = page

    def answer(self, request: bytes) -> bytes:
        import base64
        import json

        head, _, body = request.partition(b"\r\n\r\n")
        path = head.split(b" ")[1].decode()
        doc = json.loads(body or b"{}")
        header = {"member_id": "1", "raft_term": str(self.term)}
        if path == "/v3/kv/put":
            if self.mode == "reject":
                err = {"error": "bad", "code": 3, "message": "etcdserver: key is not provided"}
                return http_response(json.dumps(err).encode(), 400)
            if self.mode == "timeout":
                err = {"error": "x", "code": 14, "message": "etcdserver: request timed out"}
                return http_response(json.dumps(err).encode(), 503)
            key = base64.b64decode(doc["key"]).decode()
            self.keys[key] = base64.b64decode(doc["value"]).decode()
            return http_response(json.dumps({"header": header}).encode())
        if path == "/v3/kv/range" and "range_end" not in doc:  # one key: a register's read
            key = base64.b64decode(doc["key"]).decode()
            one: dict[str, object] = {"header": header}
            if key in self.keys:  # proto3 JSON leaves an empty list out
                one["kvs"] = [
                    {"key": doc["key"], "value": base64.b64encode(self.keys[key].encode()).decode()}
                ]
            return http_response(json.dumps(one).encode())
        if path == "/v3/kv/txn":  # one compare (value, or absent), one put: a register's cas
            (cmp,) = doc["compare"]
            key = base64.b64decode(cmp["key"]).decode()
            want = base64.b64decode(cmp["value"]).decode() if cmp["target"] == "VALUE" else None
            out: dict[str, object] = {"header": header}
            if self.keys.get(key) == want:
                put = doc["success"][0]["request_put"]
                self.keys[key] = base64.b64decode(put["value"]).decode()
                out["succeeded"] = True
            return http_response(json.dumps(out).encode())
        if path == "/v3/kv/range":
            lo = base64.b64decode(doc["key"]).decode()
            hi = base64.b64decode(doc["range_end"]).decode()
            found = sorted(k for k in self.keys if lo <= k < hi)
            page = found[: self.page]
            kvs = [{"key": base64.b64encode(k.encode()).decode()} for k in page]
            out = {"header": header, "kvs": kvs, "more": len(found) > len(page), "count": str(len(found))}
            return http_response(json.dumps(out).encode())
        return http_response(b'{"error":"not found"}', 404)

    async def handler(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while request := await read_http_request(reader):
            if self.mode == "hang":
                await asyncio.sleep(3600)
            writer.write(self.answer(request))
            await writer.drain()


async def answer_of(probe: Any) -> Answer:
    """One answer of `probe` as the engine would record it: a failure classified, never raised (a
    5 s bound, far past any test's need); the probe closed after."""
    from quorumwatch.probes.base import classify

    try:
        async with asyncio.timeout(5):
            answer: Answer = await probe.ask()
            return answer
    except Exception as exc:
        return classify(exc)
    finally:
        await probe.aclose()
