"""Who led when, from role events of several nodes' logs (pure).

Per node, leader_start opens a leadership (its epoch from the event or the last `epoch` event),
leader_stop or follower_start closes it. A leadership whose start or end lies outside the logs is
marked open. Across nodes, clocks disagree: `skew` is the uncertainty between any two nodes
(after subtracting measured `offsets`), so an overlap is *certain* only if it survives shifting the
clocks by ±skew, and *possible* if some shift within ±skew creates it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from quorumwatch.analysis.verdicts import Overlap, uncovered
from quorumwatch.logs.rules import Pack
from quorumwatch.model import Verdict

LEADERSHIP = ("leader_start", "leader_stop", "follower_start")
"""Events that say who leads; `epoch`, `session` and `believed_leader` alone do not."""


@dataclass(frozen=True, slots=True)
class RoleEvent:
    node: str
    ts_ns: int
    kind: str
    epoch: int | None
    data: Mapping[str, str]
    file: str
    line: int
    message: str


@dataclass(frozen=True, slots=True)
class LeaderInterval:
    """A leadership the log shows: certain from start to end; an open side may reach further,
    possibly, up to `possible_start` / `possible_end` (the edges of all the logs read)."""

    node: str
    epoch: int | None
    start: int
    end: int
    open_start: bool
    open_end: bool
    possible_start: int | None = None
    possible_end: int | None = None

    @property
    def maybe(self) -> tuple[int, int]:
        """The stretch in which the node may have led."""
        lo = self.start if self.possible_start is None else min(self.start, self.possible_start)
        hi = self.end if self.possible_end is None else max(self.end, self.possible_end)
        return lo, hi


@dataclass(frozen=True)
class Forensics:
    intervals: tuple[LeaderInterval, ...]
    overlaps: tuple[Overlap, ...]
    anomalies: tuple[dict[str, Any], ...]
    gaps: tuple[tuple[int, int], ...]
    events: tuple[RoleEvent, ...]
    verdict: Verdict
    span: tuple[int, int]
    extra: dict[str, Any] = field(default_factory=dict)
    silent: tuple[str, ...] = ()
    """Nodes whose logs gave no leadership event while other nodes' did: nothing is known of them."""


def role_event(node: str, file: str, line: int, ts_ns: int, message: str, pack: Pack) -> RoleEvent | None:
    """The first rule of the pack that matches the message, as an event."""
    if not message.isascii():
        # a JSON string's escaped lone surrogate (\ud800) cannot be encoded for RE2: replaced
        message = message.encode("utf-8", "replace").decode("utf-8")
    for rule in pack.rules:
        m = rule.search(message)
        if m:
            groups = {k: v for k, v in m.groupdict().items() if v is not None}
            if (named := rule.epoch_of(m)) is not None:
                groups["epoch"] = named
            if "epoch" not in groups and rule.event != "epoch":
                # an `epoch` rule may name the epoch in the same line (--epoch with --leader-start)
                for other in pack.rules:
                    em = other.search(message) if other.event == "epoch" else None
                    if em and (found := other.epoch_of(em)):
                        groups["epoch"] = found
                        break
            epoch = None
            if "epoch" in groups:
                try:
                    epoch = int(groups["epoch"])
                except ValueError:
                    epoch = None
            elif "zxid" in groups:
                try:
                    epoch = int(groups["zxid"], 16) >> 32
                except ValueError:
                    epoch = None  # a word that is no zxid: no epoch, never a crash
            return RoleEvent(node, ts_ns, rule.event, epoch, groups, file, line, message)
    return None


