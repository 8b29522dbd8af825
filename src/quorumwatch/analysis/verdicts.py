"""Verdicts from intervals (pure): overlaps, artifact ticks, leaderless windows.

- *violation*: two nodes certainly leader at the same time in the same epoch;
- *dual leader*: certainly leader at the same time in different (or unknown) epochs;
- *possible*: only possible intervals overlap — the evidence allows an overlap, does not prove it;
- *artifact tick*: a tick showing two or more `L` whose leaderships provably did not overlap;
- *leaderless*: certain where no node can have been leader, possible where none certainly was.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from quorumwatch.analysis.intervals import Interval, NodeIntervals
from quorumwatch.model import Observation, OverlapKind, Role, Tick


@dataclass(frozen=True, slots=True)
class Overlap:
    nodes: tuple[str, str]
    epochs: tuple[int | None, int | None]
    start: int
    end: int
    certain: bool
    group: str | None = None
    """The group both led (a sharded cluster); None: the cluster's one implicit group."""

    @property
    def kind(self) -> OverlapKind:
        if not self.certain:
            return OverlapKind.POSSIBLE
        a, b = self.epochs
        return OverlapKind.VIOLATION if a is not None and a == b else OverlapKind.DUAL_LEADER

    @property
    def duration_ns(self) -> int:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class Window:
    start: int
    end: int
    certain: bool
    group: str | None = None

    @property
    def duration_ns(self) -> int:
        return self.end - self.start


def intersection(x: Interval, y: Interval) -> Overlap | None:
    """Where two intervals of different nodes (both certain, or both possible) overlap."""
    a, b = (x, y) if x.node < y.node else (y, x)
    lo, hi = max(a.start, b.start), min(a.end, b.end)
    return Overlap((a.node, b.node), (a.epoch, b.epoch), lo, hi, x.certain) if lo < hi else None


def _subtract(overlaps: list[Overlap], cover: list[Overlap]) -> list[Overlap]:
    """Parts of `overlaps` not inside any of `cover` (same pair). An overlap no cover piece
    touches is kept as it is; the others are cut by the cover pieces that reach into them, found
    by bisection (a day of a 30-node cluster: 430,000 possible pieces against a few thousand
    certain ones, which a loop over every cover piece per overlap made seconds)."""
    if not cover:
        return [_possible(o) for o in overlaps if o.start < o.end]
    cover = sorted(cover, key=lambda c: c.start)
    reach = list(itertools.accumulate((c.end for c in cover), max))  # cover[:i+1] ends by reach[i]
    out = []
    for o in overlaps:
        first = bisect.bisect_right(reach, o.start)  # cover before it all end at or before o.start
        if first == len(cover) or cover[first].start >= o.end:
            if o.start < o.end:
                out.append(_possible(o))
            continue
        pieces = [(o.start, o.end)]
        for c in cover[first:]:
            if c.start >= o.end:
                break
            nxt = []
            for lo, hi in pieces:
                if c.end <= lo or c.start >= hi:
                    nxt.append((lo, hi))
                    continue
                if lo < c.start:
                    nxt.append((lo, c.start))
                if c.end < hi:
                    nxt.append((c.end, hi))
            pieces = nxt
        out += [Overlap(o.nodes, o.epochs, lo, hi, False) for lo, hi in pieces if lo < hi]
    return out


def _possible(o: Overlap) -> Overlap:
    """`o` as a possible piece of its pair (no group: the caller names it)."""
    return o if o.group is None and not o.certain else Overlap(o.nodes, o.epochs, o.start, o.end, False)


def _merge(overlaps: list[Overlap]) -> list[Overlap]:
    """Join touching or overlapping pieces of the same pair and kind. A possible piece inside
    another of the same pair adds no time (it comes from the answer window two intervals of a node
    share) and is dropped first, so it cannot blur the epochs of the piece around it."""
    out: list[Overlap] = []
    for o in sorted(_outermost(overlaps), key=lambda o: (o.nodes, o.certain, o.start)):
        last = out[-1] if out else None
        if last and last.nodes == o.nodes and last.certain == o.certain and o.start <= last.end:
            epochs = last.epochs if last.epochs == o.epochs else (
                last.epochs[0] if last.epochs[0] == o.epochs[0] else None,
                last.epochs[1] if last.epochs[1] == o.epochs[1] else None,
            )  # fmt: skip
            if last.certain and last.kind != o.kind:
                out.append(o)  # a violation next to a dual leader stays its own finding
                continue
            out[-1] = Overlap(o.nodes, epochs, last.start, max(last.end, o.end), o.certain)
        else:
            out.append(o)
    return sorted(out, key=lambda o: (o.start, o.nodes))


def _outermost(overlaps: list[Overlap]) -> list[Overlap]:
    """Possible pieces not contained in another possible piece of the same pair (certain ones as they are)."""
    keep: list[Overlap] = []
    by_pair: dict[tuple[str, str], list[Overlap]] = {}
    for o in overlaps:
        if o.certain:
            keep.append(o)
        else:
            by_pair.setdefault(o.nodes, []).append(o)
    for pieces in by_pair.values():
        pieces.sort(key=lambda o: (o.start, -o.end))
        reach = None
        for o in pieces:
            if reach is not None and o.end <= reach:
                continue  # inside an earlier piece (same or earlier start, later or same end)
            keep.append(o)
            reach = o.end if reach is None else max(reach, o.end)
    return keep


