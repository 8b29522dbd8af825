"""The verdict logic as ticks arrive (pure): the same certain and possible overlaps as the batch
analysis, graded live, in memory that does not grow with time.

Per node a `NodeTracker` keeps only its open run and segment. A closed interval is kept only while
another node could still close an interval that overlaps it; the overlap of two intervals is found
when the later of the two closes. Every certain interval lies inside one of its node's possible
intervals, so when a possible overlap is found every certain overlap inside it is already known and
is subtracted exactly as the batch does. At the end, the pieces are merged by the batch's own
`_merge`: online and batch give the same overlaps (property-tested).

Live, `feed` also reports changes: a certain dual leader the moment two proven leaderships overlap
(open runs of leader answers included), a possible one while two nodes' possible leaderships are
both open, and when each ends.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

from quorumwatch.analysis.intervals import Interval, NodeTracker
from quorumwatch.analysis.verdicts import Overlap, Window, _merge, _subtract, intersection, uncovered
from quorumwatch.model import Tick


@dataclass(frozen=True, slots=True)
class Change:
    """A graded finding that began or ended (times monotonic ns)."""

    what: str
    """`started` or `ended`."""
    certain: bool
    nodes: tuple[str, str]
    epochs: tuple[int | None, int | None]
    start: int
    end: int
    """How far it is proven (certain) or possible so far; the final end for `ended`."""
    group: str | None = None
    """The group both led (a sharded cluster); None: the one implicit group."""

    @property
    def kind(self) -> str:
        return Overlap(self.nodes, self.epochs, self.start, self.end, self.certain).kind


Pair = tuple[str, str]


@dataclass
class OnlineAnalysis:
    """Feed ticks in order; read `overlaps()` at any time (final after `finish()`)."""

    trackers: dict[str, NodeTracker] = field(default_factory=dict)
    kept: dict[str, list[Interval]] = field(default_factory=dict)
    """Closed intervals per node that a future interval of another node could still overlap."""
    certain_pieces: dict[Pair, list[Overlap]] = field(default_factory=dict)
    possible_pieces: list[Overlap] = field(default_factory=list)
    lo: int | None = None
    hi: int = 0
    finished: bool = False
    retain: bool = True
    """Keep every finding (for `overlaps()`). A live grader (the lines `watch` prints, its metrics)
    passes False: findings that can no longer change are dropped, so memory stays flat for months
    while the history keeps everything for the final analysis."""
    record: bool = False
    """Hand every piece to `take_found()` as soon as it is proven or possible: when an interval
    closes, its overlaps with closed intervals (as always) and with the parts of still-open ones
    observed so far (pieces of what will be found when those close). A `watch --retain` records
    them, so the ticks they came from can be deleted; `provisional()` adds what open intervals
    show together. Joined with what the kept ticks show, they give the whole history's overlaps."""
    _found: list[Overlap] = field(default_factory=list)
    _live: dict[tuple[Pair, bool, int], Change] = field(default_factory=dict)
    leaderless: LeaderlessSweep = field(default_factory=lambda: LeaderlessSweep())
    """The leaderless windows (`verdicts.leaderless`'s definition), final as the ticks come."""

    def __post_init__(self) -> None:
        self.leaderless.keep = self.retain

    # ---- feeding ----

    def feed(self, tick: Tick) -> list[Change]:
        if self.finished:
            raise RuntimeError("finished: feed a new OnlineAnalysis")
        if self.lo is None and tick.observations:
            self.lo = min(o.send_ns for o in tick.observations)
        for o in tick.observations:
            tracker = self.trackers.get(o.node)
            if tracker is None:
                assert self.lo is not None
                tracker = self.trackers[o.node] = NodeTracker(o.node, self.lo)
                self.kept[o.node] = []
            self.hi = max(self.hi, o.recv_ns)
            for iv in tracker.feed(o):
                self._closed(iv)
        if self.lo is not None:
            self.leaderless.sweep(self.trackers, self.lo)
        self._prune()
        return self._changes()

    def finish(self) -> list[Change]:
        """The observations ended: close what is open (as the batch closes it at the last receive)."""
        if self.finished:
            return []
        for node in sorted(self.trackers):
            for iv in self.trackers[node].finish(self.hi):
                self._closed(iv)
        if self.lo is not None:
            self.leaderless.finish(self.lo, self.hi)
        self.finished = True
        return self._changes(final=True)

    def _closed(self, x: Interval) -> None:
        self.leaderless.closed(x)
        for node, intervals in self.kept.items():
            if node == x.node:
                continue
            for y in intervals:
                if y.certain != x.certain:
                    continue
                piece = intersection(x, y)
                if piece is None:
                    continue
                if x.certain:
                    self.certain_pieces.setdefault(piece.nodes, []).append(piece)
                    found = [piece]
                else:
                    found = _subtract([piece], self.certain_pieces.get(piece.nodes, []))
                    self.possible_pieces += found
                if self.record:
                    self._found += found
        self.kept[x.node].append(x)
        if self.record:
            for node, t in self.trackers.items():
                z = t.certain_so_far if x.certain else t.possible_so_far
                if node == x.node or z is None or (piece := intersection(x, z)) is None:
                    continue
                self._found += (
                    [piece] if x.certain else _subtract([piece], self.certain_pieces.get(piece.nodes, []))
                )

    def _prune(self) -> None:
        """Drop closed intervals no other node can overlap any more: every later interval of a node
        starts at or after its open run's first receive and its segment's start."""
        bounds = self._bounds()
        for node, intervals in self.kept.items():
            others = [b for n, b in bounds.items() if n != node]
            if not others:
                continue
            floor = min(others)
            if intervals and intervals[0].end <= floor:
                self.kept[node] = [iv for iv in intervals if iv.end > floor]
        if not self.retain and bounds:
            # every piece found from now on starts at or after the lowest bound: older ones are final
            floor = min(bounds.values())
            self.possible_pieces = [p for p in self.possible_pieces if p.end > floor]
            for pair, pieces in list(self.certain_pieces.items()):
                if pieces and pieces[0].end <= floor:
                    self.certain_pieces[pair] = [p for p in pieces if p.end > floor] or pieces[-1:]

    def _bounds(self) -> dict[str, int]:
        """Per node, where the earliest interval it can still close starts."""
        bounds = {}
        for node, t in self.trackers.items():
            seg = t.seg_start if t.seg_start is not None else t.lo
            bounds[node] = min(seg, t.run_first_recv) if t.run_len else seg
        return bounds

    def take_found(self) -> list[Overlap]:
        """The pieces found since the last call (with `record`)."""
        out, self._found = self._found, []
        return out

    def provisional(self) -> list[Overlap]:
        """What the open intervals show together so far: overlaps of open runs of leader answers
        (proven), and of open possible leaderships. Each lies inside a piece that will be found
        when those intervals close; recorded now, they outlive the ticks that showed them."""
        runs = [iv for t in self.trackers.values() if (iv := t.certain_so_far) is not None]
        spans = [iv for t in self.trackers.values() if (iv := t.possible_so_far) is not None]
        out = []
        for group in (runs, spans):
            for i, a in enumerate(group):
                out += [p for b in group[i + 1 :] if (p := intersection(a, b)) is not None]
        return out

    # ---- results ----

    def overlaps(self) -> list[Overlap]:
        """Overlaps found so far, merged as the batch merges them (equal to it after `finish`)."""
        return _merge([p for ps in self.certain_pieces.values() for p in ps] + self.possible_pieces)

    @property
    def active(self) -> list[Change]:
        """Findings true at the last tick (certain ones with how far they are proven so far)."""
        return list(self._live.values())

    def memory(self) -> int:
        """Intervals and findings held (to check that memory does not grow with time)."""
        pieces = len(self.possible_pieces) + sum(len(v) for v in self.certain_pieces.values())
        pieces += len(self.leaderless.windows)
        return sum(len(v) for v in self.kept.values()) + (0 if self.retain else pieces)

    # ---- live grading ----

    def _current(self) -> dict[tuple[Pair, bool, int], Change]:
        """Findings true right now: proven overlaps still growing (an open run on either side),
        and possible ones between two open possible leaderships."""
        now: dict[tuple[Pair, bool, int], Change] = {}
        open_runs = {n: iv for n, t in self.trackers.items() if (iv := t.certain_so_far) is not None}
        for pair, pieces in self.certain_pieces.items():
            for p in pieces[-4:]:  # the latest pieces of a pair are the only ones that can still grow
                if any(n in open_runs and open_runs[n].start <= p.start for n in pair):
                    now[(pair, True, p.start)] = Change("started", True, pair, p.epochs, p.start, p.end)
        runs = sorted(open_runs.values(), key=lambda iv: iv.node)
        for i, a in enumerate(runs):
            for b in runs[i + 1 :]:
                lo, hi = max(a.start, b.start), min(a.end, b.end)
                if lo < hi:
                    pair = (a.node, b.node)
                    now[(pair, True, lo)] = Change("started", True, pair, (a.epoch, b.epoch), lo, hi)
        certain_pairs = {k[0] for k in now}
        since = sorted((n, s) for n, t in self.trackers.items() if (s := t.possible_since) is not None)
        for i, (na, sa) in enumerate(since):
            for nb, sb in since[i + 1 :]:
                pair = (na, nb)
                if pair in certain_pairs:
                    continue
                lo = max(sa, sb)
                now[(pair, False, lo)] = Change("started", False, pair, (None, None), lo, self.hi)
        return now

    def _changes(self, final: bool = False) -> list[Change]:
        now = {} if final else self._current()
        out: list[Change] = []
        for key, c in now.items():
            if key not in self._live:
                out.append(c)
        proven = {k[0] for k in now if k[1]}
        for key, c in self._live.items():
            if key not in now and not (not c.certain and c.nodes in proven):  # possible → proven: no "over"
                end = self._final_end(key, c)
                out.append(Change("ended", c.certain, c.nodes, c.epochs, c.start, end))
        self._live = now
        return out

    def _final_end(self, key: tuple[Pair, bool, int], c: Change) -> int:
        pair, certain, start = key
        if certain:
            ends = [p.end for p in self.certain_pieces.get(pair, []) if p.start == start]
            return max(ends, default=c.end)
        return min(self.hi, max((p.end for p in self.possible_pieces if p.nodes == pair), default=c.end))


