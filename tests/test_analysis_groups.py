"""Leadership per group on literal sharded histories: two masters of different slot ranges are not
a split brain; two leaders of one range are, in that range only; a timeout stays unknown."""

from __future__ import annotations

import json
from pathlib import Path

from quorumwatch.analysis import History, RunMeta, analyze
from quorumwatch.analysis.groups import group_names, group_of_slot, project_observation
from quorumwatch.model import (
    Event,
    FinalRead,
    GroupRole,
    Observation,
    Operation,
    OperationKind,
    Outcome,
    Reason,
    Role,
    Tick,
    Verdict,
    WorkloadKind,
)
from quorumwatch.report.lines import matrix
from quorumwatch.report.results import results
from quorumwatch.store import HistoryFile
from tests.results_contract import validate

MS = 1_000_000
A, B = "0-99", "100-199"
L, F, OBS, X, C = Role.LEADER, Role.FOLLOWER, Role.OBSERVER, Role.UNKNOWN, Role.CANDIDATE


def sharded(rows: dict[str, list[str]]) -> list[Tick]:
    """Ticks every 100 ms; per node and tick: `A:L1 B:F` (group A leader in epoch 1, B follower),
    `X` (no answer), `-` (a definite answer naming no group)."""
    letters = {"L": L, "F": F, "C": C}
    ticks = []
    for k in range(len(next(iter(rows.values())))):
        obs = []
        for node, row in rows.items():
            cell, s = row[k], k * 100 * MS
            if cell == "X":
                obs.append(Observation(node, k, s, s + 80 * MS, 0, X, reason=Reason.TIMEOUT))
                continue
            groups = []
            for part in cell.split():
                if part == "-":
                    continue
                g, role = part.split(":")
                groups.append(
                    GroupRole(A if g == "A" else B, letters[role[0]], int(role[1:]) if role[1:] else None)
                )
            top = L if any(g.role is L for g in groups) else F
            obs.append(Observation(node, k, s, s + 10 * MS, 0, top, groups=tuple(groups)))
        ticks.append(Tick(k, k * 100 * MS, k * 100 * MS, 0, tuple(obs)))
    return ticks


def test_masters_of_different_groups_at_once_are_one_leader_each_not_a_split_brain() -> None:
    ticks = sharded({
        "a": ["A:L1"] * 6,
        "b": ["B:L1"] * 6,
        "c": ["A:F B:F"] * 6,
    })  # fmt: skip
    assert all(len(t.leaders) == 2 for t in ticks)  # what a detector without groups would count
    a = analyze(History(ticks))
    assert a.verdict is Verdict.OK and a.overlaps == () and a.groups == (A, B)
    assert matrix(ticks[0].observations) == "0-99 [L O F] 100-199 [O L F]"


def test_two_leaders_of_one_group_are_a_dual_leader_in_that_group_and_trials_follow_the_fault() -> None:
    # a leads A in epoch 1 until tick 5; c is promoted in epoch 2 at tick 3: certain overlap in A only
    ticks = sharded({
        "a": ["A:L1"] * 6 + ["A:F"] * 4,
        "b": ["B:L1"] * 10,
        "c": ["A:F B:F"] * 3 + ["A:L2 B:F"] * 7,
    })  # fmt: skip
    cut = {"fault": 1, "kind": "link", "nodes": ["a"], "target": "leader", "trial": 1}
    events = [
        Event(150 * MS, 0, None, "fault.inject", cut),
        Event(750 * MS, 0, None, "fault.heal", {"fault": 1}),
    ]
    a = analyze(History(ticks, events))
    assert a.verdict is Verdict.DUAL_LEADER
    certain = [o for o in a.overlaps if o.certain]
    assert [(o.group, o.nodes, o.epochs) for o in certain] == [(A, ("a", "c"), (1, 2))]
    assert all(o.group == A for o in a.overlaps)  # nothing in B, where b led alone
    # the fault's node led A, not B: the trial is A's
    ((t),) = a.trials
    assert (t.group, t.old_leader, t.new_leader) == (A, "a", "c")
    data = validate(json.loads(results(a, 0).to_json()))
    assert data["groups"] == [A, B] and {d["group"] for d in data["dual_leaders"]} == {A}
    assert data["trials"][0]["group"] == A


def test_a_timeout_is_unknown_in_every_group_and_an_unnamed_group_is_observed() -> None:
    timeout = Observation("a", 0, 0, 80 * MS, 0, X, reason=Reason.TIMEOUT)
    assert project_observation(timeout, A).role is X
    named = Observation("a", 0, 0, 1, 0, L, 7, groups=(GroupRole(A, L, 7),))
    assert (project_observation(named, A).role, project_observation(named, A).epoch) == (L, 7)
    assert project_observation(named, B).role is OBS and project_observation(named, B).epoch is None
    # a leader of A who stops answering may still lead: the gap is a possible overlap with c in A
    ticks = sharded({
        "a": ["A:L1", "A:L1", "X", "X", "A:F", "A:F"],
        "c": ["A:F", "A:F", "A:F", "A:L2", "A:L2", "A:L2"],
    })  # fmt: skip
    a = analyze(History(ticks))
    assert a.verdict is Verdict.POSSIBLE and {o.group for o in a.overlaps} == {A}


def test_the_workload_is_judged_against_the_leaders_of_the_group_holding_its_slot() -> None:
    # b leads B alone while a, the leader of A, is cut off and c takes A over: a's write is lost,
    # and it acted alone in A (b leading B at the same time is no second leader of A)
    ticks = sharded({
        "a": ["A:L1"] * 3 + ["A:C"] * 5 + ["A:F"] * 2,
        "b": ["B:L1"] * 10,
        "c": ["A:F B:F"] * 6 + ["A:L2 B:F"] * 4,
    })  # fmt: skip
    w = Operation(0, OperationKind.ADD, "a", 150 * MS, 155 * MS, 0, Outcome.OK, "0", 1)
    kept = Operation(1, OperationKind.ADD, "c", 850 * MS, 855 * MS, 0, Outcome.OK, "1", 2)
    read = FinalRead("c", 950 * MS, 951 * MS, 0, frozenset({"1"}))
    meta = RunMeta(workload=WorkloadKind.SET, workload_slot=42)
    a = analyze(History(ticks, operations=[w, kept], final_read=read, meta=meta))
    assert a.harm_group == A and a.harm.harm == "data_loss"
    ((lost),) = a.harm.lost_attributed
    assert (lost.served_as, lost.successor) == ("alone", "c")
    assert group_of_slot([A, B], 150) == B and group_of_slot([A, B], 200) is None
    assert group_of_slot(["0-10,20-30"], 25) == "0-10,20-30"


def test_group_roles_survive_the_store(tmp_path: Path) -> None:
    ticks = sharded({"a": ["A:L1", "X"], "b": ["A:F B:L3", "-"]})
    h = HistoryFile.create(tmp_path / "h.sqlite", ["a", "b"], {})
    for t in ticks:
        h.append_tick(t)
    h.close()
    back = HistoryFile.open(tmp_path / "h.sqlite")
    try:
        got = list(back.ticks())
    finally:
        back.close()
    assert got == ticks and group_names(got) == (A, B)
