"""Log truth joined with a run's observations (pure): how late did the detector see each role
change the logs record, and which ticks showing two `L` do the logs disprove?

Both sides carry wall-clock times (the observations' send time, the log timestamps); in the lab
they come from one clock, elsewhere the logs' skew applies.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from quorumwatch.analysis.groups import per_group
from quorumwatch.logs.forensics import Forensics, LeaderInterval
from quorumwatch.model import Observation, Role, Tick, Verdict


@dataclass(frozen=True, slots=True)
class DetectionLag:
    node: str
    change: str
    """"became leader" or "stopped leading"."""
    log_ns: int
    seen_ns: int | None
    """Wall time of the first observation that shows the change (its receive), if any."""

    @property
    def lag_s(self) -> float | None:
        return None if self.seen_ns is None else (self.seen_ns - self.log_ns) / 1e9


def detection_lags(f: Forensics, ticks: Sequence[Tick], limit_s: float = 60.0) -> list[DetectionLag]:
    """For every logged leadership start and stop inside the run, the first later answer showing it."""
    if not ticks:
        return []
    offset = ticks[0].wall_ns - ticks[0].started_ns  # wall = mono + offset for this run
    first_wall, last_wall = ticks[0].wall_ns, ticks[-1].wall_ns
    limit = limit_s * 1e9
    # per node, answers in send order: each change starts at its time (bisect) and stops at the limit
    answers: dict[str, list[tuple[int, int, Role]]] = {}
    for t in ticks:
        for o in t.observations:
            answers.setdefault(o.node, []).append((o.send_ns + offset, o.recv_ns + offset, o.role))
    sends: dict[str, list[int]] = {}
    for node, rows in answers.items():
        rows.sort(key=lambda x: x[0])
        sends[node] = [row[0] for row in rows]
    out = []
    for iv in f.intervals:
        changes = []
        if not iv.open_start:
            changes.append(("became leader", iv.start, True))
        if not iv.open_end:
            changes.append(("stopped leading", iv.end, False))
        rows = answers.get(iv.node, [])
        for change, at, leading in changes:
            if not first_wall <= at <= last_wall:
                continue
            seen = None
            for s, r, role in rows[bisect.bisect_left(sends.get(iv.node, []), at) :]:
                if s - at > limit:
                    break
                if role is not Role.UNKNOWN and (role is Role.LEADER) == leading:
                    seen = r
                    break
            out.append(DetectionLag(iv.node, change, at, seen))
    return sorted(out, key=lambda d: d.log_ns)


def disproved_ticks(f: Forensics, ticks: Sequence[Tick], skew_ns: int = 0) -> list[int]:
    """Ticks showing two or more `L` where the logs say the claimants did not lead at the same time
    anywhere inside the tick's answer windows (widened by the clock skew)."""
    if not ticks:
        return []
    offset = ticks[0].wall_ns - ticks[0].started_ns
    by_node: dict[str, list[LeaderInterval]] = {}
    for iv in f.intervals:
        by_node.setdefault(iv.node, []).append(iv)
    out = []
    for t in ticks:
        if any(o.groups for o in t.observations):
            # a sharded cluster: two leaders of one group (masters of different ranges are fine)
            claims = [
                [o for o, seen in zip(t.observations, projected, strict=True) if seen.role is Role.LEADER]
                for _, projected in per_group(t.observations)
            ]
        else:
            claims = [[o for o in t.observations if o.role is Role.LEADER]]
        if any(_disproved(leaders, by_node, offset, skew_ns) for leaders in claims):
            out.append(t.index)
    return out


