"""Analysis on literal histories: intervals, verdict kinds, leaderless windows, failover metrics."""

from __future__ import annotations

from quorumwatch.analysis import History, RunMeta, analyze
from quorumwatch.analysis.failover import percentile
from quorumwatch.analysis.intervals import node_intervals
from quorumwatch.model import Event, Observation, Reason, Role, Tick, Verdict

MS = 1_000_000
L, F, C, X = Role.LEADER, Role.FOLLOWER, Role.CANDIDATE, Role.UNKNOWN


def history(
    rows: dict[str, str], epochs: dict[str, list[int | None]] | None = None, rtt: int = 10
) -> list[Tick]:
    """Ticks every 100 ms; each node's answers as letters (L F C X); answers take `rtt` ms."""
    letters = {"L": L, "F": F, "C": C, "X": X}
    n = len(next(iter(rows.values())))
    ticks = []
    for k in range(n):
        obs = []
        for node, row in rows.items():
            role = letters[row[k]]
            s = k * 100 * MS
            r = s + (80 * MS if role is X else rtt * MS)
            ep = (epochs or {}).get(node, [None] * n)[k] if role is L else None
            obs.append(Observation(node, k, s, r, 0, role, ep, reason=Reason.TIMEOUT if role is X else None))
        ticks.append(Tick(k, k * 100 * MS, k * 100 * MS, 0, tuple(obs)))
    return ticks


def test_certain_interval_runs_from_first_receive_to_last_send() -> None:
    ticks = history({"a": "FLLLF"}, {"a": [None, 5, 5, 5, None]})
    iv = node_intervals("a", [t.observations[0] for t in ticks], (0, 500 * MS))
    assert [(c.start, c.end, c.epochs) for c in iv.certain] == [(110 * MS, 300 * MS, (5,))]
    assert [(p.start, p.end) for p in iv.possible] == [(0, 410 * MS)]


