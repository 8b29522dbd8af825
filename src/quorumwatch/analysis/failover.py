"""Failover metrics per injected fault, and their spread over trials (pure)."""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from quorumwatch.analysis.intervals import Interval, NodeIntervals
from quorumwatch.model import Role, Tick

FIGURES = ("time_to_new_leader_s", "leaderless_s", "stale_leader_s", "converged_after_heal_s")


@dataclass(frozen=True, slots=True)
class FaultWindow:
    """An injected fault as the history recorded it."""

    fault: str
    target: Any
    nodes: tuple[str, ...]
    injected_ns: int
    healed_ns: int | None
    trial: int | None = None


@dataclass(frozen=True, slots=True)
class TrialMetrics:
    window: FaultWindow
    """The fault these figures are about."""
    old_leader: str | None
    new_leader: str | None
    time_to_new_leader_s: float | None
    leaderless_s: float | None
    stale_leader_s: float | None
    old_leader_last_seen_s: float | None
    converged_after_heal_s: float | None
    max_lateness_s: float = 0.0
    """How late the latest-starting tick of the trial began: the engine's own disturbance."""
    skipped_ticks: int = 0
    """Ticks the engine skipped inside the trial (it fell behind by half a deadline: a stalled
    machine). A trial with skipped ticks was disturbed: its figures are less exact."""
    group: str | None = None
    """The group these figures are about (a sharded cluster); None: the one implicit group."""

    @property
    def disturbed(self) -> bool:
        return self.skipped_ticks > 0


def _certain_at(per_node: Sequence[NodeIntervals], t: int) -> list[Interval]:
    return [iv for n in per_node for iv in n.certain if iv.start <= t <= iv.end]


def _covered(intervals: Sequence[tuple[int, int]], lo: int, hi: int) -> int:
    total = 0
    cur = lo
    for s, e in sorted(intervals):
        s, e = max(s, cur), min(e, hi)
        if e > s:
            total += e - s
            cur = e
    return total


def trial_metrics(
    fault: FaultWindow,
    per_node: Sequence[NodeIntervals],
    ticks: Sequence[Tick],
    until_ns: int,
    starts: Sequence[int] | None = None,
) -> TrialMetrics:
    """Metrics of one fault, looking no further than `until_ns` (the next fault or the end).
    `starts` (the ticks' start times, sorted) lets long histories be sliced instead of scanned."""
    t0 = fault.injected_ns
    starts = starts if starts is not None else [t.started_ns for t in ticks]
    before = ticks[max(0, bisect.bisect_right(starts, t0) - 50) : bisect.bisect_right(starts, t0)]
    ticks = ticks[bisect.bisect_left(starts, t0) : bisect.bisect_left(starts, until_ns)]
    at = _certain_at(per_node, t0)
    old: Interval | None = at[0] if len(at) == 1 else None
    old_leader = old.node if old else _last_claimant(before, t0)
    old_epoch = old.epoch if old else None
    candidates = [
        iv for n in per_node for iv in n.certain
        if t0 < iv.start < until_ns and not (iv.node == old_leader and iv.epoch == old_epoch)
    ]  # fmt: skip
    new = min(candidates, key=lambda iv: iv.start, default=None)
    s = 1e-9
    time_to_new = (new.start - t0) * s if new else None
    leaderless = stale = None
    if new is not None:
        certain = [(iv.start, iv.end) for n in per_node for iv in n.certain]
        leaderless = ((new.start - t0) - _covered(certain, t0, new.start)) * s
        stale = 0.0
        if old_leader is not None:
            olds = [iv for n in per_node if n.node == old_leader for iv in n.certain if iv.start <= new.start]
            stale = sum(max(0, min(iv.end, until_ns) - new.start) for iv in olds if iv is not new) * s
    last_seen = None
    if old_leader is not None:
        claims = [
            o.recv_ns for tk in ticks for o in tk.observations
            if o.node == old_leader and o.role is Role.LEADER and t0 <= o.send_ns
            and (old_epoch is None or o.epoch == old_epoch)
        ]  # fmt: skip
        last_seen = (max(claims) - t0) * s if claims else 0.0
    converged = None
    if fault.healed_ns is not None:
        for tk in ticks:
            if tk.started_ns < fault.healed_ns:
                continue
            roles = [o.role for o in tk.observations]
            if roles.count(Role.LEADER) == 1 and all(
                r in (Role.LEADER, Role.FOLLOWER, Role.OBSERVER) for r in roles
            ):
                converged = (max(o.recv_ns for o in tk.observations) - fault.healed_ns) * s
                break
    lateness = max((tk.lateness_ns for tk in ticks), default=0) * s
    skipped = sum(max(0, b.index - a.index - 1) for a, b in itertools.pairwise(ticks))
    return TrialMetrics(
        fault, old_leader, new.node if new else None, time_to_new, leaderless, stale, last_seen, converged,
        round(lateness, 6), skipped,
    )  # fmt: skip


def _last_claimant(ticks: Sequence[Tick], t: int) -> str | None:
    """The node whose leader answer arrived last before t (among the ticks just before it)."""
    best: tuple[int, str] | None = None
    for tk in ticks:
        for o in tk.observations:
            if o.role is Role.LEADER and o.recv_ns <= t and (best is None or o.recv_ns > best[0]):
                best = (o.recv_ns, o.node)
    return best[1] if best else None


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sequence."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(-(-q * len(s) // 100)) - 1))
    return s[k]


def summary(trials: Sequence[TrialMetrics]) -> dict[str, Any]:
    out: dict[str, Any] = {"trials": len(trials)}
    for name in FIGURES:
        vals = [v for t in trials if (v := getattr(t, name)) is not None]
        out[name] = (
            {"min": min(vals), "p50": percentile(vals, 50), "p90": percentile(vals, 90),
             "p99": percentile(vals, 99), "max": max(vals), "n": len(vals)}
            if vals else None
        )  # fmt: skip
    return out
