"""Did a second leader do harm? Checkers over recorded workload operations (pure).

- *lost*: an acknowledged (`ok`) add whose element is absent from the final read of the set;
- *duplicates*: an ID answered `ok` more than once (`unique-ids`);
- *stale acknowledgements*: an `ok` by a node while another node was certainly leader in a newer
  epoch throughout the request's [send, receive] window (without epochs: a leadership that began
  after the acknowledging node's own);
- per certain dual-leader window: what each leader was sent, and acknowledged, inside it.

`unknown` outcomes may or may not have taken effect: never lost, never failed, never duplicates.
Harm is `data_loss` > `duplicates` > `none_observed` (always with its denominator) >
`not_measured` (with the reason).
"""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from operator import attrgetter

from quorumwatch.analysis.intervals import Interval, NodeIntervals
from quorumwatch.analysis.verdicts import Overlap
from quorumwatch.model import FinalRead, Harm, Operation, Outcome

_SEND = attrgetter("send_ns")


@dataclass(frozen=True, slots=True)
class Counts:
    sent: int = 0
    ok: int = 0
    fail: int = 0
    unknown: int = 0


@dataclass(frozen=True, slots=True)
class StaleAck:
    op: Operation
    newer_node: str
    newer_epoch: int | None


@dataclass(frozen=True, slots=True)
class Duplicate:
    value: str
    ops: tuple[Operation, ...]


@dataclass(frozen=True, slots=True)
class WindowSide:
    node: str
    epoch: int | None
    stale: bool
    """The older of the two leaderships (lower epoch; without epochs, the one that began first)."""
    counts: Counts


@dataclass(frozen=True, slots=True)
class WindowCounts:
    overlap: Overlap
    sides: tuple[WindowSide, WindowSide]


@dataclass(frozen=True, slots=True)
class HarmReport:
    kind: str | None
    """`set` or `unique-ids`; None when no workload ran."""
    harm: Harm
    reason: str
    """Why this harm: the denominator for none_observed, what is missing for not_measured."""
    per_node: tuple[tuple[str, Counts], ...]
    total: Counts
    checked: int
    """Acknowledged operations the loss or duplicate check covered (the denominator)."""
    lost: tuple[Operation, ...]
    failed_but_present: tuple[Operation, ...]
    """Definitely rejected adds whose element is in the final read: the client misjudged them."""
    duplicates: tuple[Duplicate, ...]
    stale: tuple[StaleAck, ...]
    windows: tuple[WindowCounts, ...]
    final_read: FinalRead | None


def _count(ops: Sequence[Operation]) -> Counts:
    # identity tests: hashing enum members a million times costs seconds
    ok = fail = 0
    for o in ops:
        if o.outcome is Outcome.OK:
            ok += 1
        elif o.outcome is Outcome.FAIL:
            fail += 1
    return Counts(len(ops), ok, fail, len(ops) - ok - fail)


def lost_writes(ops: Sequence[Operation], read: frozenset[str]) -> list[Operation]:
    return [o for o in ops if o.outcome is Outcome.OK and o.kind == "add" and o.value not in read]


def duplicate_ids(ops: Sequence[Operation]) -> list[Duplicate]:
    acked = [o for o in ops if o.outcome is Outcome.OK and o.kind == "id" and o.value is not None]
    seen = Counter(map(attrgetter("value"), acked))
    by_value: dict[str | None, list[Operation]] = defaultdict(list)
    for o in acked:
        if seen[o.value] > 1:  # lists only for the few repeated values
            by_value[o.value].append(o)
    dups = [Duplicate(str(v), tuple(os_)) for v, os_ in by_value.items()]
    return sorted(dups, key=lambda d: min(o.recv_ns for o in d.ops))


def stale_acks(ops: Sequence[Operation], per_node: Sequence[NodeIntervals]) -> list[StaleAck]:
    """Acknowledgements given while a newer leader certainly led throughout the request.

    A sweep over operations in send order with the certain leaderships active at that instant
    (at most one per node), so a million operations cost one pass."""
    certain = sorted((iv for n in per_node for iv in n.certain), key=lambda iv: iv.start)
    possible = {n.node: n.possible for n in per_node}
    possible_starts = {n.node: [iv.start for iv in n.possible] for n in per_node}
    ok = sorted((o for o in ops if o.outcome is Outcome.OK), key=_SEND)
    out: list[StaleAck] = []
    active: list[Interval] = []
    soonest_end = -1
    i = 0
    for o in ok:
        while i < len(certain) and certain[i].start <= o.send_ns:
            active.append(certain[i])
            soonest_end = min(iv.end for iv in active)
            i += 1
        if soonest_end < o.send_ns and active:
            active = [iv for iv in active if iv.end >= o.send_ns]
            soonest_end = min((iv.end for iv in active), default=-1)
        if len(active) == 1 and active[0].node == o.node:
            continue  # the common case: the one certain leader acknowledged
        for y in active:
            if y.node == o.node or y.end < o.recv_ns:
                continue
            if _older(o, y, possible.get(o.node, ()), possible_starts.get(o.node, [])):
                out.append(StaleAck(o, y.node, y.epoch))
                break
    return out


