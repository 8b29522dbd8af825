"""Harm checkers on literal histories, and properties over generated histories whose truth is known."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from quorumwatch.analysis import History, RunMeta, analyze, exit_code
from quorumwatch.analysis.harm import check, duplicate_ids, lost_writes, stale_acks
from quorumwatch.analysis.intervals import Interval, NodeIntervals
from quorumwatch.model import FinalRead, Operation, OperationKind, Outcome, WorkloadKind
from tests.test_analysis import history

MS = 1_000_000
OK, FAIL, UNK = Outcome.OK, Outcome.FAIL, Outcome.UNKNOWN


def op(i: int, node: str, at_ms: int, outcome: Outcome, value: str | None = None, **kw: object) -> Operation:
    kind = str(kw.pop("kind", "add"))
    epoch = kw.pop("epoch", None)
    assert epoch is None or isinstance(epoch, int)
    v = value if value is not None else (str(i) if kind == "add" else None)
    return Operation(i, OperationKind(kind), node, at_ms * MS, (at_ms + 5) * MS, 0, outcome, v, epoch)


def read(values: set[str]) -> FinalRead:
    return FinalRead("a", 0, 1, 0, frozenset(values))


def test_acknowledged_writes_missing_from_the_final_read_are_lost_and_unknown_ones_never() -> None:
    ops = [
        op(0, "a", 0, OK),
        op(1, "a", 10, OK),
        op(2, "b", 20, UNK),
        op(3, "b", 30, FAIL),
        op(4, "a", 40, OK),
    ]
    assert [o.index for o in lost_writes(ops, frozenset({"0", "4"}))] == [1]
    h = check("set", ops, read({"0", "4", "3"}), (), ())
    assert h.harm == "data_loss" and [o.index for o in h.lost] == [1]
    assert h.reason == "1 of 3 acknowledged writes lost" and h.checked == 3
    assert [o.index for o in h.failed_but_present] == [3]  # a "definite" failure that took effect
    assert (h.total.sent, h.total.ok, h.total.fail, h.total.unknown) == (5, 3, 1, 1)
    assert dict(h.per_node)["b"].unknown == 1


def test_none_observed_carries_its_denominator_and_nothing_examined_is_not_measured() -> None:
    ops = [op(i, "a", i * 10, OK) for i in range(3)]
    h = check("set", ops, read({"0", "1", "2"}), (), ())
    assert (h.harm, h.reason) == ("none_observed", "0 of 3 acknowledged writes lost")
    failed_read = FinalRead("a", 0, 1, 0, None, "no agreed leader")
    assert check("set", ops, failed_read, (), ()).harm == "not_measured"
    assert "no agreed leader" in check("set", ops, failed_read, (), ()).reason
    assert check("set", ops, None, (), ()).harm == "not_measured"
    assert check("set", [op(0, "a", 0, UNK)], read(set()), (), ()).harm == "not_measured"
    assert check(None, (), None, (), ()).harm == "not_measured"
    assert check("unique-ids", [op(0, "a", 0, FAIL, kind="id")], None, (), ()).harm == "not_measured"


def test_duplicate_ids_count_only_acknowledged_answers() -> None:
    ops = [
        op(0, "a", 0, OK, "7", kind="id"),
        op(1, "b", 10, OK, "7", kind="id"),
        op(2, "b", 20, OK, "8", kind="id"),
        op(3, "a", 30, UNK, "8", kind="id"),  # an unknown answer is no ID handed out
        op(4, "a", 40, OK, "9", kind="id"),
    ]
    dups = duplicate_ids(ops)
    assert [(d.value, [o.node for o in d.ops]) for d in dups] == [("7", ["a", "b"])]
    h = check("unique-ids", ops, None, (), ())
    assert h.harm == "duplicates" and h.checked == 4
    assert h.reason == "1 IDs handed out more than once (1 extra) among 4 acknowledged"
    clean = check("unique-ids", [op(0, "a", 0, OK, "1", kind="id")], None, (), ())
    assert (clean.harm, clean.reason) == ("none_observed", "0 duplicates among 1 acknowledged IDs")


def nodes_(**certain: list[tuple[int, int, int | None]]) -> list[NodeIntervals]:
    out = []
    for node, ivs in certain.items():
        c = tuple(Interval(node, s * MS, e * MS, (ep,) if ep is not None else (), True) for s, e, ep in ivs)
        p = tuple(Interval(node, (s - 50) * MS, (e + 50) * MS, (), False) for s, e, _ in ivs)
        out.append(NodeIntervals(node, c, p))
    return out


def test_stale_acknowledgement_needs_a_newer_leader_throughout_the_request() -> None:
    per_node = nodes_(a=[(0, 1000, 2)], b=[(500, 2000, 3)])
    ops = [
        op(0, "a", 200, OK, epoch=2),  # before b led: fine
        op(1, "a", 600, OK, epoch=2),  # b certainly led in term 3: stale
        op(2, "a", 498, OK, epoch=2),  # b's leadership began inside the request: not proven
        op(3, "b", 700, OK, epoch=3),  # the newer leader itself
        op(4, "a", 800, FAIL, epoch=2),  # refused: no acknowledgement at all
        op(5, "a", 900, OK, epoch=3),  # answered in the newer term (a forwarded write): fine
    ]
    assert [(s.op.index, s.newer_node, s.newer_epoch) for s in stale_acks(ops, per_node)] == [(1, "b", 3)]


def test_without_epochs_the_leadership_that_began_first_is_the_stale_one() -> None:
    per_node = nodes_(a=[(0, 1000, None)], b=[(500, 2000, None)])
    ops = [op(0, "a", 600, OK), op(1, "b", 600, OK), op(2, "a", 1200, OK)]
    # op 2: a is not leading by the evidence (its possible leadership ended at 1050): not called stale
    assert [s.op.index for s in stale_acks(ops, per_node)] == [0]


def test_dual_leader_windows_count_what_each_leader_was_sent_and_acknowledged() -> None:
    ticks = history({"a": "LLLLLLLFF", "b": "FFFLLLLLL"}, {"a": [2] * 9, "b": [3] * 9})
    ops = [
        op(0, "a", 150, OK, epoch=2),  # before the overlap
        op(1, "a", 420, OK, epoch=2),
        op(2, "a", 450, UNK, epoch=2),
        op(3, "b", 430, OK, epoch=3),
        op(4, "b", 440, FAIL, epoch=3),
    ]
    a = analyze(
        History(
            ticks,
            operations=ops,
            final_read=read({"0", "1", "3"}),
            meta=RunMeta(workload=WorkloadKind.SET),
        )
    )
    [w] = a.harm.windows
    sides = {s.node: s for s in w.sides}
    assert sides["a"].stale and not sides["b"].stale
    assert (sides["a"].counts.sent, sides["a"].counts.ok, sides["a"].counts.unknown) == (2, 1, 1)
    assert (sides["b"].counts.sent, sides["b"].counts.ok, sides["b"].counts.fail) == (2, 1, 1)
    assert [s.op.index for s in a.harm.stale] == [1]
    assert a.verdict == "dual_leader" and a.harm.harm == "none_observed"


def test_exit_codes_put_harm_first_and_respect_fail_on() -> None:
    assert exit_code("dual_leader", "data_loss") == 6
    assert exit_code("ok", "duplicates", "harm") == 6
    assert exit_code("dual_leader", "none_observed") == 3
    assert exit_code("dual_leader", "none_observed", "harm") == 0
    assert exit_code("possible", "not_measured", "dual-leader") == 0
    assert exit_code("violation", "not_measured", "dual-leader") == 4
    assert exit_code("dual_leader", "not_measured", "violation") == 0
    assert exit_code("possible", "not_measured") == 5


# ---- properties: generated histories whose truth is known ----

outcomes = st.sampled_from([OK, FAIL, UNK])


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(outcomes, st.booleans(), st.booleans()), max_size=60),
    st.sampled_from(["a", "b", "c"]),
)
def test_lost_is_exactly_the_acknowledged_writes_the_store_dropped(
    rows: list[tuple[Outcome, bool, bool]], node: str
) -> None:
    """Each row: outcome, whether the store kept an ok write, whether an unknown/failed one landed."""
    ops = [op(i, node, i * 10, o) for i, (o, _, _) in enumerate(rows)]
    kept = {
        str(i) for i, (o, keep, landed) in enumerate(rows) if (o is OK and keep) or (o is not OK and landed)
    }
    dropped = {i for i, (o, keep, _) in enumerate(rows) if o is OK and not keep}
    h = check("set", ops, read(kept), (), ())
    assert {o.index for o in h.lost} == dropped
    assert all(o.outcome is OK for o in h.lost)  # unknown outcomes are never lost
    acked = sum(1 for o, _, _ in rows if o is OK)
    assert h.harm == ("not_measured" if acked == 0 else "data_loss" if dropped else "none_observed")
    assert h.checked == acked


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(outcomes, st.integers(0, 15)), max_size=60))
def test_duplicates_are_exactly_the_ids_acknowledged_twice(rows: list[tuple[Outcome, int]]) -> None:
    ops = [op(i, "ab"[i % 2], i * 10, o, str(v), kind="id") for i, (o, v) in enumerate(rows)]
    acked = [v for o, v in rows if o is OK]
    truth = {str(v) for v in acked if acked.count(v) > 1}
    h = check("unique-ids", ops, None, (), ())
    assert {d.value for d in h.duplicates} == truth
    assert all(len(d.ops) == acked.count(int(d.value)) for d in h.duplicates)
    assert h.harm == ("not_measured" if not acked else "duplicates" if truth else "none_observed")


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 3000), st.integers(1, 50), st.sampled_from(["a", "b"])), max_size=40),
    st.integers(0, 2000),
    st.integers(100, 2000),
)
def test_stale_acks_are_exactly_those_inside_a_newer_certain_leadership(
    reqs: list[tuple[int, int, str]], b_start: int, b_len: int
) -> None:
    """a leads [0, 2500] in epoch 1, b leads [b_start, b_start + b_len] in epoch 2 (both certain)."""
    per_node = nodes_(a=[(0, 2500, 1)], b=[(b_start, b_start + b_len, 2)])
    ops = [
        Operation(i, OperationKind.ADD, n, s * MS, (s + d) * MS, 0, OK, str(i), 1 if n == "a" else 2)
        for i, (s, d, n) in enumerate(reqs)
    ]
    want = {i for i, (s, d, n) in enumerate(reqs) if n == "a" and b_start <= s and s + d <= b_start + b_len}
    assert {x.op.index for x in stale_acks(ops, per_node)} == want


def test_the_cli_offers_exactly_the_fail_on_levels_the_analysis_knows() -> None:
    import click

    from quorumwatch.analysis import FAIL_ON
    from quorumwatch.cli import analyze as analyze_cmd

    (opt,) = [p for p in analyze_cmd.params if p.name == "fail_on"]
    assert isinstance(opt.type, click.Choice) and tuple(opt.type.choices) == FAIL_ON


# ---- register workloads: stale reads, attributed ----


def reg(
    i: int, node: str, kind: str, key: str, value: str | None, ms: tuple[int, int], **kw: object
) -> Operation:
    outcome = kw.pop("outcome", OK)
    assert isinstance(outcome, Outcome)
    epoch = kw.pop("epoch", None)
    expect = kw.pop("expect", None)
    assert (epoch is None or isinstance(epoch, int)) and (expect is None or isinstance(expect, str))
    return Operation(
        i, OperationKind(kind), node, ms[0] * MS, ms[1] * MS, 0, outcome, value, epoch, None, key, expect
    )


def lead(node: str, start_ms: int, end_ms: int, epoch: int, certain: bool = True) -> Interval:
    return Interval(node, start_ms * MS, end_ms * MS, (epoch,), certain)


# a leads epoch 1 throughout; b leads epoch 2 from 500 ms on (a, cut off, does not know); c follows
SPLIT = [
    NodeIntervals("a", (lead("a", 0, 1000, 1),), (lead("a", 0, 1000, 1, False),)),
    NodeIntervals("b", (lead("b", 500, 1000, 2),), (lead("b", 450, 1000, 2, False),)),
    NodeIntervals("c", (), ()),
]


def test_a_read_of_an_overwritten_value_is_stale_and_named_after_the_stale_leader() -> None:
    ops = [
        reg(0, "a", "write", "k1", "0", (100, 110)),
        reg(1, "b", "write", "k1", "1", (600, 605), epoch=2),
        reg(2, "a", "read", "k1", "0", (700, 710), epoch=1),  # the stale leader's own old state
        reg(3, "b", "read", "k1", "1", (720, 725)),
        reg(4, "c", "read", "k1", "0", (730, 735)),  # a follower behind
        reg(5, "b", "read", "k2", None, (740, 745)),  # k2 was never written: fine
    ]
    h = check("register", ops, None, (), SPLIT)
    assert h.harm == "stale_reads" and h.reads == 4
    assert h.reason == "2 of 4 reads returned values already overwritten (1 of 2 keys not linearizable)"
    assert h.linearizability is not None
    assert {k.key: k.verdict for k in h.linearizability.keys} == {"k1": "violated", "k2": "linearizable"}
    first, second = h.stale_reads
    assert (first.read.index, first.served_as, first.certain, first.epoch) == (2, "stale leader", True, 1)
    assert (first.newer_node, first.newer_epoch) == ("b", 2)
    assert first.overwritten_by is not None and first.overwritten_by.index == 1
    assert first.overwritten_s == 0.095
    assert (second.read.node, second.served_as, second.newer_node) == ("c", "not leader", "b")
    assert exit_code("ok", h.harm) == 6


def test_a_stale_read_without_any_leader_change_blames_the_system_itself() -> None:
    one = [NodeIntervals("a", (lead("a", 0, 1000, 1),), (lead("a", 0, 1000, 1, False),))]
    ops = [
        reg(0, "a", "write", "k", "0", (100, 110)),
        reg(1, "a", "write", "k", "1", (200, 210)),
        reg(2, "a", "read", "k", "0", (300, 310)),
    ]
    (s,) = check("register", ops, None, (), one).stale_reads
    assert (s.served_as, s.certain, s.newer_node) == ("leader", True, None)


def test_unknown_writes_may_land_late_so_a_linearizable_register_reports_its_denominator() -> None:
    ops = [
        reg(0, "a", "write", "k", "0", (100, 110)),
        reg(1, "b", "write", "k", "1", (120, 130), outcome=UNK),  # may take effect at any later time
        reg(2, "a", "read", "k", "0", (300, 310)),
        reg(3, "a", "read", "k", "1", (400, 410)),  # ... such as now
        reg(4, "a", "read", "k", None, (0, 5), outcome=FAIL),  # a failed read says nothing
        reg(5, "a", "cas", "j", "5", (500, 510), outcome=FAIL, expect="9"),  # j never held 9
        reg(6, "a", "read", "j", None, (520, 530)),
    ]
    h = check("register", ops, None, (), SPLIT)
    assert (h.harm, h.reason) == ("none_observed", "0 stale reads among 3 reads; all 2 keys linearizable")
    assert h.stale_reads == ()


def test_a_register_check_out_of_time_is_not_measured_never_none_observed() -> None:
    # repeated values need the search: pending writes of 0 and 1, then a read of a value none wrote
    # (every subset is tried before it is found impossible), and a zero deadline
    ops = [reg(i, "a", "write", "k", str(i % 2), (0, 1), outcome=UNK) for i in range(16)]
    ops.append(reg(16, "a", "read", "k", "99", (2000, 2010)))
    h = check("register", ops, None, (), SPLIT, deadline_s=0.0)
    assert h.harm == "not_measured" and h.reason.startswith("linearizability undecided for 1 of 1 keys (k): ")
    assert check("register", [], None, (), ()).harm == "not_measured"


def test_a_cas_refused_before_comparing_never_happened_and_a_failed_compare_is_a_fact() -> None:
    from quorumwatch.model import COMPARE_FAILED

    base = [reg(0, "a", "write", "k", "0", (100, 110)), reg(1, "a", "read", "k", "0", (300, 310))]
    refused = Operation(
        2,
        OperationKind.CAS,
        "c",
        200 * MS,
        205 * MS,
        0,
        FAIL,
        "2",
        None,
        "READONLY You can't write",
        "k",
        "0",
    )
    assert check("register", [*base, refused], None, (), SPLIT).harm == "none_observed"
    # k held 0 throughout the compare: "not the expected value" cannot be true
    mismatch = Operation(
        2, OperationKind.CAS, "a", 200 * MS, 205 * MS, 0, FAIL, "2", None, COMPARE_FAILED, "k", "0"
    )
    h = check("register", [*base, mismatch], None, (), SPLIT)
    assert h.harm == "stale_reads" and h.reason.startswith("not linearizable: k: ")


def test_a_new_leader_missing_what_the_stale_leader_acknowledged_is_named_the_newer_leader() -> None:
    ops = [
        reg(0, "b", "write", "k", "0", (600, 605), epoch=2),
        reg(1, "a", "write", "k", "1", (700, 705), epoch=1),  # the cut-off leader acknowledges alone
        reg(2, "b", "read", "k", "0", (800, 805), epoch=2),  # its successor never got it
    ]
    (s,) = check("register", ops, None, (), SPLIT).stale_reads
    assert (s.served_as, s.certain, s.epoch, s.older_node, s.older_epoch) == ("newer leader", True, 2, "a", 1)
    assert s.newer_node is None and s.overwritten_by is not None and s.overwritten_by.node == "a"


def test_a_lost_write_is_attributed_to_what_its_node_was_when_it_acknowledged() -> None:
    # a leads alone until 1000 (possible until 1050); nobody leads 1050-3000; b leads from 3000.
    # c leads 5000-6000 beside d (4900-6100); e never leads.
    per_node = nodes_(a=[(0, 1000, 1)], b=[(3000, 4000, 2)], c=[(5000, 6000, 3)], d=[(4900, 6100, 4)])
    ops = [
        op(0, "a", 200, OK, epoch=1),  # a alone, b took over later without it
        op(1, "a", 900, OK, epoch=1),
        op(2, "c", 5500, OK, epoch=3),  # d led too: beside another leader (and older: stale)
        op(3, "d", 6080, OK, epoch=4),  # d alone, but nobody led after d
        op(4, "e", 2000, OK),  # no probe saw e lead
        op(5, "a", 300, OK, epoch=1),  # kept
    ]
    h = check("set", ops, read({"5"}), (), per_node)
    got = {lw.op.index: (lw.served_as, lw.successor, lw.successor_start) for lw in h.lost_attributed}
    assert got == {
        0: ("alone", "b", 3000 * MS),
        1: ("alone", "b", 3000 * MS),
        2: ("stale leader", None, None),
        3: ("leader", None, None),
        4: ("not leader", None, None),
    }
    assert [lw.op.index for lw in h.lost_attributed] == [o.index for o in h.lost]
    assert h.lost_attributed[0].epoch == 1


def test_a_lost_write_beside_a_leader_of_unknown_age_is_not_called_alone() -> None:
    per_node = nodes_(a=[(0, 1000, None)], b=[(900, 2000, None)])
    # b's possible leadership (850-2050) overlaps a's request at 860: a was not alone
    ops = [op(0, "b", 1500, OK), op(1, "a", 860, OK), op(2, "a", 100, OK)]
    h = check("set", ops, read({"0"}), (), per_node)
    assert {lw.op.index: lw.served_as for lw in h.lost_attributed} == {
        1: "beside another leader",
        2: "alone",
    }
