"""Compact histories: what of a history the verdict needs, and no more (pure).

Nearly every answer of a healthy cluster repeats the node's answer before it. The analysis reads a
node's run of identical answers only by its ends: a leadership is certain from the first answer's
receive to the last one's send, a possible one is bounded by the definite non-leader answers
around it. So an observation lying between two stored observations of the same node that say
exactly what it says (role, epoch, believed leader, own id, groups, detail) can go; what it added
to the counts is kept per node as a `CompactedRun` (the observations, the highest round trip, the
ticks it covered: a dropped leader answer still counts toward the tick's leaders).

Unknown answers are never dropped, nor the answers beside them. Neither is anything from shortly
before the first injected fault on: trial figures read whole ticks (the first tick that converged,
the last claimant before the fault). The lossless claim is property-tested: the analysis of the
compacted history equals that of the whole one (tests/test_analysis_compaction.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from quorumwatch.model import Observation, Role, Tick

PROTECT_TICKS = 50
"""Ticks before the first fault that stay whole (the failover figures look back that far)."""


@dataclass(frozen=True, slots=True)
class CompactedRun:
    """Observations of one node dropped from the middle of a run of identical answers."""

    node: str
    first_tick: int
    last_tick: int
    """The first and last tick whose observation of this node was dropped (inclusive)."""
    role: Role
    count: int
    max_rtt_ns: int


def same_answer(a: Observation, b: Observation) -> bool:
    """What the verdict reads of an answer, equal (never for an unknown one)."""
    return (
        a.role is b.role and a.role is not Role.UNKNOWN and a.epoch == b.epoch and a.leader == b.leader
        and a.self_id == b.self_id and a.groups == b.groups and a.detail == b.detail
    )  # fmt: skip


def compact(
    ticks: Sequence[Tick],
    before: Mapping[str, Observation] | None = None,
    *,
    protect_from: int | None = None,
) -> tuple[list[Tick], list[CompactedRun]]:
    """The ticks with every droppable observation removed, and what was dropped, as runs.

    `before`: each node's last stored observation before these ticks (a compaction pass over the
    next stretch of a growing history); `protect_from`: no observation from this tick index on is
    dropped (`PROTECT_TICKS` before the first fault). A node's last observation here has nothing
    after it to compare with: it is kept (a later pass over a growing history decides it)."""
    prev: dict[str, Observation] = dict(before or {})
    # each node's observations in order, to look one ahead
    following: dict[tuple[str, int], Observation] = {}
    last_seen: dict[str, tuple[int, Observation]] = {}
    for t in ticks:
        for o in t.observations:
            if o.node in last_seen:
                following[(o.node, last_seen[o.node][0])] = o
            last_seen[o.node] = (t.index, o)
    kept_ticks: list[Tick] = []
    runs: list[CompactedRun] = []
    open_runs: dict[str, list[int]] = {}  # node -> [first, last, count, max_rtt, role as int]

    def close(node: str) -> None:
        r = open_runs.pop(node, None)
        if r is not None:
            runs.append(CompactedRun(node, r[0], r[1], _ROLES[r[4]], r[2], r[3]))

    for t in ticks:
        kept: list[Observation] = []
        for o in t.observations:
            p = prev.get(o.node)
            nxt = following.get((o.node, t.index))
            droppable = (
                (protect_from is None or t.index < protect_from)
                and p is not None and nxt is not None
                and same_answer(p, o) and same_answer(o, nxt)
            )  # fmt: skip
            if not droppable:
                close(o.node)
                kept.append(o)
                prev[o.node] = o
                continue
            r = open_runs.get(o.node)
            rtt = o.recv_ns - o.send_ns
            if r is None:
                open_runs[o.node] = [t.index, t.index, 1, rtt, _ROLE_INDEX[o.role]]
            else:
                r[1], r[2], r[3] = t.index, r[2] + 1, max(r[3], rtt)
        kept_ticks.append(Tick(t.index, t.scheduled_ns, t.started_ns, t.wall_ns, tuple(kept)))
    for node in list(open_runs):
        close(node)
    return kept_ticks, sorted(runs, key=lambda r: (r.first_tick, r.node))


_ROLES = tuple(Role)
_ROLE_INDEX = {r: i for i, r in enumerate(_ROLES)}


class DroppedLeaders:
    """How many compacted observations said leader at a tick, asked in increasing tick order (a
    sweep over the runs' ends: a run a day long costs two entries, not a day of ticks)."""

    def __init__(self, runs: Iterable[CompactedRun]) -> None:
        edges: dict[int, int] = {}
        for r in runs:
            if r.role is Role.LEADER:
                edges[r.first_tick] = edges.get(r.first_tick, 0) + 1
                edges[r.last_tick + 1] = edges.get(r.last_tick + 1, 0) - 1
        self._edges = sorted(edges.items())
        self._i = 0
        self._now = 0
        self._last = -(2**63)

    def __bool__(self) -> bool:
        return bool(self._edges)

    def ranges(self, at_least: int) -> Iterator[tuple[int, int]]:
        """The tick ranges [first, end) where at least `at_least` compacted runs said leader."""
        now, since = 0, None
        for tick, step in self._edges:
            now += step
            if now >= at_least and since is None:
                since = tick
            elif now < at_least and since is not None:
                yield since, tick
                since = None

    def at(self, tick: int) -> int:
        if tick < self._last:  # out of order: start the sweep again
            self._i, self._now = 0, 0
        self._last = tick
        while self._i < len(self._edges) and self._edges[self._i][0] <= tick:
            self._now += self._edges[self._i][1]
            self._i += 1
        return self._now


def first_fault_tick(ticks: Sequence[Tick], injections_ns: Iterable[int]) -> int | None:
    """The tick index compaction stops at: `PROTECT_TICKS` before the first fault's tick."""
    first = min(injections_ns, default=None)
    if first is None:
        return None
    return protected_from(
        next((t.index for t in ticks if t.started_ns >= first), ticks[-1].index + 1 if ticks else 0)
    )


def protected_from(fault_tick: int) -> int:
    """The first tick compaction leaves whole, given the first fault's tick."""
    return max(0, fault_tick - PROTECT_TICKS)
