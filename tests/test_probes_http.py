"""Generic HTTP probe: status-code and JSON-field rules."""

from __future__ import annotations

import asyncio

import pytest

from quorumwatch.config import HttpProbeConfig, NodeConfig
from quorumwatch.model import Reason, Role
from quorumwatch.probes.base import GarbageAnswer
from quorumwatch.probes.http import HttpProbe, interpret
from tests.responders import http_response, read_http_request, serve


def cfg(**kw: object) -> HttpProbeConfig:
    return HttpProbeConfig.model_validate({"kind": "http", **kw})


def test_patroni_style_status_codes() -> None:
    c = cfg(path="/leader", leader_status=[200], follower_status=[503])
    assert interpret(c, 200, b"").role is Role.LEADER
    assert interpret(c, 503, b"").role is Role.FOLLOWER
    bad = interpret(c, 500, b"")
    assert bad.role is Role.UNKNOWN and bad.reason is Reason.HTTP_STATUS


def test_default_follower_is_any_non_leader_status_below_500() -> None:
    c = cfg()
    assert interpret(c, 404, b"").role is Role.FOLLOWER
    assert interpret(c, 502, b"").role is Role.UNKNOWN


def test_json_field_rules() -> None:
    c = cfg(
        json_field="status.role", leader_value="leader", epoch_field="status.term", leader_id_field="leader"
    )
    a = interpret(c, 200, b'{"status": {"role": "leader", "term": 7}, "leader": "n1"}')
    assert (a.role, a.epoch, a.leader) == (Role.LEADER, 7, "n1")
    b = interpret(c, 200, b'{"status": {"role": "replica", "term": "7"}, "leader": "n1"}')
    assert (b.role, b.epoch) == (Role.FOLLOWER, 7)
    assert interpret(c, 503, b"{}").role is Role.UNKNOWN


@pytest.mark.parametrize(
    "body", [b"<html>", b'{"status": {}}', b'{"status": {"role": "leader", "term": "x"}}']
)
def test_json_garbage(body: bytes) -> None:
    c = cfg(json_field="status.role", leader_value="leader", epoch_field="status.term")
    with pytest.raises(GarbageAnswer):
        interpret(c, 200, body)


def test_probe_end_to_end() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while req := await read_http_request(reader):
            assert req.startswith(b"GET /status ")
            writer.write(http_response(b'{"is_leader": true}'))
            await writer.drain()

    async def main() -> Role:
        async with serve(handler) as port:
            probe = HttpProbe(
                NodeConfig(name="a", address=f"127.0.0.1:{port}"),
                cfg(path="/status", json_field="is_leader", leader_value=True),
            )
            return (await probe.ask()).role

    assert asyncio.run(main()) is Role.LEADER


def test_role_values_map_and_unknown_values_stay_unknown() -> None:
    c = cfg(
        json_field="role",
        role_values={"leader": "leader", "follower": "follower", "candidate": "candidate"},
        epoch_field="epoch",
        leader_id_field="leader",
    )
    a = interpret(c, 200, b'{"role": "candidate", "epoch": null, "leader": null}')
    assert (a.role, a.epoch, a.leader) == (Role.CANDIDATE, None, None)
    assert interpret(c, 200, b'{"role": "leader", "epoch": 9, "leader": "n1"}').role is Role.LEADER
    with pytest.raises(GarbageAnswer, match="unexpected role 'king'"):
        interpret(c, 200, b'{"role": "king"}')


def test_consul_style_leader_is_my_own_address() -> None:
    from quorumwatch.probes.http import for_node

    c = cfg(path="/v1/status/leader", json_field=".", leader_value="{host}:8300")
    me = for_node(c, NodeConfig(name="c1", address="10.0.0.1:8500"))
    other = for_node(c, NodeConfig(name="c2", address="10.0.0.2:8500"))
    answer = b'"10.0.0.1:8300"'
    assert interpret(me, 200, answer).role is Role.LEADER
    assert interpret(other, 200, answer).role is Role.FOLLOWER
    assert interpret(me, 200, b'""').role is Role.FOLLOWER  # no leader known: not this node