def overlaps(per_node: Sequence[NodeIntervals]) -> list[Overlap]:
    """Certain overlaps, and possible overlaps outside them, for every pair of nodes."""
    nodes = sorted(per_node, key=lambda n: n.node)
    certain = _swept([n.certain for n in nodes])
    possible = _swept([n.possible for n in nodes])
    found: list[Overlap] = []
    for i, j in itertools.combinations(range(len(nodes)), 2):
        mine = certain.get((i, j), [])
        found += mine + _subtract(possible.get((i, j), []), mine)
    return _merge(found)


def _swept(lists: Sequence[Sequence[Interval]]) -> dict[tuple[int, int], list[Overlap]]:
    """Every intersection of intervals of two different lists (each a node's, sorted by start), by
    the pair of list positions (lower first); each pair's pieces in the order of the first list's
    intervals, then the second's. One sweep over all the intervals by start, holding those still
    open: the work grows with the intersections, not with pairs × intervals (30 nodes: 435 pairs)."""
    items = sorted(
        ((iv.start, n, k, iv) for n, ivs in enumerate(lists) for k, iv in enumerate(ivs)), key=lambda t: t[0]
    )
    open_: list[tuple[int, int, Interval]] = []
    found: dict[tuple[int, int], list[tuple[int, int, Overlap]]] = {}
    for start, n, k, iv in items:
        if open_:
            open_ = [o for o in open_ if o[2].end > start]
        for m, q, other in open_:
            if m != n and (piece := intersection(iv, other)) is not None:
                pair, order = ((m, n), (q, k)) if m < n else ((n, m), (k, q))
                found.setdefault(pair, []).append((*order, piece))
        open_.append((n, k, iv))
    return {
        pair: [p for *_, p in sorted(pieces, key=lambda t: (t[0], t[1]))] for pair, pieces in found.items()
    }


def combine(found: list[Overlap], recorded: Sequence[Overlap]) -> list[Overlap]:
    """`found` (merged overlaps of the ticks still held) joined with pieces recorded before older
    ticks were deleted (`watch --retain`), as the batch joins its own pieces: possible time inside a
    certain piece of the same pair is not possible."""
    if not recorded:
        return found
    # recorded first: where two pieces cover the same time, the one the live grading found (from
    # whole intervals) names the epochs, not one from intervals the deletion cut short
    pieces = [*recorded, *found]
    certain: dict[tuple[str, str], list[Overlap]] = {}
    for o in pieces:
        if o.certain:
            certain.setdefault(o.nodes, []).append(o)
    possible = [p for o in pieces if not o.certain for p in _subtract([o], certain.get(o.nodes, []))]
    return _merge([o for o in pieces if o.certain] + possible)


def artifact_ticks(ticks: Sequence[Tick], per_node: dict[str, NodeIntervals]) -> list[int]:
    """Ticks with two or more `L` where, for every pair of claimants, the possible leaderships
    that contain their answers are disjoint: the tick's claims provably did not overlap."""
    out = []
    for tick in ticks:
        leaders = [o for o in tick.observations if o.role is Role.LEADER]
        if len(leaders) < 2:
            continue
        if all(_disjoint(a, b, per_node) for a, b in itertools.combinations(leaders, 2)):
            out.append(tick.index)
    return out


def _disjoint(a: Observation, b: Observation, per_node: dict[str, NodeIntervals]) -> bool:
    pa = _around(a, per_node[a.node].possible)
    pb = _around(b, per_node[b.node].possible)
    if pa is None or pb is None:
        return False
    return pa.end <= pb.start or pb.end <= pa.start


def _around(o: Observation, intervals: Sequence[Interval]) -> Interval | None:
    for iv in intervals:
        if iv.start <= o.send_ns and o.recv_ns <= iv.end:
            return iv
    return None


def uncovered(intervals: Sequence[tuple[int, int]], lo: int, hi: int) -> list[tuple[int, int]]:
    """Maximal sub-ranges of [lo, hi] covered by none of `intervals`."""
    gaps = []
    cur = lo
    for s, e in sorted(intervals):
        if s > cur:
            gaps.append((cur, min(s, hi)))
        cur = max(cur, e)
        if cur >= hi:
            break
    if cur < hi:
        gaps.append((cur, hi))
    return [(s, e) for s, e in gaps if s < e]


def leaderless(per_node: Sequence[NodeIntervals], span: tuple[int, int]) -> list[Window]:
    """Certain: covered by no possible leadership. Possible: between certain leaderships, where
    no node was certainly leader (the edges of the observation are not counted)."""
    lo, hi = span
    possible = [(iv.start, iv.end) for n in per_node for iv in n.possible]
    certain = [(iv.start, iv.end) for n in per_node for iv in n.certain]
    out = [Window(s, e, True) for s, e in uncovered(possible, lo, hi)]
    if certain:
        c_lo = min(s for s, _ in certain)
        c_hi = max(e for _, e in certain)
        out += [Window(s, e, False) for s, e in uncovered(certain, c_lo, c_hi)]
    return sorted(out, key=lambda w: (w.start, not w.certain))
