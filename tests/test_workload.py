"""The workload actor against scripted etcd-like nodes on loopback: routing, outcomes, deadlines,
recording, the final read; and workload files validated with clear errors."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from quorumwatch.config import ClusterConfig, ConfigError
from quorumwatch.engine import TickFeed
from quorumwatch.model import Observation, Operation, OperationKind, Outcome, Role, Tick
from quorumwatch.workload.actor import Workload
from quorumwatch.workload.clients import EtcdClient, make_client
from quorumwatch.workload.spec import WorkloadSpec, check_workload, load_workload
from tests.responders import FakeKv, serve


def cluster(ports: list[int]) -> ClusterConfig:
    return ClusterConfig.model_validate(
        {
            "name": "t",
            "probe": {"kind": "etcd"},
            "nodes": [{"name": f"n{i + 1}", "address": f"127.0.0.1:{p}"} for i, p in enumerate(ports)],
        }
    )


def tick(roles: dict[str, Role], epoch: int = 4) -> Tick:
    obs = tuple(Observation(n, 0, 0, 1, 0, r, epoch if r is Role.LEADER else None) for n, r in roles.items())
    return Tick(0, 0, 0, 0, obs)


async def drive(wl: Workload, feed: TickFeed, seconds: float) -> None:
    """Run the workload for `seconds`, pushing a tick every 50 ms like the engine would."""
    stop = asyncio.Event()
    task = asyncio.create_task(wl.run(stop))
    last = feed.last
    assert last is not None
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        await asyncio.sleep(0.05)
        feed.push(last)
    stop.set()
    await task


def test_claimed_leaders_get_every_operation_and_the_final_read_finds_them() -> None:
    async def main() -> tuple[list[Operation], frozenset[str] | None, FakeKv, FakeKv]:
        leader, follower = FakeKv(term=4), FakeKv()
        async with serve(leader.handler) as p1, serve(follower.handler) as p2:
            c = cluster([p1, p2])
            spec = WorkloadSpec(kind="set", rate=100)
            ops: list[Operation] = []
            feed = TickFeed()
            feed.push(tick({"n1": Role.LEADER, "n2": Role.FOLLOWER}))
            wl = Workload(spec, c, EtcdClient(spec, "r1"), feed, ops.append)
            await drive(wl, feed, 0.5)
            read_task = asyncio.create_task(wl.final_read())
            await asyncio.sleep(0.01)
            feed.push(tick({"n1": Role.LEADER, "n2": Role.FOLLOWER}))
            read = await read_task
            await wl.client.aclose()
            return ops, read.values, leader, follower

    ops, values, leader, follower = asyncio.run(main())
    assert 20 <= len(ops) <= 80  # 100/s for 0.5 s, on a loaded machine
    assert {o.node for o in ops} == {"n1"} and all(o.outcome is Outcome.OK for o in ops)
    assert all(o.epoch == 4 and o.send_ns <= o.recv_ns for o in ops)  # the put's raft term
    assert [o.index for o in ops] == sorted(o.index for o in ops) == list(range(len(ops)))
    assert set(leader.keys) == {f"quorumwatch/r1/{o.value}" for o in ops} and follower.keys == {}
    # the range read is paged (3 keys a page here) and still returns every element
    assert values == frozenset(o.value for o in ops)


def test_two_claimed_leaders_each_get_every_slot() -> None:
    async def main() -> list[Operation]:
        a, b = FakeKv(), FakeKv()
        async with serve(a.handler) as p1, serve(b.handler) as p2:
            spec = WorkloadSpec(kind="set", rate=50)
            ops: list[Operation] = []
            feed = TickFeed()
            feed.push(tick({"n1": Role.LEADER, "n2": Role.LEADER}))
            wl = Workload(spec, cluster([p1, p2]), EtcdClient(spec, "r"), feed, ops.append)
            await drive(wl, feed, 0.3)
            await wl.client.aclose()
            return ops

    ops = asyncio.run(main())
    per = {n: sum(1 for o in ops if o.node == n) for n in ("n1", "n2")}
    assert per["n1"] == per["n2"] >= 5
    assert len({o.value for o in ops}) == len(ops)  # every operation writes its own element


def test_a_register_workload_reads_writes_and_compares_and_the_checker_sees_a_split() -> None:
    """Two nodes that do not share their data, written and read in turn: reads through one miss
    the other's acknowledged writes (stale reads); the same workload on one node is linearizable."""
    from quorumwatch.analysis.harm import check

    async def main(route: object) -> tuple[list[Operation], FakeKv, FakeKv]:
        a, b = FakeKv(term=3), FakeKv(term=3)
        async with serve(a.handler) as p1, serve(b.handler) as p2:
            spec = WorkloadSpec.model_validate(
                {
                    "kind": "register",
                    "rate": 200,
                    "keys": 2,
                    "read_ratio": 0.5,
                    "cas_ratio": 0.2,
                    "route": route,
                }
            )
            ops: list[Operation] = []
            feed = TickFeed()
            feed.push(tick({"n1": Role.LEADER, "n2": Role.FOLLOWER}))
            wl = Workload(spec, cluster([p1, p2]), EtcdClient(spec, "r"), feed, ops.append)
            await drive(wl, feed, 0.6)
            await wl.client.aclose()
            return ops, a, b

    ops, a, b = asyncio.run(main({"node": "n1"}))
    kinds = {o.kind for o in ops}
    assert kinds == {"read", "write", "cas"} and {o.key for o in ops} == {"k0", "k1"}
    assert all(o.outcome is Outcome.OK for o in ops if o.kind != "cas") and b.keys == {}
    assert any(o.kind == "cas" and o.outcome is Outcome.OK for o in ops)  # expects the last value seen
    last = {
        o.key: o.value
        for o in sorted(ops, key=lambda o: o.recv_ns)
        if o.kind in ("write", "cas") and o.outcome is Outcome.OK
    }
    assert {k.rsplit("/", 1)[1]: v for k, v in a.keys.items()} == last
    assert all(o.value == str(o.index) for o in ops if o.kind == "write")  # unique values
    one = check("register", ops, None, (), ())
    assert one.harm == "none_observed" and one.reads == sum(1 for o in ops if o.kind == "read")

    split, _, _ = asyncio.run(main("each-node"))
    h = check("register", split, None, (), ())
    assert h.harm == "stale_reads" and h.stale_reads
    assert h.linearizability is not None and h.linearizability.verdict == "violated"


