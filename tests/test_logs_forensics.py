"""Who led when, across nodes and clock skew (pure, literal events)."""

from __future__ import annotations

from quorumwatch.logs.forensics import RoleEvent, analyze_logs

S = 1_000_000_000


def ev(node: str, t: float, kind: str, epoch: int | None = None) -> RoleEvent:
    return RoleEvent(node, round(t * S), kind, epoch, {}, f"{node}.log", 1, kind)


# five nodes, hand-checkable: n2 overlaps n1 for 2 s (stale leader), n3 starts 1 s after n2 stops
# (a near miss), n4 claims n3's epoch later (duplicate epoch), n5 only follows.
FIVE = {
    "n1": [ev("n1", 0, "leader_start", 10), ev("n1", 12, "leader_stop")],
    "n2": [ev("n2", 10, "leader_start", 11), ev("n2", 20, "leader_stop")],
    "n3": [ev("n3", 21, "leader_start", 12), ev("n3", 30, "follower_start")],
    "n4": [ev("n4", 40, "leader_start", 12), ev("n4", 50, "leader_stop")],
    "n5": [ev("n5", 0, "follower_start"), ev("n5", 50, "follower_start")],
}


def test_exact_overlaps_at_zero_skew() -> None:
    f = analyze_logs(FIVE)
    assert [(o.nodes, o.start / S, o.end / S, o.certain, o.kind) for o in f.overlaps] == [
        (("n1", "n2"), 10.0, 12.0, True, "dual_leader")
    ]
    assert f.verdict == "dual_leader"
    assert [(s / S, e / S) for s, e in f.gaps] == [(20.0, 21.0), (30.0, 40.0)]


def test_skew_turns_near_misses_into_possible_and_shrinks_certain() -> None:
    f = analyze_logs(FIVE, skew_ns=round(1.5 * S))
    by = {o.nodes: o for o in f.overlaps}
    assert by[("n1", "n2")].certain and (by[("n1", "n2")].start / S, by[("n1", "n2")].end / S) == (11.5, 12.0)
    near = by[("n2", "n3")]
    assert not near.certain and near.kind == "possible"
    assert ("n3", "n4") not in by  # 10 s apart: no clock error of 1.5 s joins them


def test_duplicate_epoch_and_epoch_backwards() -> None:
    f = analyze_logs({**FIVE, "n5": [ev("n5", 60, "leader_start", 9), ev("n5", 61, "leader_stop")]})
    kinds = [(a["kind"], a.get("epoch"), a.get("nodes")) for a in f.anomalies]
    assert ("duplicate_epoch", 12, ["n3", "n4"]) in kinds
    assert any(a["kind"] == "epoch_backwards" and a["to"]["node"] == "n5" for a in f.anomalies)


def test_same_epoch_overlap_is_a_violation() -> None:
    f = analyze_logs(
        {
            "a": [ev("a", 0, "leader_start", 3), ev("a", 5, "leader_stop")],
            "b": [ev("b", 4, "leader_start", 3), ev("b", 9, "leader_stop")],
        }
    )
    assert f.verdict == "violation"


