"""The workload as an actor beside the probes: operations on a schedule that does not drift, routed
by what the latest tick shows, each bounded by an absolute deadline and recorded when it ends.

Operation k is due at t0 + k/rate. Each runs as its own task, so a node that hangs costs a pending
task, never a tick or the next operation. `claimed-leaders` sends each operation to every node the
latest tick shows as leader (clients on both sides of a split); before any tick showed one, to the
last nodes that did; with none ever seen, the slot is skipped and counted.

A `register` slot is a read, a write or a compare-and-set of one key, drawn from a generator seeded
by the spec (the same seed, the same sequence); every write sets a value unique within the run (the
operation's index), so the checker knows which write each read saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
from collections.abc import Callable
from dataclasses import dataclass

from quorumwatch.config import ClusterConfig, NodeConfig
from quorumwatch.engine import Clock, LoopClock, TickFeed
from quorumwatch.model import FinalRead, Operation, OperationKind, Outcome, Tick, WorkloadKind, excerpt
from quorumwatch.probes.base import GarbageAnswer
from quorumwatch.store import HistoryFile
from quorumwatch.workload.clients import OpResult, ReadError, WorkloadClient
from quorumwatch.workload.spec import RouteToNode, WorkloadSpec


@dataclass
class WorkloadStats:
    sent: int = 0
    ok: int = 0
    fail: int = 0
    unknown: int = 0
    skipped: int = 0
    """Slots with nowhere to send (no leader seen yet)."""

    def line(self) -> str:
        skipped = f", {self.skipped:,} slots skipped (no leader seen yet)" if self.skipped else ""
        return (
            f"workload: {self.sent:,} operations: {self.ok:,} ok, {self.fail:,} failed, "
            f"{self.unknown:,} unknown{skipped}"
        )


class Workload:
    def __init__(
        self,
        spec: WorkloadSpec,
        cluster: ClusterConfig,
        client: WorkloadClient,
        feed: TickFeed,
        record: Callable[[Operation], None],
        *,
        record_read: Callable[[FinalRead], None] = lambda read: None,
        clock: Clock | None = None,
    ) -> None:
        self.spec = spec
        self.nodes = {n.name: n for n in cluster.nodes}
        self.order = [n.name for n in cluster.nodes]
        self.client = client
        self.feed = feed
        self.record = record
        self.record_read = record_read
        self.clock = clock or LoopClock()
        self.stats = WorkloadStats()
        self._claimed: list[str] = []
        self._inflight: set[asyncio.Task[None]] = set()
        self._error: BaseException | None = None
        self._index = 0
        self._rng = random.Random(spec.seed)
        self._last: dict[str, str] = {}
        """register: the latest value this run saw of each key (what a cas expects)."""

    def plan(self) -> tuple[OperationKind, str | None]:
        """The next slot's operation kind and key."""
        spec = self.spec
        if spec.kind == WorkloadKind.SET:
            return OperationKind.ADD, None
        if spec.kind == WorkloadKind.UNIQUE_IDS:
            return OperationKind.ID, None
        x = self._rng.random()
        kind = (
            OperationKind.READ
            if x < spec.read_ratio
            else OperationKind.CAS
            if x < spec.read_ratio + spec.cas_ratio
            else OperationKind.WRITE
        )
        return kind, f"k{self._rng.randrange(spec.keys)}"

    # ---- routing ----

    def targets(self, slot: int) -> list[str]:
        route = self.spec.route
        if isinstance(route, RouteToNode):
            return [route.node]
        if route == "each-node":
            return [self.order[slot % len(self.order)]]
        tick = self.feed.last
        leaders = self._leaders(tick) if tick is not None else []
        if leaders:
            self._claimed = leaders
        return list(self._claimed)

    def _group_tick(self, tick: Tick) -> Tick:
        """A sharded cluster's tick seen in the group holding the workload's slot (its keys share
        one hash tag); any other tick as it is."""
        slot = getattr(self.client, "group_slot", None)
        if slot is None or not any(o.groups for o in tick.observations):
            return tick
        from quorumwatch.analysis.groups import group_holding, project_tick

        group = group_holding(tick, slot)
        return project_tick(tick, group) if group is not None else dataclasses.replace(tick, observations=())

    def _leaders(self, tick: Tick) -> list[str]:
        return [o.node for o in self._group_tick(tick).leaders]

    def _epoch(self, node: str) -> int | None:
        tick = self.feed.last
        if tick is None:
            return None
        return next((o.epoch for o in tick.observations if o.node == node), None)

    # ---- operations ----

    async def run(self, stop: asyncio.Event) -> WorkloadStats:
        """Send operations until `stop` is set, then wait for those in flight (each has a deadline).
        Raises what recording an operation raised (a full disk): the run must end with it."""
        clock = self.clock
        period_ns = round(1e9 / self.spec.rate)
        t0 = clock.now_ns()
        slot = 0
        try:
            while not stop.is_set() and self._error is None:
                due = t0 + slot * period_ns
                if clock.now_ns() < due:
                    with contextlib.suppress(TimeoutError):
                        async with clock.deadline(due):
                            await stop.wait()
                    if stop.is_set():
                        break
                targets = self.targets(slot)
                if not targets:
                    self.stats.skipped += 1
                kind, key = self.plan()
                for name in targets:
                    task = asyncio.get_running_loop().create_task(self._one(self.nodes[name], kind, key))
                    self._inflight.add(task)
                    task.add_done_callback(self._inflight.discard)
                slot += 1
        finally:
            if self._inflight:
                await asyncio.gather(*self._inflight, return_exceptions=True)
        if self._error is not None:
            raise self._error
        return self.stats

    async def _one(self, node: NodeConfig, kind: OperationKind, key: str | None) -> None:
        index = self._index
        self._index += 1
        element = str(index)
        expect = self._last.get(key) if kind == "cas" and key is not None else None
        clock = self.clock
        epoch = self._epoch(node.name)
        send, wall = clock.now_ns(), clock.wall_ns()
        self.stats.sent += 1
        try:
            async with clock.deadline(send + round(self.spec.timeout * 1e9)):
                result = await self._send(node, kind, key, element, expect)
        except TimeoutError:
            result = OpResult(Outcome.UNKNOWN, detail=f"no answer within {self.spec.timeout:g} s")
        except ConnectionRefusedError:
            result = OpResult(Outcome.FAIL, detail="connection refused")
        except (OSError, EOFError, GarbageAnswer) as exc:
            # after the request may have left: it may have taken effect
            result = OpResult(Outcome.UNKNOWN, detail=excerpt(f"{type(exc).__name__}: {exc}", 100))
        recv = clock.now_ns()
        value = result.value if kind in ("id", "read") else element
        if result.node is not None and result.node != node.name:
            epoch = self._epoch(result.node)  # redirected: the answering node's epoch
        op = Operation(
            index, kind, result.node or node.name, send, recv, wall, result.outcome, value,
            result.epoch if result.epoch is not None else epoch, result.detail, key, expect,
        )  # fmt: skip
        if key is not None and result.outcome is Outcome.OK and value is not None:
            self._last[key] = value
        counts = {Outcome.OK: "ok", Outcome.FAIL: "fail", Outcome.UNKNOWN: "unknown"}
        setattr(self.stats, counts[op.outcome], getattr(self.stats, counts[op.outcome]) + 1)
        try:
            self.record(op)
        except Exception as exc:
            self._error = self._error or exc

    async def _send(
        self, node: NodeConfig, kind: str, key: str | None, element: str, expect: str | None
    ) -> OpResult:
        if kind == "add":
            return await self.client.add(node, element)
        if kind == "id":
            return await self.client.new_id(node)
        assert key is not None
        if kind == "write":
            return await self.client.write(node, key, element)
        if kind == "cas":
            return await self.client.cas(node, key, expect, element)
        return await self.client.read(node, key)

    # ---- the final read ----

    async def read_back(self) -> str:
        """The final read, recorded; the line that says what it found. A register has none: its
        reads are part of the workload."""
        if self.spec.kind == "register":
            return "register: every read is checked as it was made (no final read)"
        read = await self.final_read()
        self.record_read(read)
        if read.values is None:
            return f"final read failed: {read.detail}"
        return f"final read from {read.node}: {len(read.values):,} elements"

    async def final_read(self) -> FinalRead:
        """Read the whole set from the first agreed leader within `final_read.within` seconds."""
        clock = self.clock
        spec = self.spec.final_read
        deadline = clock.now_ns() + round(spec.within * 1e9)
        why = "no tick showed one agreed leader"
        with contextlib.suppress(TimeoutError):
            async with clock.deadline(deadline):
                while True:
                    tick = await self.feed.next()
                    leader = self._group_tick(tick).agreed_leader
                    if leader is None:
                        continue
                    send, wall = clock.now_ns(), clock.wall_ns()
                    try:
                        async with clock.deadline(min(deadline, send + round(spec.timeout * 1e9))):
                            values = await self.client.read_all(self.nodes[leader])
                    except TimeoutError:
                        why = f"reading from {leader} took longer than {spec.timeout:g} s"
                        continue
                    except (ReadError, OSError, EOFError, GarbageAnswer) as exc:
                        why = str(exc)
                        continue
                    return FinalRead(leader, send, clock.now_ns(), wall, values)
        now = clock.now_ns()
        return FinalRead(
            "", now, now, clock.wall_ns(), None, f"no final read within {spec.within:g} s: {why}"
        )


def workload_for(
    spec: WorkloadSpec, cluster: ClusterConfig, history: HistoryFile, feed: TickFeed, run: str
) -> Workload:
    """A workload recording into `history`, its kind, client and rate noted in the history's meta."""
    from quorumwatch.workload.clients import make_client
    from quorumwatch.workload.spec import check_workload

    kind = check_workload(spec, cluster, "workload")
    for key, value in (
        ("workload_kind", spec.kind.value), ("workload_client", kind), ("workload_rate", repr(spec.rate)),
        ("workload_run", run),
    ):  # fmt: skip
        history.set_meta(key, value)
    client = make_client(kind, spec, run, cluster.probe, list(cluster.nodes))
    slot = getattr(client, "group_slot", None)
    if slot is not None:
        history.set_meta("workload_slot", str(slot))
    return Workload(
        spec, cluster, client, feed, history.append_operation, record_read=history.append_final_read
    )
