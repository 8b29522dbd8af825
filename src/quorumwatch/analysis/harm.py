"""Did a second leader do harm? Checkers over recorded workload operations (pure).

- *lost*: an acknowledged (`ok`) add whose element is absent from the final read of the set, with
  what the probes said of the node that acknowledged it (`LostWrite`: it acted alone, beside
  another leader, as a stale leader, as the only leader, or not as leader);
- *duplicates*: an ID answered `ok` more than once (`unique-ids`);
- *stale reads* (`register`): each key's operations checked for linearizability
  (`analysis.linearizability`); every read that returned a value an acknowledged write had
  already replaced, with the node that served it and what the probes said of that node then;
- *stale acknowledgements*: an `ok` by a node while another node was certainly leader in a newer
  epoch throughout the request's [send, receive] window (without epochs: a leadership that began
  after the acknowledging node's own);
- per certain dual-leader window: what each leader was sent, and acknowledged, inside it.

`unknown` outcomes may or may not have taken effect: never lost, never failed, never duplicates.
Harm is `data_loss` > `duplicates` > `stale_reads` > `none_observed` (always with its
denominator) > `not_measured` (with the reason, also when a key's check ran out of time).
"""

from __future__ import annotations

import bisect
import contextlib
import gc
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from operator import attrgetter

from quorumwatch.analysis import linearizability as lin
from quorumwatch.analysis.intervals import Interval, NodeIntervals
from quorumwatch.analysis.verdicts import Overlap
from quorumwatch.model import COMPARE_FAILED, FinalRead, Harm, Operation, Outcome

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
class StaleRead:
    """A read that returned a value already overwritten (or, without such a write, the first read
    no order explains), and who served it by the probes' account."""

    read: Operation
    overwritten_by: Operation | None
    """The acknowledged write that had replaced the value before the read began."""
    served_as: str
    """`stale leader` (it led, a newer leader led too), `newer leader` (it led, and the value it
    missed was acknowledged by an older leader still acting: a write lost to it), `leader` (the only
    leader: no leader change, the system itself answered wrong), `not leader` (a follower or
    candidate answered)."""
    certain: bool
    """The probes prove it: its leadership (or a newer one's) certain throughout part of the read."""
    epoch: int | None
    newer_node: str | None
    newer_epoch: int | None
    older_node: str | None = None
    """`newer leader`: the older leader that acknowledged the overwriting write."""
    older_epoch: int | None = None

    @property
    def overwritten_s(self) -> float | None:
        """How long before the read began the overwriting write was acknowledged."""
        w = self.overwritten_by
        return None if w is None else (self.read.send_ns - w.recv_ns) / 1e9


@dataclass(frozen=True, slots=True)
class LostWrite:
    """A lost write and who acknowledged it, by the probes' account.

    `served_as`: `alone` (the only node that led or may have led during the request, and a
    different node led afterwards without the write: the node went on acting alone after losing
    its lease, the Patroni and Redis Cluster pattern), `beside another leader` (another node led,
    or may have, during the request), `stale leader` (a newer leader certainly led throughout),
    `leader` (the only leader, and no other led after it: the system itself lost it),
    `not leader` (no probe evidence the node led)."""

    op: Operation
    served_as: str
    epoch: int | None
    successor: str | None
    """The first other node certainly leading after the acknowledgement (`alone`, `leader` never)."""
    successor_start: int | None


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
    linearizability: lin.Linearizability | None = None
    """register: each key's verdict."""
    stale_reads: tuple[StaleRead, ...] = ()
    reads: int = 0
    """register: reads answered with a value (the stale reads' denominator)."""
    reads_by_node: tuple[tuple[str, int], ...] = ()
    lost_attributed: tuple[LostWrite, ...] = ()
    """`lost`, each with who acknowledged it as what (the same order)."""


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


_REG_KINDS: dict[str, lin.Kind] = {"read": "read", "write": "write", "cas": "cas"}
_REG_STATUS = {Outcome.OK: lin.Status.OK, Outcome.FAIL: lin.Status.FAIL, Outcome.UNKNOWN: lin.Status.UNKNOWN}


def register_ops(ops: Sequence[Operation]) -> list[lin.RegOp]:
    """A register workload's operations as the checker reads them (see `register_op`)."""
    return [r for r in map(register_op, ops) if r is not None]


def register_op(o: Operation) -> lin.RegOp | None:
    """One operation as the checker reads it: an unknown one never returned; None for what is no
    register operation, or a cas refused for another reason than its compare (it never happened)."""
    kind = _REG_KINDS.get(o.kind)
    if o.key is None or kind is None:
        return None
    if kind == "cas" and o.outcome is Outcome.FAIL and o.detail != COMPARE_FAILED:
        return None  # refused before comparing (not leader, read-only)
    ret = None if o.outcome is Outcome.UNKNOWN else o.recv_ns
    return lin.RegOp(
        o.index, o.key, kind, _REG_STATUS[o.outcome], o.send_ns, ret, o.value, o.expect, node=o.node
    )