def test_open_intervals_and_measured_offsets() -> None:
    """a's log begins with its step-down, b's ends with its election: each proves a leadership
    only at one instant, and each may reach further (possibly, never certainly) to the logs' edges."""
    events = {
        "a": [ev("a", 5, "leader_stop"), ev("a", 8, "follower_start")],
        "b": [ev("b", 4, "leader_start", 2)],
    }
    f = analyze_logs(events)
    a, b = sorted(f.intervals, key=lambda i: i.node)
    assert a.open_start and not a.open_end and (a.start, a.end, a.maybe) == (5 * S, 5 * S, (4 * S, 5 * S))
    assert b.open_end and not b.open_start and (b.start, b.end, b.maybe) == (4 * S, 4 * S, (4 * S, 8 * S))
    assert f.verdict == "possible"
    # where each log begins and ends says more: a's from 0 s, b's to 10 s: both certain over 4-5 s
    g = analyze_logs(events, covered_ns={"a": (0, 8 * S), "b": (4 * S, 10 * S)})
    a, b = sorted(g.intervals, key=lambda i: i.node)
    assert (a.start, a.end, b.start, b.end) == (0, 5 * S, 4 * S, 10 * S)
    assert g.verdict == "dual_leader" and [(o.start, o.end) for o in g.overlaps if o.certain] == [
        (4 * S, 5 * S)
    ]
    # b's clock runs 2 s ahead: corrected, it started at 2 s... still overlapping a until 3 s
    h = analyze_logs(
        {"a": [ev("a", 3, "leader_stop")], "b": [ev("b", 4, "leader_start", 2)]},
        offsets_ns={"b": 2 * S},
        covered_ns={"a": (0, 3 * S), "b": (4 * S, 10 * S)},
    )
    assert h.verdict == "dual_leader" and h.overlaps[0].start == 2 * S and h.overlaps[0].end == 3 * S


def test_an_open_end_stops_at_the_nodes_own_last_record() -> None:
    """n1 took over and its log ends 10 s later while n2's runs on for an hour and n2 takes over at
    100 s: n1 is certainly leader only to its own last record; the overlap with n2 is possible, and
    no longer a dual leader made of n1's log being shorter."""
    events = {"n1": [ev("n1", 0, "leader_start", 1)], "n2": [ev("n2", 100, "leader_start", 2)]}
    f = analyze_logs(events, covered_ns={"n1": (0, 10 * S), "n2": (0, 3600 * S)})
    n1, n2 = sorted(f.intervals, key=lambda i: i.node)
    assert (n1.start, n1.end, n1.open_end, n1.maybe[1]) == (0, 10 * S, True, 3600 * S)
    assert (n2.start, n2.end) == (100 * S, 3600 * S)
    assert f.verdict == "possible"
    assert [(o.start, o.end, o.certain) for o in f.overlaps] == [(100 * S, 3600 * S, False)]
    assert f.gaps == ()  # n1 may have led until n2 did: no leaderless stretch is proven


def test_an_instant_well_inside_another_leadership_is_certain_under_skew() -> None:
    """b's log ends the moment it took over: a leadership of one instant. Inside a's by more than the
    skew, the two certainly met, whichever way the clocks are off; nearer a's end than the skew,
    they only possibly did."""
    inside = analyze_logs(
        {
            "a": [ev("a", 0, "leader_start", 1), ev("a", 100, "leader_stop")],
            "b": [ev("b", 50, "leader_start", 2)],
        },
        skew_ns=5 * S,
    )
    assert inside.verdict == "dual_leader"
    assert [(o.start, o.end) for o in inside.overlaps if o.certain] == [(50 * S, 50 * S)]
    near = analyze_logs(
        {
            "a": [ev("a", 0, "leader_start", 1), ev("a", 100, "leader_stop")],
            "b": [ev("b", 98, "leader_start", 2)],
        },
        skew_ns=5 * S,
    )
    assert near.verdict == "possible"


def test_a_leadership_opened_with_an_inherited_epoch_takes_the_one_its_own_line_names() -> None:
    """Patroni's `promoted self` names no timeline (the last one followed is inherited); PostgreSQL's
    `selected new timeline ID: 2` right after names it: one leadership in epoch 2, not a 1 → 2 split.
    A later line naming another epoch still splits."""
    from quorumwatch.logs.forensics import leader_intervals

    events = [
        ev("a", 1.0, "follower_start", 1),
        ev("a", 2.0, "leader_start"),
        ev("a", 2.01, "leader_start", 2),
        ev("a", 3.0, "leader_start"),
        ev("a", 4.0, "leader_start", 3),
    ]
    got = [(i.epoch, i.start, i.end) for i in leader_intervals("a", events, (0, 5 * S))]
    assert got == [(2, 2 * S, 4 * S), (3, 4 * S, 5 * S)]