def _older(o: Operation, newer: Interval, possible: Sequence[Interval], starts: list[int]) -> bool:
    if o.epoch is not None and newer.epoch is not None:
        return o.epoch < newer.epoch
    # Without epochs, order leaderships by when they began: the acknowledging node's (possible)
    # leadership around the request against the other node's certain one.
    k = bisect.bisect_right(starts, o.send_ns) - 1
    if k < 0 or possible[k].end < o.recv_ns:
        return False  # not leading by our evidence: nothing to call stale
    return possible[k].start < newer.start


def window_counts(
    ops: Sequence[Operation], overlaps: Sequence[Overlap], per_node: Sequence[NodeIntervals]
) -> list[WindowCounts]:
    """Per certain overlap: operations sent to each of the two leaders inside it, by outcome."""
    by_node: dict[str, list[Operation]] = defaultdict(list)
    for o in sorted(ops, key=_SEND):
        by_node[o.node].append(o)
    sends = {n: [o.send_ns for o in os_] for n, os_ in by_node.items()}
    certain = {n.node: n.certain for n in per_node}
    out = []
    for ov in overlaps:
        if not ov.certain:
            continue
        sides = []
        began = []
        for node, epoch in zip(ov.nodes, ov.epochs, strict=True):
            lo = bisect.bisect_left(sends.get(node, []), ov.start)
            hi = bisect.bisect_right(sends.get(node, []), ov.end)
            sides.append((node, epoch, _count(by_node.get(node, [])[lo:hi])))
            began.append(
                next((iv.start for iv in certain.get(node, ()) if iv.start <= ov.start <= iv.end), ov.start)
            )
        (a, ea, ca), (b, eb, cb) = sides
        older_a = ea < eb if ea is not None and eb is not None else began[0] < began[1]
        out.append(WindowCounts(ov, (WindowSide(a, ea, older_a, ca), WindowSide(b, eb, not older_a, cb))))
    return out


def check(
    kind: str | None,
    ops: Sequence[Operation],
    final_read: FinalRead | None,
    overlaps: Sequence[Overlap],
    per_node: Sequence[NodeIntervals],
) -> HarmReport:
    """Every checker over one run's operations, and the harm they add up to."""
    nodes: dict[str, list[Operation]] = defaultdict(list)
    for o in ops:
        nodes[o.node].append(o)
    per = tuple((n, _count(os_)) for n, os_ in sorted(nodes.items()))
    total = Counts(*(sum(getattr(c, f) for _, c in per) for f in ("sent", "ok", "fail", "unknown")))
    stale = tuple(stale_acks(ops, per_node))
    windows = tuple(window_counts(ops, overlaps, per_node))
    lost: list[Operation] = []
    present: list[Operation] = []
    dups: list[Duplicate] = []
    checked = 0
    if kind is None:
        harm, reason = (
            Harm.NOT_MEASURED,
            "no workload ran: add one to measure harm (`workload:` in the scenario)",
        )
    elif kind == "set":
        acked = total.ok
        if final_read is None or final_read.values is None:
            why = final_read.detail if final_read is not None else "no final read was made"
            harm, reason = Harm.NOT_MEASURED, f"lost writes cannot be counted: {why}"
        elif acked == 0:
            harm, reason = Harm.NOT_MEASURED, f"none of the {total.sent} writes sent was acknowledged"
        else:
            lost = lost_writes(ops, final_read.values)
            present = [
                o
                for o in ops
                if o.outcome is Outcome.FAIL and o.kind == "add" and o.value in final_read.values
            ]
            checked = acked
            harm = Harm.DATA_LOSS if lost else Harm.NONE_OBSERVED
            reason = f"{len(lost):,} of {acked:,} acknowledged writes lost"
    else:
        dups = duplicate_ids(ops)
        checked = total.ok
        if checked == 0:
            harm, reason = Harm.NOT_MEASURED, f"none of the {total.sent} ID requests was answered"
        else:
            extra = sum(len(d.ops) - 1 for d in dups)
            harm = Harm.DUPLICATES if dups else Harm.NONE_OBSERVED
            reason = (
                f"{len(dups):,} IDs handed out more than once ({extra:,} extra) "
                f"among {checked:,} acknowledged"
                if dups
                else f"0 duplicates among {checked:,} acknowledged IDs"
            )
    return HarmReport(
        kind, harm, reason, per, total, checked, tuple(lost), tuple(present), tuple(dups), stale, windows,
        final_read,
    )  # fmt: skip
