"""One pass over a history's ticks, in order, keeping only what the verdicts need (pure).

Per node a `NodeTracker` turns observations into intervals as they stream by; besides those, the
pass keeps the observed span, the largest round trip, the start time of every tick (8 bytes each,
for slicing trials) and the leader answers of ticks with two or more of them (the only ticks the
artifact check looks at again). The ticks themselves are not held, so a history read lazily from
SQLite is analysed in memory that grows with its intervals, not with its observations.

The trackers assume each node's observations arrive in send order, which the engine guarantees
(tick k+1 is sent after tick k ends). Ticks built by hand may break that; the pass notices and
`digest` falls back to sorting each node's observations, as the batch definition says.
"""

from __future__ import annotations

import bisect
import dataclasses
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol, runtime_checkable

from quorumwatch.analysis.compaction import CompactedRun, DroppedLeaders
from quorumwatch.analysis.groups import group_key, named_groups
from quorumwatch.analysis.intervals import Interval, NodeIntervals, NodeTracker, group_by_node, node_intervals
from quorumwatch.model import Role, Tick


@dataclass(frozen=True)
class Digest:
    per_node: tuple[NodeIntervals, ...]
    """In order of first appearance."""
    span: tuple[int, int]
    """First send, last receive (monotonic ns); (0, 0) when nothing was observed."""
    max_rtt_ns: int
    observations: int
    multi_leader: tuple[Tick, ...]
    """Ticks with two or more leader answers, holding only those answers."""
    starts: Sequence[int]
    """Every tick's start, in order (with the ticks' own positions: `ticks[i]` started at `starts[i]`)."""
    answered: int = 0
    """Observations that said a role (not unknown): none means no node was ever heard from."""
    groups: tuple[str, ...] = ()
    """The groups the observations name (a sharded cluster), in `groups.group_key` order."""
    multi_leader_extra: int = 0
    """Ticks with two or more leader answers where some were compacted away (counted, never an
    artifact: a compacted leader led without a break across the tick)."""


class _OutOfOrder(Exception):
    pass


class Answer(NamedTuple):
    """One stored observation as the digest reads it (a row, not an `Observation`: a day of a
    30-node cluster is millions of them)."""

    tick: int
    node: str
    send_ns: int
    recv_ns: int
    role: Role
    epoch: int | None


@dataclass(frozen=True)
class Columns:
    """A stored history's ticks as the digest can read them without building them."""

    indexes: Sequence[int]
    """Every tick's index, in order."""
    starts: Sequence[int]
    """Every tick's start, in the same order."""
    answers: Iterator[Answer]
    """Every observation, in tick order."""


@runtime_checkable
class Columnar(Protocol):
    """Ticks (`store.StoredTicks`) that can also hand over their columns: None when they must be
    read as ticks (observations with groups)."""

    def columns(self) -> Columns | None: ...


def digest(ticks: Sequence[Tick], compacted: Sequence[CompactedRun] = ()) -> Digest:
    """One pass over `ticks` (re-iterated only if a node's observations are out of send order).
    `compacted`: what a compacted history dropped, added to the counts."""
    try:
        cols = ticks.columns() if isinstance(ticks, Columnar) else None
        dropped = DroppedLeaders(compacted) if compacted else None
        d = _stream(ticks, dropped) if cols is None else _columns(ticks, cols, compacted)
    except _OutOfOrder:
        d = _sorted(ticks, DroppedLeaders(compacted) if compacted else None)
    if not compacted:
        return d
    count = sum(r.count for r in compacted)
    return dataclasses.replace(
        d,
        observations=d.observations + count,
        answered=d.answered + count,
        max_rtt_ns=max(d.max_rtt_ns, *(r.max_rtt_ns for r in compacted)),
    )


def _stream(ticks: Sequence[Tick], dropped: DroppedLeaders | None = None) -> Digest:
    trackers: dict[str, NodeTracker] = {}
    found: dict[str, list[Interval]] = {}
    last_send: dict[str, int] = {}
    lo: int | None = None
    hi = max_rtt = count = answered = 0
    multi: list[Tick] = []
    extra = 0
    names: set[str] = set()
    starts = array("q")
    for tick in ticks:
        starts.append(tick.started_ns)
        leaders = 0
        for o in tick.observations:
            if o.send_ns < last_send.get(o.node, o.send_ns):
                raise _OutOfOrder
            last_send[o.node] = o.send_ns
            if lo is None or o.send_ns < lo:
                lo = o.send_ns  # only an open first segment starts here: fixed up at the end
            tracker = trackers.get(o.node)
            if tracker is None:
                tracker = trackers[o.node] = NodeTracker(o.node, lo)
                found[o.node] = []
            found[o.node] += tracker.feed(o)
            hi = max(hi, o.recv_ns)
            max_rtt = max(max_rtt, o.recv_ns - o.send_ns)
            count += 1
            answered += o.role is not Role.UNKNOWN
            leaders += o.role is Role.LEADER
            if o.groups:
                names.update(g.group for g in o.groups)
        gone = dropped.at(tick.index) if dropped else 0
        if leaders + gone > 1:
            if gone:
                extra += 1
            else:
                kept = tuple(o for o in tick.observations if o.role is Role.LEADER)
                multi.append(dataclasses.replace(tick, observations=kept))
    if lo is None:
        return Digest((), (0, 0), 0, 0, (), starts)
    per_node = _finished(trackers, found, lo, hi)
    return Digest(
        tuple(per_node), (lo, hi), max_rtt, count, tuple(multi), starts, answered,
        tuple(sorted(names, key=group_key)), extra,
    )  # fmt: skip


