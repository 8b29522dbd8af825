"""etcd status answers captured from the lab's real etcd 3.4.23, plus garbage."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from quorumwatch.config import EtcdProbeConfig, NodeConfig
from quorumwatch.model import Role
from quorumwatch.probes.base import GarbageAnswer
from quorumwatch.probes.etcd import EtcdProbe, parse_status
from tests.responders import http_response, read_http_request, serve

ANSWERS = Path(__file__).parent / "fixtures" / "answers"


def test_captured_cluster_has_one_leader_and_agreeing_followers() -> None:
    answers = [parse_status(200, (ANSWERS / f"etcd-status-n{i}.json").read_bytes()) for i in (1, 2, 3)]
    assert [a.role for a in answers] == [Role.FOLLOWER, Role.LEADER, Role.FOLLOWER]
    assert {a.epoch for a in answers} == {2}
    # 64-bit ids survive exactly (as hex, like etcd's logs): the leader's own id is what all believe
    assert {a.leader for a in answers} == {format(11093195297742745536, "x")}
    assert answers[1].self_id == answers[1].leader


def test_member_without_leader_is_candidate_not_follower() -> None:
    a = parse_status(200, (ANSWERS / "etcd-status-noleader.json").read_bytes())
    assert a.role is Role.CANDIDATE
    assert a.leader is None and a.epoch == 2


@pytest.mark.parametrize(
    ("status", "body", "what"),
    [
        (200, b"not json", "not an etcd status"),
        (200, b'{"leader": "1"}', "not an etcd status"),
        (200, b'{"header": {"member_id": "x"}, "leader": "1"}', "not an etcd status"),
        (200, b'{"header": {"member_id": "99999999999999999999999"}}', "not an etcd status"),
        (200, b"[1,2]", "not an etcd status"),
        (503, b"unavailable", "HTTP 503"),
    ],
)
def test_garbage_is_garbage(status: int, body: bytes, what: str) -> None:
    with pytest.raises(GarbageAnswer, match=what):
        parse_status(status, body)


def test_probe_over_a_socket_posts_empty_json() -> None:
    body = (ANSWERS / "etcd-status-n2.json").read_bytes()
    seen: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while req := await read_http_request(reader):
            seen.append(req)
            writer.write(http_response(body))
            await writer.drain()

    async def main() -> Role:
        async with serve(handler) as port:
            probe = EtcdProbe(
                NodeConfig(name="n2", address=f"127.0.0.1:{port}"), EtcdProbeConfig(kind="etcd")
            )
            answer = await probe.ask()
            await probe.aclose()
            return answer.role

    assert asyncio.run(main()) is Role.LEADER
    assert seen[0].startswith(b"POST /v3/maintenance/status ") and seen[0].endswith(b"{}")