def leader_intervals(
    node: str, events: Sequence[RoleEvent], span: tuple[int, int], whole: tuple[int, int] | None = None
) -> list[LeaderInterval]:
    """One node's leaderships from its events in time order; `span` is what the node's own log
    covers (its first and last record). A step-down with no election before it in the log (an
    excerpt, a rotated file) proves the node led up to it: that leadership opens at the node's
    first record (`open_start`: it may have begun earlier). A leadership still open at the end
    ends at the node's last record (`open_end`: it may go on after), never later: another node's
    longer log says nothing of this one. Beyond its own log, an open side is possible up to the
    edge of `whole` (all the logs read)."""
    lo, hi = whole or span
    out: list[LeaderInterval] = []
    open_at: int | None = None
    open_epoch: int | None = None
    open_named = False
    """Whether the open leadership's epoch was named by a leader line (not inherited)."""
    last_epoch: int | None = None
    seen_any = False
    for e in events:
        if e.kind == "epoch" and e.epoch is not None:
            last_epoch = e.epoch
            if open_at is not None and open_epoch is None:
                open_epoch = e.epoch  # named just after taking over (ZooKeeper's new zxid)
            continue
        if e.kind == "follower_start" and e.epoch is not None:
            last_epoch = e.epoch  # "entering candidate state ... term=3": the term a leadership would have
        if e.kind == "leader_start":
            epoch = e.epoch if e.epoch is not None else last_epoch
            if e.epoch is not None:
                last_epoch = e.epoch
            if open_at is not None and e.epoch is not None and not open_named:
                # the epoch the leadership opened with was only the last one this node heard of:
                # its own line naming the epoch is the truth (Patroni, then PostgreSQL's new timeline)
                open_epoch, open_named = e.epoch, True
            elif open_at is not None and epoch is not None and open_epoch is not None and epoch != open_epoch:
                out.append(LeaderInterval(node, open_epoch, open_at, e.ts_ns, False, False))
                open_at = None
            if open_at is None:
                open_at, open_epoch, open_named = e.ts_ns, epoch, e.epoch is not None
            elif open_epoch is None:
                open_epoch = epoch
            seen_any = True
        elif e.kind in ("leader_stop", "follower_start"):
            if open_at is not None:
                out.append(LeaderInterval(node, open_epoch, open_at, e.ts_ns, False, False))
                open_at = None
            elif not seen_any and e.kind == "leader_stop":
                # stepping down with no election in this log: it led since before the log begins
                epoch = e.epoch if e.epoch is not None else last_epoch
                out.append(LeaderInterval(node, epoch, span[0], e.ts_ns, True, False, possible_start=lo))
            seen_any = True
    if open_at is not None:
        end = max(span[1], open_at)
        out.append(LeaderInterval(node, open_epoch, open_at, end, False, True, possible_end=max(hi, end)))
    return out


def _overlap(a: LeaderInterval, b: LeaderInterval, skew: int) -> list[Overlap]:
    """Certain: the certain parts overlap whatever b's clock is off by within ±skew (shown in a's
    clock). Possible: what each may have led (an open side reaching the logs' edges) overlaps for
    some such difference; reported beside a certain overlap too when it reaches further (two nodes
    certainly led together for 80 µs, and possibly for 5.8 s: one's log ends while it leads)."""
    out = []
    # certain: they meet whatever b's clock is off by (every shift d in ±skew); the stretch common
    # to all shifts may be a single instant or even empty when one leadership is an instant (a log
    # that ends the moment its node took over): then the instant is where b's own lies. Leaderships
    # that only touch are a handover.
    if a.start < b.end - skew and b.start + skew < a.end:
        lo_c, hi_c = max(a.start, b.start + skew), min(a.end, b.end - skew)
        if hi_c < lo_c:
            lo_c = hi_c = min(max(b.start, a.start), a.end)
        out.append(Overlap((a.node, b.node), (a.epoch, b.epoch), lo_c, hi_c, True))
    (a_lo, a_hi), (b_lo, b_hi) = a.maybe, b.maybe
    lo, hi = max(a_lo, b_lo - skew), min(a_hi, b_hi + skew)
    reaches = (a.maybe, b.maybe) != ((a.start, a.end), (b.start, b.end))  # an open side goes on
    if lo < hi and (not out or (reaches and (lo < out[0].start or hi > out[0].end))):
        out.append(Overlap((a.node, b.node), (a.epoch, b.epoch), lo, hi, False))
    return out


