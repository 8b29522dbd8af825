"""ZooKeeper four-letter-word answers captured from the lab's real ZooKeeper 3.8.0, plus garbage."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from quorumwatch.config import NodeConfig, ZookeeperProbeConfig
from quorumwatch.model import Reason, Role
from quorumwatch.probes.base import GarbageAnswer, classify
from quorumwatch.probes.zookeeper import ZookeeperProbe, parse_4lw
from tests.responders import serve

ANSWERS = Path(__file__).parent / "fixtures" / "answers"


def test_captured_srvr_answers() -> None:
    answers = [parse_4lw("srvr", (ANSWERS / f"zk-srvr-n{i}.txt").read_bytes()) for i in (1, 2, 3)]
    assert [a.role for a in answers] == [Role.FOLLOWER, Role.FOLLOWER, Role.LEADER]
    assert answers[2].epoch == 1  # Zxid 0x100000000: epoch in the high 32 bits
    assert answers[0].epoch == 0


def test_captured_mntr_answer() -> None:
    a = parse_4lw("mntr", (ANSWERS / "zk-mntr-n1.txt").read_bytes())
    assert a.role is Role.FOLLOWER


def test_not_serving_is_candidate() -> None:
    a = parse_4lw("srvr", (ANSWERS / "zk-srvr-looking.txt").read_bytes())
    assert a.role is Role.CANDIDATE


def test_not_whitelisted_is_unknown_with_advice() -> None:
    a = parse_4lw("srvr", b"srvr is not executed because it is not in the whitelist.\n")
    assert a.role is Role.UNKNOWN and a.reason is Reason.ERROR
    assert a.detail is not None and "4lw.commands.whitelist" in a.detail


@pytest.mark.parametrize(
    "data", [b"", b"Mode: emperor\n", b"hello\n", b"\xff\xfe\x00", b"Mode: leader\nZxid: 0xZZ\n"]
)
def test_garbage(data: bytes) -> None:
    with pytest.raises(GarbageAnswer):
        parse_4lw("srvr", data)


def test_probe_sends_the_word_and_reads_to_eof() -> None:
    got: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        got.append(await reader.readexactly(4))
        writer.write((ANSWERS / "zk-srvr-n3.txt").read_bytes())
        await writer.drain()
        writer.close()

    async def main() -> Role:
        async with serve(handler) as port:
            node = NodeConfig(name="z", address=f"127.0.0.1:{port}")
            return (await ZookeeperProbe(node, ZookeeperProbeConfig(kind="zookeeper")).ask()).role

    assert asyncio.run(main()) is Role.LEADER
    assert got == [b"srvr"]


def test_huge_answer_is_garbage() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(4)
        for _ in range(40):
            writer.write(b"Mode: leader\n" * 500)
            await writer.drain()

    async def main() -> None:
        async with serve(handler) as port:
            node = NodeConfig(name="z", address=f"127.0.0.1:{port}")
            await ZookeeperProbe(node, ZookeeperProbeConfig(kind="zookeeper")).ask()

    with pytest.raises(GarbageAnswer, match="larger than"):
        asyncio.run(main())


def test_silent_close_is_closed_not_a_role() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(4)
        writer.close()

    async def main() -> None:
        async with serve(handler) as port:
            node = NodeConfig(name="z", address=f"127.0.0.1:{port}")
            await ZookeeperProbe(node, ZookeeperProbeConfig(kind="zookeeper")).ask()

    with pytest.raises(EOFError) as err:
        asyncio.run(main())
    assert classify(err.value).reason is Reason.CLOSED