def test_hangs_are_unknown_at_the_deadline_refusals_and_rejections_fail() -> None:
    async def main() -> dict[str, list[Operation]]:
        hang, reject, ambiguous = FakeKv(mode="hang"), FakeKv(mode="reject"), FakeKv(mode="timeout")
        out: dict[str, list[Operation]] = {}
        async with serve(hang.handler) as ph, serve(reject.handler) as pr, serve(ambiguous.handler) as pa:
            import socket

            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            refused = s.getsockname()[1]
            s.close()
            for name, port in (("hang", ph), ("reject", pr), ("timeout", pa), ("refused", refused)):
                spec = WorkloadSpec(kind="set", rate=40, timeout=0.2, route={"node": "n1"})
                ops: list[Operation] = []
                feed = TickFeed()
                feed.push(tick({"n1": Role.LEADER}))
                wl = Workload(spec, cluster([port]), EtcdClient(spec, "r"), feed, ops.append)
                await drive(wl, feed, 0.2)
                await wl.client.aclose()
                out[name] = ops
        return out

    out = asyncio.run(main())
    assert out["hang"] and all(o.outcome is Outcome.UNKNOWN for o in out["hang"])
    assert all(o.detail == "no answer within 0.2 s" for o in out["hang"])
    assert all(0.19e9 <= o.recv_ns - o.send_ns < 2e9 for o in out["hang"])
    assert out["reject"] and all(o.outcome is Outcome.FAIL for o in out["reject"])
    assert "key is not provided" in (out["reject"][0].detail or "")
    assert out["timeout"] and all(o.outcome is Outcome.UNKNOWN for o in out["timeout"])
    assert out["refused"] and all(o.outcome is Outcome.FAIL for o in out["refused"])


def test_no_leader_seen_yet_skips_slots_and_a_failing_recorder_ends_the_workload() -> None:
    async def main() -> tuple[int, str]:
        kv = FakeKv()
        async with serve(kv.handler) as port:
            spec = WorkloadSpec(kind="set", rate=100)
            feed = TickFeed()
            feed.push(tick({"n1": Role.FOLLOWER}))
            wl = Workload(spec, cluster([port]), EtcdClient(spec, "r"), feed, lambda o: None)
            await drive(wl, feed, 0.2)
            skipped = wl.stats.skipped

            def full(o: Operation) -> None:
                raise OSError("database or disk is full")

            feed.push(tick({"n1": Role.LEADER}))
            wl2 = Workload(spec, cluster([port]), EtcdClient(spec, "r"), feed, full)
            with pytest.raises(OSError, match="disk is full") as err:
                await asyncio.wait_for(wl2.run(asyncio.Event()), 5)
            await wl.client.aclose()
            await wl2.client.aclose()
            return skipped, str(err.value)

    skipped, err = asyncio.run(main())
    assert skipped >= 5 and "disk is full" in err


def test_final_read_without_an_agreed_leader_says_why() -> None:
    async def main() -> tuple[frozenset[str] | None, str | None]:
        spec = WorkloadSpec(kind="set", final_read={"within": 0.3})
        feed = TickFeed()
        c = cluster([1, 2])
        wl = Workload(spec, c, EtcdClient(spec, "r"), feed, lambda o: None)
        task = asyncio.create_task(wl.final_read())
        for _ in range(4):
            await asyncio.sleep(0.05)
            feed.push(tick({"n1": Role.LEADER, "n2": Role.LEADER}))
        read = await task
        return read.values, read.detail

    values, detail = asyncio.run(main())
    assert values is None and detail == "no final read within 0.3 s: no tick showed one agreed leader"


