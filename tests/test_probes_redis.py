"""Redis ROLE: parsing, a scripted garbage server, and a real master + replica on loopback."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from quorumwatch.config import NodeConfig, RedisProbeConfig
from quorumwatch.model import Answer, Reason, Role
from quorumwatch.probes.base import GarbageAnswer
from quorumwatch.probes.redis import RedisProbe, parse_role
from tests.responders import serve

CFG = RedisProbeConfig(kind="redis")


def test_parse_role_replies() -> None:
    assert parse_role([b"master", 3129659, [[b"127.0.0.1", b"9001", b"3129242"]]]).role is Role.LEADER
    f = parse_role([b"slave", b"127.0.0.1", 9000, b"connected", 3167038])
    assert (f.role, f.leader) == (Role.FOLLOWER, "127.0.0.1:9000")
    assert parse_role([b"sentinel", [b"mymaster"]]).role is Role.OBSERVER


@pytest.mark.parametrize("reply", [b"OK", [], [b"primary"], [b"slave", b"x"], None])
def test_parse_role_garbage(reply: object) -> None:
    with pytest.raises(GarbageAnswer):
        parse_role(reply)


def _ask(port: int) -> Answer:
    async def main() -> Answer:
        probe = RedisProbe(NodeConfig(name="r", address=f"127.0.0.1:{port}"), CFG)
        try:
            return await probe.ask()
        finally:
            await probe.aclose()

    return asyncio.run(main())


def test_non_resp_server_is_garbage_or_closed_never_a_role() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        await writer.drain()
        writer.close()

    async def main() -> Answer:
        async with serve(handler) as port:
            probe = RedisProbe(NodeConfig(name="r", address=f"127.0.0.1:{port}"), CFG)
            try:
                return await probe.ask()
            except Exception as exc:
                from quorumwatch.probes.base import classify

                return classify(exc)

    answer = asyncio.run(main())
    assert answer.role is Role.UNKNOWN
    assert answer.reason in (Reason.GARBAGE, Reason.ERROR, Reason.RESET, Reason.CLOSED)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def redis_pair(tmp_path: Path) -> Iterator[tuple[int, int]]:
    """A real redis-server master and replica on loopback, killed by pid afterwards."""
    ports = (_free_port(), _free_port())
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for i, port in enumerate(ports):
            argv = [
                "redis-server",
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(tmp_path),
                "--dbfilename",
                f"d{i}.rdb",
            ]
            if i == 1:
                argv += ["--replicaof", "127.0.0.1", str(ports[0])]
            procs.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", ports[1]), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.05)
        yield ports
    finally:
        for p in procs:
            p.kill()
            p.wait()


def test_real_master_and_replica(redis_pair: tuple[int, int]) -> None:
    master, replica = redis_pair
    deadline = time.monotonic() + 20
    while True:
        m, r = _ask(master), _ask(replica)
        if (m.role is Role.LEADER and r.role is Role.FOLLOWER) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert m.role is Role.LEADER
    assert r.role is Role.FOLLOWER and r.leader == f"127.0.0.1:{master}"


def test_nothing_listening_is_refused() -> None:
    from quorumwatch.probes.base import classify

    with pytest.raises(ConnectionRefusedError) as err:
        _ask(_free_port())
    assert classify(err.value).reason is Reason.REFUSED
