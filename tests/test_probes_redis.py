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
from quorumwatch.lab.certs import LabCerts
from quorumwatch.model import Answer, Reason, Role
from quorumwatch.probes.base import GarbageAnswer
from quorumwatch.probes.redis import RedisProbe, parse_role
from tests.responders import answer_of, serve

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


@pytest.fixture(scope="module")
def redis_tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, LabCerts]]:
    """A real redis-server speaking only TLS, requiring client certificates, with the default user
    off and an ACL user `probe` (password `s3cret`); killed by pid afterwards."""
    from quorumwatch.lab.certs import make_lab_certs

    d = tmp_path_factory.mktemp("redis-tls")
    certs = make_lab_certs(d / "tls", {"n1": ["127.0.0.1"]})
    port = _free_port()
    pair = certs.servers["n1"]
    conf = d / "redis.conf"
    conf.write_text(
        "\n".join(
            [
                "port 0", f"tls-port {port}", "bind 127.0.0.1", 'save ""', "appendonly no", f"dir {d}",
                f"tls-cert-file {pair.cert}", f"tls-key-file {pair.key}", f"tls-ca-cert-file {certs.ca}",
                "tls-auth-clients yes", "user default off", "user probe on >s3cret ~* &* +@all",
            ]
        )
        + "\n"
    )  # fmt: skip
    proc = subprocess.Popen(["redis-server", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, (
                    "redis-server with TLS did not start"
                )
                time.sleep(0.05)
        yield port, certs
    finally:
        proc.kill()
        proc.wait()


def _ask_with(port: int, cfg: dict[str, object]) -> Answer:
    node = NodeConfig(name="n1", address=f"127.0.0.1:{port}")
    return asyncio.run(answer_of(RedisProbe(node, RedisProbeConfig.model_validate(cfg))))


def _access(certs: LabCerts, **extra: object) -> dict[str, object]:
    tls = {"ca": str(certs.ca), "cert": str(certs.client.cert), "key": str(certs.client.key)}
    return {"kind": "redis", "username": "probe", "tls": tls, **extra}


def test_tls_and_acl_on_a_real_redis(
    redis_tls: tuple[int, LabCerts], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port, certs = redis_tls
    assert _ask_with(port, _access(certs, password="s3cret")).role is Role.LEADER
    monkeypatch.setenv("QW_TEST_REDIS_PASSWORD", "s3cret")
    assert _ask_with(port, _access(certs, password={"env": "QW_TEST_REDIS_PASSWORD"})).role is Role.LEADER
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    assert _ask_with(port, _access(certs, password={"file": str(secret)})).role is Role.LEADER

    wrong = _ask_with(port, _access(certs, password="nope"))
    assert (wrong.role, wrong.reason, wrong.detail) == (Role.UNKNOWN, Reason.ERROR, "authentication failed")
    no_cert = _ask_with(port, {**_access(certs, password="s3cret"), "tls": {"ca": str(certs.ca)}})
    assert no_cert.role is Role.UNKNOWN and no_cert.detail and "client certificate" in no_cert.detail, no_cert
    plain = _ask_with(port, {"kind": "redis", "username": "probe", "password": "s3cret"})
    assert plain.role is Role.UNKNOWN and plain.reason is not None  # never a role over plain text


def test_the_workload_client_reaches_redis_as_the_probe_does(redis_tls: tuple[int, LabCerts]) -> None:
    from quorumwatch.model import Outcome
    from quorumwatch.workload.clients import make_client
    from quorumwatch.workload.spec import WorkloadSpec

    port, certs = redis_tls
    node = NodeConfig(name="n1", address=f"127.0.0.1:{port}")
    probe = RedisProbeConfig.model_validate(_access(certs, password="s3cret"))
    client = make_client("redis", WorkloadSpec.model_validate({"kind": "set"}), "tlsrun", probe)

    async def main() -> tuple[Outcome, frozenset[str]]:
        try:
            done = await client.add(node, "e1")
            return done.outcome, await client.read_all(node)
        finally:
            await client.aclose()

    outcome, members = asyncio.run(main())
    assert outcome is Outcome.OK and members == {"e1"}


# CLUSTER NODES / CLUSTER INFO as Redis Cluster 7.0 answers them (the lab's, ids shortened)
NODES_OF_N2 = """\
d84f 10.213.1.11:6379@16379 master - 0 1764780000000 1 connected 0-5460
79ab 10.213.1.12:6379@16379 myself,master - 0 1764780000000 2 connected 5461-10922
760f 10.213.1.13:6379@16379 master - 0 1764780000000 3 connected 10923-16383
0dd4 10.213.1.16:6379@16379 slave 79ab 0 1764780000000 2 connected
"""
INFO_OK = (
    "cluster_state:ok\r\ncluster_slots_assigned:16384\r\ncluster_current_epoch:6\r\ncluster_my_epoch:2\r\n"
)


def test_a_cluster_master_leads_its_slot_range_in_its_config_epoch() -> None:
    from quorumwatch.model import GroupRole
    from quorumwatch.probes.redis import parse_cluster

    a = parse_cluster(INFO_OK, NODES_OF_N2)
    assert (a.role, a.epoch, a.self_id) == (Role.LEADER, 2, "79ab")
    assert a.groups == (GroupRole("5461-10922", Role.LEADER, 2),)
    # cut off: still `master` in its own view, but the cluster is down for it (CLUSTERDOWN)
    down = parse_cluster(INFO_OK.replace("ok", "fail"), NODES_OF_N2)
    assert down.role is Role.CANDIDATE and down.groups == (GroupRole("5461-10922", Role.CANDIDATE, 2),)
    assert down.detail is not None and "CLUSTERDOWN" in down.detail


def test_a_cluster_replica_follows_its_master_s_ranges_and_odd_views_are_named() -> None:
    from quorumwatch.model import GroupRole
    from quorumwatch.probes.redis import parse_cluster

    replica = NODES_OF_N2.replace("myself,master", "master").replace(
        "0dd4 10.213.1.16:6379@16379 slave", "0dd4 10.213.1.16:6379@16379 myself,slave"
    )
    a = parse_cluster(INFO_OK, replica)
    assert (a.role, a.leader, a.groups) == (
        Role.FOLLOWER,
        "79ab",
        (GroupRole("5461-10922", Role.FOLLOWER, 2),),
    )
    several = "aa 1.1.1.1:1@2 myself,master - 0 0 4 connected 0-10 12 [13->-bb]\n"
    assert [g.group for g in parse_cluster(INFO_OK, several).groups] == [
        "0-10",
        "12",
    ]  # a migration is no range
    empty = parse_cluster(INFO_OK, "aa 1.1.1.1:1@2 myself,master - 0 0 0 connected\n")
    assert empty.role is Role.OBSERVER and empty.groups == ()
    for info, nodes in (
        ("cluster_enabled:1\r\n", NODES_OF_N2),  # no state
        (INFO_OK, NODES_OF_N2.replace("myself,", "")),  # no self
        (INFO_OK, "aa 1.1.1.1:1@2 myself,master -\n"),  # short line
        (INFO_OK, NODES_OF_N2.replace(" 2 connected 5461", " two connected 5461")),  # epoch not a number
        (INFO_OK, NODES_OF_N2.replace("myself,master", "myself,handshake")),
    ):
        with pytest.raises(GarbageAnswer):
            parse_cluster(info, nodes)