def analyze_logs(
    events_by_node: Mapping[str, Iterable[RoleEvent]],
    *,
    skew_ns: int = 0,
    offsets_ns: Mapping[str, int] | None = None,
    covered_ns: Mapping[str, tuple[int | None, int | None]] | None = None,
) -> Forensics:
    """Intervals, overlaps, epoch anomalies and leaderless gaps. Offsets are subtracted from each
    node's timestamps (a node whose clock runs 0.3 s ahead has offset +0.3 s). `covered_ns` is each
    node's first and last record (in its own clock): where its log begins and ends; without it, the
    node's own first and last event."""
    offsets = offsets_ns or {}
    per_node: dict[str, list[RoleEvent]] = {}
    for node, evs in events_by_node.items():
        off = offsets.get(node, 0)
        corrected = [
            RoleEvent(e.node, e.ts_ns - off, e.kind, e.epoch, e.data, e.file, e.line, e.message) for e in evs
        ]
        per_node[node] = sorted(corrected, key=lambda e: e.ts_ns)
    all_events = sorted((e for evs in per_node.values() for e in evs), key=lambda e: (e.ts_ns, e.node))
    speaking = {n for n, evs in per_node.items() if any(e.kind in LEADERSHIP for e in evs)}
    if not speaking:
        # nothing examined says anything about leadership: never "ok"
        return Forensics((), (), (), (), tuple(all_events), Verdict.INCONCLUSIVE, (0, 0))
    silent = tuple(sorted(set(per_node) - speaking))
    span = (all_events[0].ts_ns, all_events[-1].ts_ns)
    covers = {n: _covered(n, evs, covered_ns, offsets) for n, evs in per_node.items() if evs}
    whole = (min(c[0] for c in covers.values()), max(c[1] for c in covers.values()))
    intervals = [
        iv for node in sorted(covers) for iv in leader_intervals(node, per_node[node], covers[node], whole)
    ]
    overlaps: list[Overlap] = []
    for a, b in itertools.combinations(intervals, 2):
        if a.node == b.node:
            continue
        first, second = (a, b) if a.node < b.node else (b, a)
        overlaps += _overlap(first, second, skew_ns)
    overlaps.sort(key=lambda o: (o.start, o.nodes))
    verdict = Verdict.strongest(o.kind for o in overlaps)
    return Forensics(
        tuple(intervals), tuple(overlaps), tuple(anomalies(intervals)), tuple(gaps(intervals, span)),
        tuple(all_events), verdict, span, silent=silent,
    )  # fmt: skip


def _covered(
    node: str,
    events: Sequence[RoleEvent],
    covered_ns: Mapping[str, tuple[int | None, int | None]] | None,
    offsets: Mapping[str, int],
) -> tuple[int, int]:
    """The stretch a node's own log covers, in the corrected clock: its first to its last record,
    widened to its events (a record's time is never outside what its log covers)."""
    first, last = (covered_ns or {}).get(node, (None, None))
    off = offsets.get(node, 0)
    lo, hi = events[0].ts_ns, events[-1].ts_ns
    return (lo if first is None else min(lo, first - off), hi if last is None else max(hi, last - off))


def anomalies(intervals: Sequence[LeaderInterval]) -> list[dict[str, Any]]:
    """One epoch claimed by two nodes; epochs going backwards (on a node, or over time)."""
    out: list[dict[str, Any]] = []
    by_epoch: dict[int, list[LeaderInterval]] = {}
    for iv in intervals:
        if iv.epoch is not None:
            by_epoch.setdefault(iv.epoch, []).append(iv)
    for epoch, ivs in sorted(by_epoch.items()):
        nodes = sorted({iv.node for iv in ivs})
        if len(nodes) > 1:
            out.append(
                {
                    "kind": "duplicate_epoch",
                    "epoch": epoch,
                    "nodes": nodes,
                    "starts": [iv.start for iv in sorted(ivs, key=lambda i: i.start)],
                }
            )
    ordered = sorted((iv for iv in intervals if iv.epoch is not None), key=lambda i: i.start)
    for prev, cur in itertools.pairwise(ordered):
        assert prev.epoch is not None and cur.epoch is not None
        if cur.epoch < prev.epoch:
            out.append(
                {
                    "kind": "epoch_backwards",
                    "from": {"node": prev.node, "epoch": prev.epoch, "at": prev.start},
                    "to": {"node": cur.node, "epoch": cur.epoch, "at": cur.start},
                }
            )
    return out


def gaps(intervals: Sequence[LeaderInterval], span: tuple[int, int]) -> list[tuple[int, int]]:
    """Stretches between the first and last leadership in the logs where no node may have led (an
    open side counts as far as it may reach)."""
    ivs = [iv.maybe for iv in intervals]
    return uncovered(ivs, min(s for s, _ in ivs), max(e for _, e in ivs)) if ivs else []
