"""Probe engine throughput and tick lateness, side by side with a bare asyncio loop.

A responder process (another core) serves N fake nodes on loopback: an etcd-like status endpoint
(HTTP/1.1 keep-alive, ~250-byte JSON) and a ZooKeeper-like `srvr` four-letter word. For 3, 30 and
300 nodes we measure:

- bare loop: hand-rolled HTTP/1.1 (or 4lw) on asyncio streams, all nodes concurrently, back to back;
- quorumwatch probes in the same back-to-back loop (client cost only);
- the engine at interval 0.1 s and at the fastest interval that holds (every probe answered, no
  skipped tick, p99 tick-start lateness under 5 ms): sustained probes/s and lateness p50/p99/max.

Run: `.venv/bin/python benchmarks/probe_engine.py [--sizes 3,30,300] [--seconds 3]`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import subprocess
import sys
import time
from typing import Any, cast

from quorumwatch.config import ClusterConfig
from quorumwatch.engine import Engine
from quorumwatch.model import Role, Tick
from quorumwatch.probes import make_probe
from quorumwatch.watcher import run_loop

STATUS = (
    b'{"header":{"cluster_id":"6572429608285062470","member_id":"11474758352565164449",'
    b'"revision":"1","raft_term":"2"},"version":"3.4.23","dbSize":"20480",'
    b'"leader":"11093195297742745536","raftIndex":"8","raftTerm":"2","raftAppliedIndex":"8",'
    b'"dbSizeInUse":"16384"}'
)
LEADER_STATUS = STATUS.replace(b"11474758352565164449", b"11093195297742745536")
"""The same answer from the member that leads (its id is the leader's)."""


def _http_answer(status: bytes) -> bytes:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
    return head + str(len(status)).encode() + b"\r\n\r\n" + status


HTTP_ANSWER = _http_answer(STATUS)
LEADER_HTTP_ANSWER = _http_answer(LEADER_STATUS)
SRVR = (
    b"Zookeeper version: 3.8.0, built on 2024-12-29 17:54 UTC\nLatency min/avg/max: 0/0.0/0\n"
    b"Received: 6\nSent: 5\nConnections: 1\nOutstanding: 0\nZxid: 0x100000000\nMode: follower\n"
    b"Node count: 5\n"
)
REQUEST = b"POST /v3/maintenance/status HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"


# ---- the responder (runs in its own process) ----------------------------------------------------


def raise_nofile() -> None:
    """Hundreds of nodes need more descriptors than the default soft limit of 1,024."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))


def cpu_s(stat: str) -> float:
    """CPU seconds (user + system) in a Linux `/proc/.../stat` file (a process's or a thread's)."""
    with open(stat) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _Http(asyncio.Protocol):
    """One keep-alive connection of a fake etcd member: an answer for every whole request. A
    protocol, not streams, so the responder takes little of the CPU the measured client shares."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is one without subclassing it

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.buf += data
        while (end := self.buf.find(b"\r\n\r\n")) >= 0:
            length = 0
            for line in self.buf[:end].split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if len(self.buf) < end + 4 + length:
                return
            self.buf = self.buf[end + 4 + length :]
            self.transport.write(self.answer)


async def _serve(n: int, leader_every: int) -> None:
    raise_nofile()
    loop = asyncio.get_running_loop()

    def http(i: int) -> Any:
        answer = LEADER_HTTP_ANSWER if leader_every and i % leader_every == 0 else HTTP_ANSWER
        return loop.create_server(lambda: _Http(answer), "127.0.0.1", 0, backlog=1024)

    async def fourlw(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readexactly(4)
            writer.write(SRVR)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    ports = []
    servers = []
    for i in range(n):
        for s in (await http(i), await asyncio.start_server(fourlw, "127.0.0.1", 0, backlog=1024)):
            servers.append(s)
            ports.append(s.sockets[0].getsockname()[1])
    print(" ".join(map(str, ports)), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


class Responder:
    """N fake nodes in a child process. With `leader_every` K, the HTTP nodes 0, K, 2K, ... answer
    as the leader (one per K-node cluster); otherwise every node is a follower."""

    def __init__(self, n: int, leader_every: int = 0) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(n), "--leader-every", str(leader_every)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self.proc.stdout is not None
        ports = [int(p) for p in self.proc.stdout.readline().split()]
        self.http_ports = ports[0::2]
        self.zk_ports = ports[1::2]

    def cpu_s(self) -> float:
        """CPU seconds the responder has used so far."""
        return cpu_s(f"/proc/{self.proc.pid}/stat")

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# ---- bare asyncio loops ---------------------------------------------------------------------------


async def bare_http(ports: list[int], seconds: float) -> float:
    conns = [await asyncio.open_connection("127.0.0.1", p) for p in ports]

    async def one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(REQUEST)
        head = await reader.readuntil(b"\r\n\r\n")
        i = head.lower().index(b"content-length:") + 15
        length = int(head[i : head.index(b"\r\n", i)])
        await reader.readexactly(length)

    count = 0
    end = time.monotonic() + seconds
    t = time.monotonic()
    while time.monotonic() < end:
        await asyncio.gather(*(one(r, w) for r, w in conns))
        count += len(conns)
    rate = count / (time.monotonic() - t)
    for _, w in conns:
        w.close()
    return rate


async def bare_4lw(ports: list[int], seconds: float) -> float:
    async def one(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"srvr")
        await reader.read()
        writer.close()

    count = 0
    end = time.monotonic() + seconds
    t = time.monotonic()
    while time.monotonic() < end:
        await asyncio.gather(*(one(p) for p in ports))
        count += len(ports)
    return count / (time.monotonic() - t)


# ---- quorumwatch ---------------------------------------------------------------------------------


def cluster(kind: str, ports: list[int], interval: float) -> ClusterConfig:
    return ClusterConfig.model_validate(
        {
            "name": "bench",
            "probe": {"kind": kind},
            "interval": interval,
            "deadline": interval * 0.8,
            "nodes": [{"name": f"n{i}", "address": f"127.0.0.1:{p}"} for i, p in enumerate(ports)],
        }
    )


async def probes_saturated(kind: str, ports: list[int], seconds: float) -> float:
    c = cluster(kind, ports, 0.1)
    probes = [make_probe(c, n) for n in c.nodes]
    count = 0
    end = time.monotonic() + seconds
    t = time.monotonic()
    while time.monotonic() < end:
        answers = await asyncio.gather(*(p.ask() for p in probes))
        assert all(a.role is Role.FOLLOWER for a in answers)
        count += len(probes)
    rate = count / (time.monotonic() - t)
    for p in probes:
        await p.aclose()
    return rate


def lateness_line(lateness: list[int]) -> str:
    """Tick-start lateness (ns) as the benchmarks print it."""
    return (
        f"tick-start lateness p50 {_pct(lateness, 0.5):.2f} ms, p99 {_pct(lateness, 0.99):.2f} ms, "
        f"max {max(lateness) / 1e6:.2f} ms"
    )


def _pct(values: list[int], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] / 1e6 if s else float("nan")


WARMUP_S = 1.0
"""Ticks in the first second (connection set-up: 300 connects at once) are run but not scored."""


async def engine_run(kind: str, ports: list[int], interval: float, seconds: float) -> dict[str, float]:
    c = cluster(kind, ports, interval)
    answered = unknown = 0
    warmup = round(WARMUP_S / interval)
    lateness: list[int] = []

    def count(tick: Tick) -> None:
        nonlocal answered, unknown
        if tick.index < warmup:
            return
        lateness.append(tick.lateness_ns)
        for o in tick.observations:
            if o.role is Role.UNKNOWN:
                unknown += 1
            else:
                answered += 1

    engine = Engine(
        [make_probe(c, n) for n in c.nodes],
        interval_s=interval,
        deadline_s=interval * 0.8,
        sinks=[count],
    )
    try:
        stats = await engine.run(duration_s=seconds + WARMUP_S)
    finally:
        await engine.aclose()
    elapsed = len(lateness) * interval
    lat = lateness
    return {
        "interval": interval,
        "probes_per_s": answered / elapsed,
        "unknown": unknown,
        "skipped": stats.skipped,
        "p50_ms": _pct(lat, 0.5),
        "p99_ms": _pct(lat, 0.99),
        "max_ms": max(lat) / 1e6 if lat else float("nan"),
    }


INTERVALS = [0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001]


def holds(r: dict[str, float]) -> bool:
    return r["unknown"] == 0 and r["skipped"] == 0 and r["p99_ms"] < 5.0


async def bench_size(n: int, seconds: float) -> list[str]:
    responder = Responder(n)
    rows = []
    try:
        for kind, ports, bare in (
            ("etcd", responder.http_ports, bare_http),
            ("zookeeper", responder.zk_ports, bare_4lw),
        ):
            bare_rate = await bare(ports, seconds)
            ours = await probes_saturated(kind, ports, seconds)
            at_100ms = await engine_run(kind, ports, 0.1, max(seconds, 30.0))
            fastest = at_100ms if holds(at_100ms) else None
            failed = None if fastest else at_100ms
            for interval in INTERVALS[1:]:
                if fastest is None:
                    break
                r = await engine_run(kind, ports, interval, seconds)
                if not holds(r):
                    failed = r
                    break
                fastest = r
            proto = "HTTP" if kind == "etcd" else "4lw"
            rows.append(
                f"| {n} | {proto} | {bare_rate:,.0f} | {ours:,.0f} ({ours / bare_rate:.0%}) | "
                f"{at_100ms['probes_per_s']:,.0f} | {at_100ms['p50_ms']:.2f} / {at_100ms['p99_ms']:.2f} / "
                f"{at_100ms['max_ms']:.2f} | "
                + (
                    f"{fastest['interval'] * 1000:g} ms: {fastest['probes_per_s']:,.0f} probes/s, "
                    f"p99 {fastest['p99_ms']:.2f} ms ({fastest['probes_per_s'] / bare_rate:.0%} of bare)"
                    if fastest
                    else "none"
                )
                + (
                    f"; at {failed['interval'] * 1000:g} ms: {failed['unknown']:.0f} unknown, "
                    f"{failed['skipped']:.0f} skipped, p99 {failed['p99_ms']:.2f} ms"
                    if failed
                    else ""
                )
                + " |"
            )
            print(rows[-1], flush=True)
    finally:
        responder.close()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--leader-every", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--sizes", default="3,30,300")
    ap.add_argument("--seconds", type=float, default=3.0)
    args = ap.parse_args()
    if args.serve:
        run_loop(_serve(args.serve, args.leader_every))
        return
    print(f"# {platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} cores")
    print(
        "| nodes | protocol | bare loop probes/s | quorumwatch probes, same loop | engine @100 ms probes/s "
        "| lateness @100 ms p50/p99/max ms | fastest interval that holds |"
    )
    print("|---|---|---|---|---|---|---|")
    for n in (int(s) for s in args.sizes.split(",")):
        asyncio.run(_run_size(n, args.seconds))


async def _run_size(n: int, seconds: float) -> None:
    await bench_size(n, seconds)


if __name__ == "__main__":
    main()