def _columns(ticks: Sequence[Tick], cols: Columns, compacted: Sequence[CompactedRun]) -> Digest:
    """`_stream` over a stored history's rows: the same digest, without a `Tick` per tick or an
    `Observation` per answer (those only for the ticks with two or more leader answers)."""
    trackers: dict[str, NodeTracker] = {}
    found: dict[str, list[Interval]] = {}
    last_send: dict[str, int] = {}
    lo: int | None = None
    hi = max_rtt = count = answered = 0
    leaders: dict[int, int] = {}
    for a in cols.answers:
        node, send, recv = a.node, a.send_ns, a.recv_ns
        if send < last_send.get(node, send):
            raise _OutOfOrder
        last_send[node] = send
        if lo is None or send < lo:
            lo = send
        tracker = trackers.get(node)
        if tracker is None:
            tracker = trackers[node] = NodeTracker(node, lo)
            found[node] = []
        if ivs := tracker.feed(a):
            found[node] += ivs
        if recv > hi:
            hi = recv
        if recv - send > max_rtt:
            max_rtt = recv - send
        count += 1
        if a.role is not Role.UNKNOWN:
            answered += 1
            if a.role is Role.LEADER:
                leaders[a.tick] = leaders.get(a.tick, 0) + 1
    multi, extra = _multi_leader(ticks, cols.indexes, leaders, compacted)
    if lo is None:
        return Digest((), (0, 0), 0, 0, (), cols.starts)
    per_node = _finished(trackers, found, lo, hi)
    return Digest(tuple(per_node), (lo, hi), max_rtt, count, tuple(multi), cols.starts, answered, (), extra)


def _finished(
    trackers: dict[str, NodeTracker], found: dict[str, list[Interval]], lo: int, hi: int
) -> list[NodeIntervals]:
    """Each node's intervals once the observations end (open starts moved to the first send)."""
    per_node = []
    for node, tracker in trackers.items():
        ivs = found[node] + tracker.finish(hi)
        ivs = [dataclasses.replace(iv, start=lo) if iv.open_start and iv.start != lo else iv for iv in ivs]
        per_node.append(
            NodeIntervals(
                node, tuple(iv for iv in ivs if iv.certain), tuple(iv for iv in ivs if not iv.certain)
            )
        )
    return per_node


def _multi_leader(
    ticks: Sequence[Tick], indexes: Sequence[int], leaders: dict[int, int], compacted: Sequence[CompactedRun]
) -> tuple[list[Tick], int]:
    """The ticks with two or more leader answers kept (only those answers), and how many more had
    two or more counting compacted ones — as `_stream` finds them tick by tick, from the ticks
    where any leader answer was kept and the tick ranges where compacted leader runs overlap."""
    dropped = DroppedLeaders(compacted)
    multi, extra = [], 0
    for k in sorted(leaders):
        gone = dropped.at(k) if dropped else 0
        if leaders[k] + gone > 1 and gone < 2:  # two or more gone: counted with the ranges below
            if gone:
                extra += 1
            else:
                pos = bisect.bisect_left(indexes, k)
                tick = ticks[pos]
                kept = tuple(o for o in tick.observations if o.role is Role.LEADER)
                multi.append(dataclasses.replace(tick, observations=kept))
    for first, end in dropped.ranges(at_least=2):  # compacted runs of two leaders over the same ticks
        extra += bisect.bisect_left(indexes, end) - bisect.bisect_left(indexes, first)
    return multi, extra


def _sorted(ticks: Sequence[Tick], dropped: DroppedLeaders | None = None) -> Digest:
    """The batch definition, holding every observation: for ticks out of send order."""
    obs = [o for t in ticks for o in t.observations]
    starts = array("q", (t.started_ns for t in ticks))
    multi = []
    extra = 0
    for t in ticks:
        leaders = tuple(o for o in t.observations if o.role is Role.LEADER)
        gone = dropped.at(t.index) if dropped else 0
        if len(leaders) + gone > 1:
            if gone:
                extra += 1
            else:
                multi.append(dataclasses.replace(t, observations=leaders))
    if not obs:
        return Digest((), (0, 0), 0, 0, (), starts)
    span = (min(o.send_ns for o in obs), max(o.recv_ns for o in obs))
    per_node = tuple(node_intervals(n, os_, span) for n, os_ in group_by_node(obs).items())
    max_rtt = max(o.recv_ns - o.send_ns for o in obs)
    answered = sum(o.role is not Role.UNKNOWN for o in obs)
    return Digest(per_node, span, max_rtt, len(obs), tuple(multi), starts, answered, named_groups(obs), extra)


__all__ = ["Digest", "digest"]
