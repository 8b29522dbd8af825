"""Compaction is lossless for the verdict: over generated histories (ground truth sampled as the
engine samples it, timeouts, faults, a workload), the analysis of the compacted history equals the
analysis of the whole one — overlaps, certainty, epochs, leaderless windows, failover figures,
artifacts, harm — whether compacted in one pass or in passes over a growing history."""

from __future__ import annotations

import dataclasses

from hypothesis import given
from hypothesis import strategies as st

from quorumwatch.analysis import History, RunMeta, analyze
from quorumwatch.analysis.compaction import CompactedRun, compact, first_fault_tick
from quorumwatch.model import (
    Event,
    FinalRead,
    Observation,
    Operation,
    OperationKind,
    Outcome,
    Role,
    Tick,
    WorkloadKind,
)
from tests.test_analysis_props import INTERVAL, MS, SETTINGS, Truth, observe, truths


def steady(ticks: list[Tick], hold: int) -> list[Tick]:
    """Long runs of identical answers, as a healthy cluster gives: each answer repeated `hold` ticks."""
    out = []
    for t in ticks:
        src = ticks[(t.index // hold) * hold]
        obs = tuple(
            dataclasses.replace(o, role=s.role, epoch=s.epoch, reason=s.reason)
            for o, s in zip(t.observations, src.observations, strict=True)
        )
        out.append(dataclasses.replace(t, observations=obs))
    return out


def events(inject_tick: int | None) -> list[Event]:
    if inject_tick is None:
        return []
    data = {"fault": 1, "kind": "link", "nodes": ["n1"], "target": "leader", "trial": 1}
    at = inject_tick * INTERVAL + 2 * MS
    return [
        Event(at, 0, None, "fault.inject", data),
        Event(at + 20 * INTERVAL, 0, None, "fault.heal", {"fault": 1}),
    ]


def workload(ticks: list[Tick], seed: int) -> tuple[list[Operation], FinalRead]:
    ops = []
    for k in range(0, len(ticks), 3):
        node = f"n{1 + (k + seed) % 3}"
        s = k * INTERVAL + 5 * MS
        ops.append(Operation(k, OperationKind.ADD, node, s, s + 3 * MS, 0, Outcome.OK, str(k), None))
    kept = frozenset(str(o.value) for o in ops if (int(o.value or 0) + seed) % 4)
    return ops, FinalRead("n1", len(ticks) * INTERVAL, len(ticks) * INTERVAL + 1, 0, kept)


def same(a: object, b: object) -> None:
    assert a == b


@SETTINGS
@given(
    truth=truths(),
    seed=st.integers(0, 2**32),
    hold=st.integers(1, 12),
    inject=st.none() | st.integers(0, 59),
    split=st.integers(1, 59),
)
def test_the_analysis_of_a_compacted_history_equals_that_of_the_whole(
    truth: Truth, seed: int, hold: int, inject: int | None, split: int
) -> None:
    ticks = steady(observe(truth, seed), hold)
    evs = events(inject)
    ops, read = workload(ticks, seed)
    meta = RunMeta(0.1, 0.08, WorkloadKind.SET)
    whole = analyze(History(ticks, evs, ops, read, meta))
    protect = first_fault_tick(ticks, [e.mono_ns for e in evs if e.kind == "fault.inject"])

    kept, runs = compact(ticks, protect_from=protect)
    assert sum(len(t.observations) for t in kept) + sum(r.count for r in runs) == 3 * len(ticks)
    assert analyze(History(kept, evs, ops, read, meta, compacted=runs)) == whole

    # in two passes, as a long watch compacts: the second knows each node's last stored answer
    first, runs1 = compact(ticks[:split], protect_from=protect)
    before: dict[str, Observation] = {}
    for t in first:
        for o in t.observations:
            before[o.node] = o
    rest, runs2 = compact(ticks[split:], before, protect_from=protect)
    passes = History(first + rest, evs, ops, read, meta, compacted=[*runs1, *runs2])
    assert analyze(passes) == whole


def test_a_steady_cluster_keeps_only_the_ends_of_each_run_and_every_unknown() -> None:
    from quorumwatch.model import Reason

    def tick(k: int, roles: str) -> Tick:
        obs = []
        for node, r in zip(("a", "b"), roles, strict=True):
            s = k * INTERVAL
            if r == "X":
                obs.append(Observation(node, k, s, s + 80 * MS, 0, Role.UNKNOWN, reason=Reason.TIMEOUT))
            else:
                obs.append(
                    Observation(
                        node,
                        k,
                        s,
                        s + MS * (1 + k % 3),
                        0,
                        Role("leader" if r == "L" else "follower"),
                        1 if r == "L" else None,
                    )
                )
        return Tick(k, k * INTERVAL, k * INTERVAL, 0, tuple(obs))

    rows = ["LF", "LF", "LF", "LX", "LF", "LF", "LF", "LF"]
    kept, runs = compact([tick(k, r) for k, r in enumerate(rows)])
    left = {(o.node, t.index) for t in kept for o in t.observations}
    # a: ticks 0 and 7 kept (its run's ends); b: the ends around its unknown, and the unknown
    assert left == {("a", 0), ("a", 7), ("b", 0), ("b", 2), ("b", 3), ("b", 4), ("b", 7)}
    assert runs == [
        CompactedRun("a", 1, 6, Role.LEADER, 6, 3 * MS), CompactedRun("b", 1, 1, Role.FOLLOWER, 1, 2 * MS),
        CompactedRun("b", 5, 6, Role.FOLLOWER, 2, 3 * MS),
    ]  # fmt: skip
    # nothing from PROTECT_TICKS before a fault on
    kept_all, none = compact([tick(k, r) for k, r in enumerate(rows)], protect_from=0)
    assert none == [] and sum(len(t.observations) for t in kept_all) == 16