@dataclass
class LeaderlessSweep:
    """`verdicts.leaderless` as the ticks come: certain windows (covered by no possible
    leadership) and possible ones (between certain leaderships, covered by none), each counted
    once it is final, in memory that does not grow with time. Batch and sweep give the same
    windows (property-tested), so Prometheus and results.json count the same seconds.

    Final up to a frontier, below which the cover is known. For possible leaderships it is the
    lowest last send over the nodes: no interval a node closes from then on starts before its last
    send (it starts at the send of the answer before it), and an open one covers everything from
    its start. For proven ones it is, per node, the last leader answer of an open run (a later one
    in its epoch may extend it) or else the last send (a new run starts at a later receive)."""

    keep: bool = True
    """Hand the windows over (`take`); a live grader, which needs only the seconds, keeps none, so
    a watch of months does not collect one per election."""
    windows: list[Window] = field(default_factory=list)
    """Final windows not yet taken (`take`)."""
    total_ns: dict[bool, int] = field(default_factory=lambda: {True: 0, False: 0})
    """Seconds (ns) of final windows so far, certain (True) and possible (False)."""
    _possible: list[tuple[int, int]] = field(default_factory=list)
    _certain: list[tuple[int, int]] = field(default_factory=list)
    _swept: int | None = None
    """Certain windows are final below this."""
    _c_swept: int | None = None
    """Possible windows are final below this (None: no proven leadership yet)."""
    _last: dict[bool, Window] = field(default_factory=dict)
    """The latest window of each kind, still growing when it reaches the sweep."""

    def closed(self, iv: Interval) -> None:
        (self._certain if iv.certain else self._possible).append((iv.start, iv.end))

    def sweep(self, trackers: dict[str, NodeTracker], lo: int) -> None:
        if not trackers:
            return
        ts = trackers.values()
        frontier = min(t.last_send for t in ts)
        open_possible = [(s, _INF) for t in ts if (s := t.possible_since) is not None]
        # an open run proves its leadership up to its last leader answer so far; after it, a later
        # answer in its epoch may still extend it (across unknown answers) or not
        certain_frontier = min(t.run_last_send if t.run_len else t.last_send for t in ts)
        open_certain = [(iv.start, iv.end) for t in ts if (iv := t.certain_so_far) is not None]
        self._advance(frontier, certain_frontier, lo, open_possible, open_certain)

    def finish(self, lo: int, hi: int) -> None:
        self._advance(hi, hi, lo, [], [])
        self._flush()

    def take(self) -> list[Window]:
        """Final windows found since the last call (the last one of each kind may still grow
        until `finish`: it is handed over then)."""
        out, self.windows = self.windows, []
        return out

    def _advance(
        self, frontier: int, certain_frontier: int, lo: int, open_possible: list[tuple[int, int]],
        open_certain: list[tuple[int, int]],
    ) -> None:  # fmt: skip
        start = lo if self._swept is None else self._swept
        if frontier > start:
            for a, b in uncovered(self._possible + open_possible, start, frontier):
                self._add(True, a, b)
            self._swept = frontier
            self._possible = [c for c in self._possible if c[1] > frontier]
        cover = self._certain + open_certain
        if self._c_swept is None:
            starts = [a for a, _ in cover if a < certain_frontier]
            if not starts:
                return
            self._c_swept = min(starts)
        if certain_frontier <= self._c_swept:
            return
        gaps = uncovered(cover, self._c_swept, certain_frontier)
        # a gap reaching the frontier counts only once a proven leadership ends it (at the end of
        # the observations it never does: the edges are not counted)
        trailing = gaps[-1][0] if gaps and gaps[-1][1] == certain_frontier else None
        for a, b in gaps if trailing is None else gaps[:-1]:
            self._add(False, a, b)
        self._c_swept = certain_frontier if trailing is None else trailing
        self._certain = [c for c in self._certain if c[1] > self._c_swept]

    def _add(self, certain: bool, a: int, b: int) -> None:
        self.total_ns[certain] += b - a
        last = self._last.get(certain)
        if last is not None and last.end == a:
            self._last[certain] = Window(last.start, b, certain)
            return
        if last is not None and self.keep:
            self.windows.append(last)
        self._last[certain] = Window(a, b, certain)

    def _flush(self) -> None:
        if self.keep:
            self.windows += self._last.values()
        self._last = {}
        self.windows.sort(key=lambda w: (w.start, not w.certain))