def _disproved(
    leaders: list[Observation], by_node: dict[str, list[LeaderInterval]], offset: int, skew_ns: int
) -> bool:
    """Whether the logs show these claimants of one tick never leading at one instant inside its
    answer windows (widened by the skew)."""
    if len(leaders) < 2 or not all(o.node in by_node for o in leaders):
        return False
    lo = min(o.send_ns for o in leaders) + offset - skew_ns
    hi = max(o.recv_ns for o in leaders) + offset + skew_ns
    # what each may have led: a leadership open where its log ends may go on, so it disproves
    # nothing after that
    spans = []
    for o in leaders:
        spans.append([(max(iv.maybe[0], lo), min(iv.maybe[1], hi)) for iv in by_node[o.node]
                      if iv.maybe[0] < hi and lo < iv.maybe[1]])  # fmt: skip
    return _no_common_instant(spans)


def _no_common_instant(spans: list[list[tuple[int, int]]]) -> bool:
    """True when no two claimants' logged leaderships overlap inside the window."""
    for i in range(len(spans)):
        for j in range(i + 1, len(spans)):
            for a0, a1 in spans[i]:
                for b0, b1 in spans[j]:
                    if max(a0, b0) < min(a1, b1):
                        return False
    return True


def claimed_groups(ticks: Sequence[Tick]) -> dict[str, list[tuple[int, frozenset[str]]]]:
    """Per node of a sharded cluster, in send order: (wall time, the groups it led or claimed
    there). A failed Redis Cluster master still claims its ranges (`candidate`)."""
    if not ticks:
        return {}
    offset = ticks[0].wall_ns - ticks[0].started_ns
    out: dict[str, list[tuple[int, frozenset[str]]]] = {}
    for t in ticks:
        for o in t.observations:
            if o.role is Role.UNKNOWN:
                continue
            led = frozenset(g.group for g in o.groups if g.role in (Role.LEADER, Role.CANDIDATE))
            out.setdefault(o.node, []).append((o.send_ns + offset, led))
    for rows in out.values():
        rows.sort(key=lambda r: r[0])
    return out


def _groups_of(iv: LeaderInterval, rows: list[tuple[int, frozenset[str]]]) -> frozenset[str]:
    """The groups the probes saw the node lead inside the logged leadership, else at the answer
    nearest to it (a leadership the probes never overlapped: before the run, after it)."""
    if not rows:
        return frozenset()
    times = [r[0] for r in rows]
    lo, hi = bisect.bisect_left(times, iv.start), bisect.bisect_right(times, iv.end)
    if lo < hi:  # answers inside: what they claimed, nothing if they claimed nothing
        return frozenset().union(*(r[1] for r in rows[lo:hi]))
    near = [rows[k] for k in (lo - 1, hi) if 0 <= k < len(rows)]
    best = min(near, key=lambda r: min(abs(r[0] - iv.start), abs(r[0] - iv.end)))
    return best[1]


def regroup(f: Forensics, ticks: Sequence[Tick], skew_ns: int = 0) -> Forensics:
    """A sharded cluster's logs judged per group. Its log lines name no group (Redis Cluster's
    `Failover election won` says which node, not which slots), so each logged leadership is put in
    the groups the probes saw that node lead then; two leaderships overlap only within a group
    (three masters of three slot ranges are no split brain). Ungrouped runs are left as they are."""
    from quorumwatch.logs.forensics import _overlap

    claims = claimed_groups(ticks)
    if not any(g for rows in claims.values() for _, g in rows):
        return f
    groups = {id(iv): _groups_of(iv, claims.get(iv.node, [])) for iv in f.intervals}
    overlaps = []
    for a, b in itertools.combinations(f.intervals, 2):
        shared = sorted(groups[id(a)] & groups[id(b)])
        if a.node == b.node or not shared:
            continue
        first, second = (a, b) if a.node < b.node else (b, a)
        for o in _overlap(first, second, skew_ns):
            overlaps += [dataclasses.replace(o, group=g) for g in shared]
    overlaps.sort(key=lambda o: (o.start, o.nodes, o.group or ""))
    verdict = (
        Verdict.strongest(o.kind for o in overlaps) if f.verdict is not Verdict.INCONCLUSIVE else f.verdict
    )
    return dataclasses.replace(f, overlaps=tuple(overlaps), verdict=verdict)