def test_command_client_for_unique_ids(tmp_path: Path) -> None:
    counter = tmp_path / "counter"
    counter.write_text("0")
    code = (
        "import sys; p=sys.argv[1]; n=int(open(p).read())+1; open(p,'w').write(str(n)); "
        "sys.exit(1) if n == 3 else print(n)"
    )
    spec = WorkloadSpec.model_validate(
        {
            "kind": "unique-ids",
            "client": "command",
            "command": {"argv": [sys.executable, "-c", code, str(counter)]},
        }
    )

    async def main() -> list[Operation]:
        ops: list[Operation] = []
        c = cluster([1])
        client = make_client(check_workload(spec, c, "w"), spec, "r")
        for i in range(4):
            res = await client.new_id(c.nodes[0])
            ops.append(Operation(i, OperationKind.ID, "n1", 0, 1, 0, res.outcome, res.value))
        await client.aclose()
        return ops

    ops = asyncio.run(main())
    assert [(o.outcome, o.value) for o in ops] == [
        (Outcome.OK, "1"), (Outcome.OK, "2"), (Outcome.FAIL, None), (Outcome.OK, "4"),
    ]  # fmt: skip


def test_workload_files_are_validated_with_file_line_and_field(tmp_path: Path) -> None:
    c = cluster([1, 2])
    f = tmp_path / "w.yaml"
    f.write_text("workload:\n  kind: set\n  rate: -1\n")
    with pytest.raises(ConfigError, match=r"w\.yaml:3: workload\.rate: .*greater than 0"):
        load_workload(f)
    f.write_text("workload:\n  kind: list\n")
    with pytest.raises(ConfigError, match=r"w\.yaml:2: workload\.kind"):
        load_workload(f)
    f.write_text("workload:\n  kind: set\n  client: http\n  http: {path: '/put/{vaule}'}\n")
    with pytest.raises(ConfigError, match=r"unknown placeholder \{vaule\}"):
        load_workload(f)
    f.write_text("faults: []\nworkload: {kind: set, route: {node: n9}}\n")  # a scenario file works too
    with pytest.raises(ConfigError, match="no node named 'n9'"):
        check_workload(load_workload(f), c, str(f))
    f.write_text("workload: {kind: unique-ids, client: etcd}\n")
    with pytest.raises(ConfigError, match="unique-ids needs an http or command client"):
        load_workload(f)
    f.write_text("workload: {kind: set, client: http, http: {path: /add}}\n")
    with pytest.raises(ConfigError, match="read_path"):
        check_workload(load_workload(f), c, str(f))
    f.write_text("workload: {kind: set}\n")
    assert check_workload(load_workload(f), c, str(f)) == "etcd"  # the cluster's probe kind


def test_a_patroni_cluster_s_workload_speaks_postgres_and_refuses_what_it_cannot_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from quorumwatch.workload.clients import PostgresClient

    node = {"name": "n1", "address": "127.0.0.1:8008"}
    patroni = ClusterConfig.model_validate({"name": "p", "probe": {"kind": "patroni"}, "nodes": [node]})
    spec = WorkloadSpec.model_validate({"kind": "set", "postgres": {"password": {"env": "QW_PG_PW"}}})
    assert check_workload(spec, patroni, "w.yaml") == "postgres"
    client = make_client("postgres", spec, "abc", patroni.probe)
    assert isinstance(client, PostgresClient) and client._table == "quorumwatch_abc"
    # the table name stays within PostgreSQL's 63-byte identifiers
    assert len(PostgresClient(spec, "r" * 100)._table) == 63
    with pytest.raises(ValueError, match="unique-ids needs an http or command client, not postgres"):
        WorkloadSpec.model_validate({"kind": "unique-ids", "client": "postgres"})
    with pytest.raises(ConfigError, match=r"workload\.read: serializable reads are an etcd client's choice"):
        check_workload(
            WorkloadSpec.model_validate({"kind": "register", "read": "serializable"}), patroni, "w"
        )

    async def connect_without_the_variable() -> None:
        await client._connect(patroni.nodes[0])

    monkeypatch.delenv("QW_PG_PW", raising=False)
    with pytest.raises(ConfigError, match=r"workload\.postgres\.password"):
        asyncio.run(connect_without_the_variable())


def test_a_postgres_write_to_a_node_that_refuses_connections_definitely_failed() -> None:
    """No connection: nothing was sent, so nothing was committed."""
    import socket

    from quorumwatch.workload.clients import PostgresClient

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: refused
        c = cluster([port])
        spec = WorkloadSpec.model_validate({"kind": "set", "postgres": {"port": port}})

        async def main() -> tuple[Outcome, str | None]:
            client = PostgresClient(spec, "x", spec.postgres)
            try:
                r = await client.add(c.nodes[0], "1")
            finally:
                await client.aclose()
            return r.outcome, r.detail

        outcome, detail = asyncio.run(main())
    assert outcome is Outcome.FAIL and detail is not None and detail.startswith("connect:")