class _Leaderships:
    """Who led when, by the probes: each node's certain and possible leaderships, searchable."""

    def __init__(self, per_node: Sequence[NodeIntervals]) -> None:
        self.certain = {n.node: (n.certain, [iv.start for iv in n.certain]) for n in per_node}
        self.possible = {n.node: (n.possible, [iv.start for iv in n.possible]) for n in per_node}
        self.led: dict[int, str] = {}
        """Who certainly led each epoch (the first seen, should two have claimed it)."""
        for n in per_node:
            for iv in n.certain:
                if iv.epoch is not None:
                    self.led.setdefault(iv.epoch, n.node)

    @staticmethod
    def _during(
        table: dict[str, tuple[tuple[Interval, ...], list[int]]], node: str, start: int, end: int
    ) -> Interval | None:
        ivs, starts = table.get(node, ((), []))
        k = bisect.bisect_right(starts, end) - 1
        # a node's intervals do not overlap one another: the last to begin is the only candidate
        return ivs[k] if k >= 0 and ivs[k].end >= start else None

    def attribute(self, read: Operation, by: Operation | None) -> StaleRead:
        start, end = read.send_ns, read.recv_ns
        mine = self._during(self.certain, read.node, start, end)
        maybe = mine or self._during(self.possible, read.node, start, end)
        epoch = mine.epoch if mine is not None and mine.epoch is not None else read.epoch
        newer: Interval | None = None
        for node in self.certain:
            y = None if node == read.node else self._during(self.certain, node, start, end)
            if y is None or (maybe is not None and not _newer(y, maybe, epoch)):
                continue
            if newer is None or _newer(y, newer, newer.epoch):
                newer = y  # the newest leadership beside the read
        newer_node = None if newer is None else newer.node
        newer_epoch = None if newer is None else newer.epoch
        if (
            newer is None
            and by is not None
            and by.epoch is not None
            and epoch is not None
            and by.epoch > epoch
        ):
            # the overwriting write was acknowledged in a newer epoch before the read began: a
            # newer leadership existed, whether or not the probes caught it leading
            newer_node, newer_epoch = self.led.get(by.epoch), by.epoch
        if maybe is None:
            served, certain = "not leader", newer_epoch is not None or newer_node is not None
        elif newer_node is not None or newer_epoch is not None:
            served, certain = "stale leader", mine is not None
        else:
            older = self._older_writer(by, maybe, epoch) if by is not None and by.node != read.node else None
            if by is not None and older is not None:
                return StaleRead(
                    read, by, "newer leader", mine is not None, epoch, None, None, by.node, older[0]
                )
            served, certain = "leader", mine is not None
        return StaleRead(read, by, served, certain, epoch, newer_node, newer_epoch)

    def _anyone_else(self, node: str, start: int, end: int) -> bool:
        return any(
            self._during(self.possible, other, start, end) is not None
            for other in self.possible
            if other != node
        )

    def lost(self, o: Operation, stale: bool) -> LostWrite:
        """Who acknowledged lost write `o`, as what (see `LostWrite`)."""
        start, end = o.send_ns, o.recv_ns
        mine = self._during(self.certain, o.node, start, end)
        maybe = mine or self._during(self.possible, o.node, start, end)
        epoch = mine.epoch if mine is not None and mine.epoch is not None else o.epoch
        if stale:
            return LostWrite(o, "stale leader", epoch, None, None)
        if maybe is None:
            return LostWrite(o, "not leader", epoch, None, None)
        if self._anyone_else(o.node, start, end):
            return LostWrite(o, "beside another leader", epoch, None, None)
        after = [
            ivs[k]
            for other, (ivs, starts) in self.certain.items()
            if other != o.node and (k := bisect.bisect_right(starts, end)) < len(ivs)
        ]
        if not after:
            return LostWrite(o, "leader", epoch, None, None)
        first = min(after, key=lambda iv: iv.start)
        return LostWrite(o, "alone", epoch, first.node, first.start)

    def _older_writer(self, by: Operation, mine: Interval, epoch: int | None) -> tuple[int | None] | None:
        """(its epoch,) of the writer's leadership when it acknowledged `by`, if older than the
        reader's `mine`; None when the writer was not leading or not older."""
        theirs = self._during(self.certain, by.node, by.send_ns, by.recv_ns) or self._during(
            self.possible, by.node, by.send_ns, by.recv_ns
        )
        if theirs is None:
            return None
        their_epoch = theirs.epoch if theirs.epoch is not None else by.epoch
        if their_epoch is not None and epoch is not None:
            return (their_epoch,) if their_epoch < epoch else None
        return (their_epoch,) if theirs.start < mine.start else None


def _newer(y: Interval, than: Interval, epoch: int | None) -> bool:
    """Is leadership `y` newer than `than` (whose epoch is `epoch`)? By epochs, else by start."""
    if y.epoch is not None and epoch is not None:
        return y.epoch > epoch
    return y.start > than.start


