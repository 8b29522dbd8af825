"""Property tests of the analysis against generated ground truth (hypothesis, 500+ examples each).

A truth is a set of leadership intervals per node (epochs increasing per node, overlaps across
nodes allowed, same-epoch overlaps too). Observations sample it the way the engine does: one probe
per node per tick, each answer true at a random instant inside its [send, receive] window, some
answers lost to timeouts.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quorumwatch.analysis import History, analyze
from quorumwatch.model import Observation, Reason, Role, Tick

MS = 1_000_000
INTERVAL = 100 * MS
MAX_RTT = 60 * MS
NODES = ("n1", "n2", "n3")
SETTINGS = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@dataclass(frozen=True)
class Truth:
    leads: dict[str, list[tuple[int, int, int]]]  # node -> [(start, end, epoch)]

    def leader_at(self, node: str, t: int) -> int | None:
        for s, e, ep in self.leads[node]:
            if s <= t < e:
                return ep
        return None

    def led_throughout(self, node: str, a: int, b: int) -> bool:
        return any(s <= a and b <= e for s, e, _ in self.leads[node])


@st.composite
def truths(draw: st.DrawFn, ticks: int = 60) -> Truth:
    horizon = ticks * INTERVAL
    leads: dict[str, list[tuple[int, int, int]]] = {}
    for node in NODES:
        cuts = sorted(draw(st.lists(st.integers(0, horizon), min_size=0, max_size=6, unique=True)))
        intervals = []
        epoch = draw(st.integers(0, 2))  # small ranges: other nodes sometimes hold the same epoch
        for s, e in zip(cuts[::2], cuts[1::2], strict=False):
            if e > s:
                epoch += draw(st.integers(1, 2))  # a node never leads the same epoch twice
                intervals.append((s, e, epoch))
        leads[node] = intervals
    return Truth(leads)


def observe(truth: Truth, seed: int, ticks: int = 60, loss: bool = True) -> list[Tick]:
    """Sample the truth like the engine does; a seeded generator keeps 500 examples fast."""
    rng = random.Random(seed)
    out = []
    for k in range(ticks):
        start = k * INTERVAL + rng.randint(0, MS)  # tick lateness under 1 ms
        obs = []
        for node in NODES:
            s = start + rng.randint(0, MS)
            if loss and rng.randint(0, 9) == 0:
                obs.append(Observation(node, k, s, s + 80 * MS, 0, Role.UNKNOWN, reason=Reason.TIMEOUT))
                continue
            r = s + rng.randint(0, MAX_RTT)
            t = rng.randint(s, r)
            ep = truth.leader_at(node, t)
            role = Role.LEADER if ep is not None else Role.FOLLOWER
            obs.append(Observation(node, k, s, r, 0, role, ep))
        out.append(Tick(k, k * INTERVAL, start, 0, tuple(obs)))
    return out


@st.composite
def histories(draw: st.DrawFn, loss: bool = True) -> tuple[Truth, list[Tick]]:
    truth = draw(truths())
    return truth, observe(truth, draw(st.integers(0, 2**32)), loss=loss)


@SETTINGS
@given(histories())
def test_certain_intervals_are_true_and_inside_possible(h: tuple[Truth, list[Tick]]) -> None:
    truth, ticks = h
    a = analyze(History(ticks))
    for n in a.intervals:
        for c in n.certain:
            assert truth.led_throughout(n.node, c.start, c.end), (n.node, c)
            assert any(p.start <= c.start and c.end <= p.end for p in n.possible)


@SETTINGS
@given(histories())
def test_soundness_no_proven_overlap_the_truth_lacks(h: tuple[Truth, list[Tick]]) -> None:
    truth, ticks = h
    for o in analyze(History(ticks)).overlaps:
        if o.certain:
            a, b = o.nodes
            assert truth.led_throughout(a, o.start, o.end) and truth.led_throughout(b, o.start, o.end)
            if o.kind == "violation":
                assert truth.leader_at(a, o.start) == truth.leader_at(b, o.start)


def observed_leaderships(truth: Truth, ticks: list[Tick], node: str) -> list[tuple[int, int, int]]:
    """True leaderships the probes could have seen: answered leader at least once (by epoch), or
    overlapping an unknown answer. A leadership shorter than the gap between two probes can always
    hide between samples; no sampling detector can claim otherwise."""
    obs = [o for t in ticks for o in t.observations if o.node == node]
    seen_epochs = {o.epoch for o in obs if o.role is Role.LEADER}
    unknown = [(o.send_ns, o.recv_ns) for o in obs if o.role is Role.UNKNOWN]
    return [
        (s, e, ep) for s, e, ep in truth.leads[node]
        if ep in seen_epochs or any(us < e and s < ur for us, ur in unknown)
    ]  # fmt: skip


@SETTINGS
@given(histories())
def test_possible_covers_every_observed_true_leadership(h: tuple[Truth, list[Tick]]) -> None:
    truth, ticks = h
    a = analyze(History(ticks))
    lo, hi = a.span
    by = {n.node: n for n in a.intervals}
    for node in NODES:
        for s, e, _ in observed_leaderships(truth, ticks, node):
            s, e = max(s, lo), min(e, hi)
            if s >= e:
                continue
            possible = by[node].possible if node in by else ()
            # every instant of a true leadership lies in some possible interval
            covered = sorted((max(p.start, s), min(p.end, e)) for p in possible if p.end > s and p.start < e)
            cur = s
            for cs, ce in covered:
                assert cs <= cur, (node, (s, e), possible)
                cur = max(cur, ce)
            assert cur >= e, (node, (s, e), possible)
    for w in a.leaderless:
        if w.certain:
            for node in NODES:
                assert not any(
                    s < w.end and w.start < e for s, e, _ in observed_leaderships(truth, ticks, node)
                )


@SETTINGS
@given(histories(loss=False))
def test_completeness_long_overlaps_are_proven(h: tuple[Truth, list[Tick]]) -> None:
    truth, ticks = h
    a = analyze(History(ticks))
    bound = 2 * INTERVAL + MAX_RTT + 2 * MS
    for x in NODES:
        for y in NODES:
            if x >= y:
                continue
            for s1, e1, _ in truth.leads[x]:
                for s2, e2, _ in truth.leads[y]:
                    s, e = max(s1, s2), min(e1, e2)
                    if e - s > bound and a.span[0] < s and e < a.span[1]:
                        assert any(
                            o.certain and set(o.nodes) == {x, y} and o.start < e and s < o.end
                            for o in a.overlaps
                        ), ((x, y), (s, e))


@SETTINGS
@given(histories())
def test_artifact_ticks_are_never_dual_leaders(h: tuple[Truth, list[Tick]]) -> None:
    truth, ticks = h
    a = analyze(History(ticks))
    for k in a.artifact_ticks:
        leaders = [o for o in ticks[k].observations if o.role is Role.LEADER]
        assert len(leaders) >= 2
        # the claims really did not overlap in the truth either
        for i, p in enumerate(leaders):
            for q in leaders[i + 1 :]:
                tp = truth.leader_at(p.node, p.send_ns)
                assert not (tp is not None and truth.led_throughout(q.node, p.send_ns, p.send_ns + 1))
        for o in a.overlaps:
            if o.certain:
                assert not (
                    o.start <= ticks[k].started_ns <= o.end and set(o.nodes) <= {x.node for x in leaders}
                )