_INF = 1 << 62


@dataclass
class LiveGrading:
    """One cluster's live grading, fed once per tick and read by everything that shows it (printed
    lines, JSON lines, metrics, --on-verdict hooks), so the analysis runs once per tick. Keeps no
    finished findings (the history keeps everything for the final analysis)."""

    analysis: OnlineAnalysis = field(default_factory=lambda: OnlineAnalysis(retain=False))
    offset_ns: int = 0
    """Monotonic → wall clock, measured at the first tick (as results.json does)."""
    changes: list[Change] = field(default_factory=list)
    """What started or ended at the last tick fed."""
    groups: dict[str, OnlineAnalysis] = field(default_factory=dict)
    """A sharded cluster: one grading per group, fed the tick seen in that group."""
    _started: bool = False

    def feed(self, tick: Tick) -> list[Change]:
        if not tick.observations:
            self.changes = []
            return self.changes
        if not self._started:
            self.offset_ns, self._started = tick.wall_ns - tick.started_ns, True
        if self.groups or any(o.groups for o in tick.observations):
            from quorumwatch.analysis.groups import named_groups, project_tick

            for name in set(named_groups(tick.observations)) - self.groups.keys():
                self.groups[name] = OnlineAnalysis(retain=False)
            self.changes = [
                dataclasses.replace(c, group=name)
                for name in sorted(self.groups)
                for c in self.groups[name].feed(project_tick(tick, name))
            ]
            return self.changes
        self.changes = self.analysis.feed(tick)
        return self.changes

    @property
    def active(self) -> list[Change]:
        if self.groups:
            return [
                dataclasses.replace(c, group=n) for n in sorted(self.groups) for c in self.groups[n].active
            ]
        return self.analysis.active

    @property
    def leaderless_ns(self) -> dict[bool, int]:
        """Final leaderless time so far, certain and possible (summed over a sharded cluster's
        groups)."""
        if not self.groups:
            return self.analysis.leaderless.total_ns
        totals = [a.leaderless.total_ns for a in self.groups.values()]
        return {c: sum(t.get(c, 0) for t in totals) for c in (True, False)}


def analyze_online(ticks: Sequence[Tick]) -> OnlineAnalysis:
    """Run the online analysis over a whole history (what `watch` does tick by tick)."""
    a = OnlineAnalysis()
    for t in ticks:
        a.feed(t)
    a.finish()
    return a


__all__ = ["Change", "LeaderlessSweep", "LiveGrading", "OnlineAnalysis", "analyze_online"]