def stale_reads(
    ops: Sequence[Operation], result: lin.Linearizability, per_node: Sequence[NodeIntervals]
) -> list[StaleRead]:
    """Every read the check found stale, attributed; for a violated key with none (a search's
    verdict, or two reads no order of writes explains), its first unexplained operation if a read."""
    by_index = {o.index: o for o in ops}
    who = _Leaderships(per_node)
    out = []
    for k in result.keys:
        pairs: list[tuple[lin.RegOp, lin.RegOp | None]] = list(k.stale_reads)
        if not pairs and k.violation is not None and k.violation.op.kind == "read":
            pairs = [(k.violation.op, k.violation.stale_by[0] if k.violation.stale_by else None)]
        for r, w in pairs:
            out.append(who.attribute(by_index[r.index], None if w is None else by_index[w.index]))
    return sorted(out, key=lambda s: (s.read.send_ns, s.read.index))


@contextlib.contextmanager
def _acyclic() -> Iterator[None]:
    """The register check makes a record per operation, none of them cyclic: without the cyclic
    collector re-scanning them as they pile up, 1,000,000 operations convert in 2 s instead of 5
    (docs/benchmarks.md). Reference counting still frees everything."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _register_harm(
    ops: Sequence[Operation], per_node: Sequence[NodeIntervals], deadline_s: float
) -> tuple[Harm, str, lin.Linearizability, tuple[StaleRead, ...], tuple[tuple[str, int], ...]]:
    """The register checks: harm, its reason, each key's verdict, the stale reads, and the reads
    answered with a value per node (their sum is the denominator)."""
    with _acyclic():
        regs = register_ops(ops)
        by_node = Counter(r.node for r in regs if r.kind == "read" and r.status is lin.Status.OK)
        result = lin.check(regs, deadline_s=deadline_s)
    reads = sum(by_node.values())
    answered = tuple(sorted((str(n), c) for n, c in by_node.items()))
    keys = len(result.keys)
    verdict = result.verdict
    stale: tuple[StaleRead, ...] = ()
    if verdict is lin.KeyVerdict.VIOLATED:
        stale = tuple(stale_reads(ops, result, per_node))
        bad = [k.key for k in result.keys if k.verdict is lin.KeyVerdict.VIOLATED]
        certain = sum(1 for k in result.keys for _ in k.stale_reads)
        reason = (
            f"{certain:,} of {reads:,} reads returned values already overwritten"
            if certain
            else f"not linearizable: {bad[0]}: {next(k.violation.reason for k in result.keys if k.violation)}"
        )
        return (
            Harm.STALE_READS,
            f"{reason} ({len(bad)} of {keys} keys not linearizable)",
            result,
            stale,
            answered,
        )
    if verdict is lin.KeyVerdict.UNKNOWN:
        if not regs:
            return Harm.NOT_MEASURED, "no register operation was recorded", result, stale, answered
        undecided = [k for k in result.keys if k.verdict is lin.KeyVerdict.UNKNOWN]
        why = undecided[0].reason if undecided else "no operation was examined"
        names = ", ".join(k.key for k in undecided[:5]) + (", …" if len(undecided) > 5 else "")
        reason = f"linearizability undecided for {len(undecided)} of {keys} keys ({names}): {why}"
        return Harm.NOT_MEASURED, reason, result, stale, answered
    return (
        Harm.NONE_OBSERVED, f"0 stale reads among {reads:,} reads; all {keys} keys linearizable", result,
        stale, answered,
    )  # fmt: skip


def check(
    kind: str | None,
    ops: Sequence[Operation],
    final_read: FinalRead | None,
    overlaps: Sequence[Overlap],
    per_node: Sequence[NodeIntervals],
    *,
    deadline_s: float = 60.0,
) -> HarmReport:
    """Every checker over one run's operations, and the harm they add up to. `deadline_s` bounds
    the linearizability check of a register workload (a key not decided in time is `unknown`)."""
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
    checked_lin: lin.Linearizability | None = None
    stale_found: tuple[StaleRead, ...] = ()
    attributed: tuple[LostWrite, ...] = ()
    reads = 0
    reads_by_node: tuple[tuple[str, int], ...] = ()
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
            stale_ops = {id(st.op) for st in stale}
            who = _Leaderships(per_node)
            attributed = tuple(who.lost(o, id(o) in stale_ops) for o in lost)
            present = [
                o
                for o in ops
                if o.outcome is Outcome.FAIL and o.kind == "add" and o.value in final_read.values
            ]
            checked = acked
            harm = Harm.DATA_LOSS if lost else Harm.NONE_OBSERVED
            reason = f"{len(lost):,} of {acked:,} acknowledged writes lost"
    elif kind == "register":
        harm, reason, checked_lin, stale_found, reads_by_node = _register_harm(ops, per_node, deadline_s)
        checked = reads = sum(n for _, n in reads_by_node)
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
        final_read, checked_lin, stale_found, reads, reads_by_node, attributed,
    )  # fmt: skip
