"""The `patroni` probe: `/patroni`'s role and PostgreSQL's state, the timeline as epoch; a primary
that is not running serves nothing (the over-report a `/leader` status probe makes)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from quorumwatch.config import NodeConfig, PatroniProbeConfig
from quorumwatch.lab.manager import LabState
from quorumwatch.model import Reason, Role
from quorumwatch.probes.base import GarbageAnswer
from quorumwatch.probes.patroni import PatroniProbe, interpret
from tests.responders import answer_of, http_response, read_http_request, serve


def doc(**kw: object) -> bytes:
    """A `/patroni` answer as Patroni 3.0.2 gives it (lab-facts.md), fields replaced by `kw`."""
    base: dict[str, object] = {
        "state": "running", "postmaster_start_time": "2026-12-03 07:44:40.158+00:00", "role": "master",
        "server_version": 150005, "xlog": {"location": 50331968}, "timeline": 3,
        "dcs_last_seen": 1764747880, "database_system_identifier": "7441036466325233683",
        "patroni": {"version": "3.0.2", "scope": "pg", "name": "p1"},
    }  # fmt: skip
    base.update(kw)
    return json.dumps({k: v for k, v in base.items() if v is not None}).encode()


def test_a_running_primary_leads_in_its_timeline() -> None:
    for role in ("master", "primary", "standby_leader"):
        a = interpret(200, doc(role=role))
        assert (a.role, a.epoch, a.self_id) == (Role.LEADER, 3, "p1")


def test_a_running_replica_follows() -> None:
    a = interpret(200, doc(role="replica", timeline=3))
    assert (a.role, a.epoch) == (Role.FOLLOWER, 3)


@pytest.mark.parametrize("state", ["stopping", "demoting", "restarting", "stopped", "starting"])
def test_a_primary_whose_postgres_is_not_running_serves_nothing_and_says_why(state: str) -> None:
    """Patroni keeps `/leader` at 200 for ~6 s after PostgreSQL stopped taking writes; here that
    primary is a candidate, not a leader, and its answer names the state (timeline null then)."""
    a = interpret(503, doc(state=state, timeline=None))
    assert a.role is Role.CANDIDATE and a.epoch is None and a.detail == f"master {state}: not serving"


def test_a_replica_still_being_made_is_not_a_follower_yet() -> None:
    a = interpret(503, doc(role="replica", state="creating replica"))
    assert a.role is Role.CANDIDATE and a.detail == "replica creating replica"


@pytest.mark.parametrize(
    "body",
    [b"<html>", b"[]", b'{"role": "master"}', doc(role="emperor"), doc(timeline="3"), doc(timeline=True)],
)
def test_an_answer_that_does_not_say_is_garbage_never_a_role(body: bytes) -> None:
    with pytest.raises(GarbageAnswer):
        interpret(200, body)


def test_other_statuses_are_unknown() -> None:
    a = interpret(401, b"")
    assert a.role is Role.UNKNOWN and a.reason is Reason.HTTP_STATUS


def test_probe_end_to_end_against_a_scripted_node() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while req := await read_http_request(reader):
            assert req.startswith(b"GET /patroni ")
            writer.write(http_response(doc(role="replica")))
            await writer.drain()

    async def main() -> Role:
        async with serve(handler) as port:
            node = NodeConfig(name="p1", address=f"127.0.0.1:{port}")
            return (
                await answer_of(PatroniProbe(node, PatroniProbeConfig.model_validate({"kind": "patroni"})))
            ).role

    assert asyncio.run(main()) is Role.FOLLOWER


@pytest.mark.lab
@pytest.mark.shared_lab("patroni")
def test_a_real_patroni_lab_answers_one_primary_in_the_timeline_its_cluster_view_names(
    shared_lab: tuple[LabState, Path],
) -> None:
    """Each node's /patroni against the cluster's own member list (`/cluster`): the one primary,
    its timeline as epoch, every replica a follower, each answer naming its node."""
    import urllib.request

    from quorumwatch.check import probe_once
    from quorumwatch.config import load_cluster

    _, cluster_file = shared_lab
    cluster = load_cluster(cluster_file)
    tick = asyncio.run(probe_once(cluster))
    with urllib.request.urlopen(f"http://{cluster.nodes[0].address}/cluster", timeout=5) as r:
        members = {m["name"]: m for m in json.load(r)["members"]}
    by = {o.node: o for o in tick.observations}
    (leader,) = [n for n, m in members.items() if m["role"] == "leader"]
    assert by[leader].role is Role.LEADER and by[leader].epoch == members[leader]["timeline"]
    assert all(by[n].role is Role.FOLLOWER for n in members if n != leader)
    # Patroni 3.0 does not name its member in /patroni (later versions do, as `patroni.name`)
    assert all(o.self_id in (None, o.node) for o in tick.observations)