def test_epochs_split_runs_and_unknowns_join_only_with_epochs() -> None:
    ticks = history({"a": "LLXLLL"}, {"a": [4, 4, None, 4, 5, 5]})
    iv = node_intervals("a", [t.observations[0] for t in ticks], (0, 600 * MS))
    assert [(c.start // MS, c.end // MS, c.epoch) for c in iv.certain] == [(10, 300, 4), (410, 500, 5)]
    no_epochs = history({"a": "LLXLL"})
    iv2 = node_intervals("a", [t.observations[0] for t in no_epochs], (0, 500 * MS))
    assert [(c.start // MS, c.end // MS) for c in iv2.certain] == [(10, 100), (310, 400)]


def test_single_leader_answer_is_only_possible() -> None:
    ticks = history({"a": "FLF"}, {"a": [None, 1, None]})
    iv = node_intervals("a", [t.observations[0] for t in ticks], (0, 300 * MS))
    assert iv.certain == () and [(p.start // MS, p.end // MS) for p in iv.possible] == [(0, 210)]


def test_stable_cluster_is_ok() -> None:
    a = analyze(History(history({"a": "LLLLL", "b": "FFFFF", "c": "FFFFF"}, {"a": [2] * 5})))
    assert a.verdict == "ok" and a.overlaps == () and a.verdict.exit_code == 0


def test_stale_leader_is_a_dual_leader_with_its_duration() -> None:
    a = analyze(History(history({"a": "LLLLLFF", "b": "FFLLLLL"}, {"a": [1] * 7, "b": [2] * 7})))
    certain = [o for o in a.overlaps if o.certain]
    assert a.verdict == "dual_leader" and len(certain) == 1
    o = certain[0]
    assert o.nodes == ("a", "b") and o.epochs == (1, 2)
    assert (o.start // MS, o.end // MS) == (210, 400)  # b's first receive .. a's last send
    assert a.multi_leader_ticks == 3 and a.artifact_ticks == ()


def test_same_epoch_overlap_is_a_violation() -> None:
    a = analyze(History(history({"a": "LLLF", "b": "FLLL"}, {"a": [7] * 4, "b": [7] * 4})))
    assert a.verdict == "violation" and Verdict.VIOLATION.exit_code == 4
    assert [o.kind for o in a.overlaps if o.certain] == ["violation"]


def test_handover_between_ticks_is_only_possible_and_says_how_to_tighten() -> None:
    a = analyze(
        History(
            history({"a": "LLLFF", "b": "FFFLL"}, {"a": [1] * 5, "b": [2] * 5}),
            meta=RunMeta(interval_s=0.1, deadline_s=0.08),
        )
    )
    assert a.verdict == "possible"
    (o,) = a.overlaps
    assert not o.certain and (o.start // MS, o.end // MS) == (200, 310)
    assert a.advice and "probe more often (interval 0.1 s now)" in a.advice


def test_unknown_node_might_be_leader() -> None:
    a = analyze(History(history({"a": "LLLL", "b": "FXXF"}, {"a": [3] * 4})))
    assert a.verdict == "possible"
    assert {o.nodes for o in a.overlaps} == {("a", "b")}


def test_leaderless_windows() -> None:
    a = analyze(History(history({"a": "LLFFFFF", "b": "FFFFCLL"}, {"a": [1] * 7, "b": [2] * 7})))
    certain = [(w.start // MS, w.end // MS) for w in a.leaderless if w.certain]
    possible = [(w.start // MS, w.end // MS) for w in a.leaderless if not w.certain]
    assert certain == [(210, 400)]  # a's last possible end .. b's first possible start
    assert possible == [(100, 510)]  # a certainly led until its last send, b certainly from 510


def link_fault_on_a(inject_ms: int = 150, heal_ms: int = 750) -> list[Event]:
    """The events of one leader link-down on node a, as an experiment records them."""
    data = {"fault": 1, "kind": "link", "nodes": ["a"], "target": "leader", "trial": 1}
    return [
        Event(inject_ms * MS, 0, None, "fault.inject", data),
        Event(heal_ms * MS, 0, None, "fault.heal", {"fault": 1}),
    ]


def test_failover_metrics_for_an_injected_fault() -> None:
    ticks = history({"a": "LLLLLFFFFF", "b": "FFFFLLLLLL", "c": "FFFFFFFFFF"}, {"a": [1] * 10, "b": [2] * 10})
    events = link_fault_on_a()
    (t,) = analyze(History(ticks, events)).trials
    assert (t.old_leader, t.new_leader) == ("a", "b")
    assert r3(t.time_to_new_leader_s) == 0.26  # b certainly leader from 410 ms
    assert r3(t.leaderless_s) == 0.01  # a certainly led until 400 ms (its last send)
    assert t.stale_leader_s == 0.0
    assert r3(t.old_leader_last_seen_s) == 0.26
    assert r3(t.converged_after_heal_s) == 0.06  # first tick after heal (800 ms) answered by 810

    stale = history({"a": "LLLLLLLFFF", "b": "FFFFLLLLLL", "c": "FFFFFFFFFF"}, {"a": [1] * 10, "b": [2] * 10})
    (t2,) = analyze(History(stale, events)).trials
    assert r3(t2.stale_leader_s) == 0.19  # a certainly led until 600 ms, b from 410 ms
    assert t2.leaderless_s == 0.0


def test_a_trial_in_which_the_engine_fell_behind_says_it_was_disturbed() -> None:
    import dataclasses

    ticks = history({"a": "LLLLLFFFFF", "b": "FFFFLLLLLL"}, {"a": [1] * 10, "b": [2] * 10})
    events = link_fault_on_a()
    (calm,) = analyze(History(ticks, events)).trials
    assert (calm.skipped_ticks, calm.max_lateness_s, calm.disturbed) == (0, 0.0, False)
    # ticks 4 and 5 skipped (the machine stalled), tick 6 began 30 ms late
    stalled = [
        *ticks[:4],
        dataclasses.replace(ticks[6], started_ns=ticks[6].started_ns + 30 * MS),
        *ticks[7:],
    ]
    (t,) = analyze(History(stalled, events)).trials
    assert (t.skipped_ticks, t.max_lateness_s, t.disturbed) == (2, 0.03, True)


def r3(v: float | None) -> float:
    assert v is not None
    return round(v, 3)


def test_percentiles_nearest_rank() -> None:
    vals = [float(v) for v in range(1, 101)]
    assert percentile(vals, 50) == 50.0 and percentile(vals, 99) == 99.0 and percentile([3.0], 90) == 3.0


def test_a_history_where_no_node_ever_answered_is_inconclusive_never_ok() -> None:
    # a single unreachable node: nothing overlaps, yet nothing was learned either
    alone = analyze(History(history({"n1": "XXXXX"}), meta=RunMeta(interval_s=0.1, deadline_s=0.08)))
    assert alone.verdict is Verdict.INCONCLUSIVE
    assert alone.advice == "no node answered: all 5 observations were unknown"
    # three unreachable nodes: their unknown stretches overlap, which is no evidence of two leaders
    silent = analyze(
        History(
            history({"n1": "XXXX", "n2": "XXXX", "n3": "XXXX"}), meta=RunMeta(interval_s=0.1, deadline_s=0.08)
        )
    )
    assert silent.verdict is Verdict.INCONCLUSIVE
    # one answer from one node is something examined: the usual verdicts apply
    heard = analyze(
        History(history({"n1": "XXXF", "n2": "XXXX"}), meta=RunMeta(interval_s=0.1, deadline_s=0.08))
    )
    assert heard.verdict is not Verdict.INCONCLUSIVE
    assert (
        analyze(History(history({"n1": "FFFF"}), meta=RunMeta(interval_s=0.1, deadline_s=0.08))).verdict
        is Verdict.OK
    )
