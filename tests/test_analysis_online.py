"""The online analysis equals the batch analysis exactly, holds bounded memory, and grades live:
a certain dual leader is reported within one tick of becoming provable, and its end."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from quorumwatch.analysis import Analysis, History, analyze
from quorumwatch.analysis.online import OnlineAnalysis, analyze_online
from quorumwatch.analysis.verdicts import Overlap
from quorumwatch.model import Role, Tick
from tests.test_analysis import history
from tests.test_analysis_props import SETTINGS, Truth, histories

MS = 1_000_000


@SETTINGS
@given(histories())
def test_online_equals_batch_on_generated_histories(h: tuple[Truth, list[Tick]]) -> None:
    _, ticks = h
    assert analyze_online(ticks).overlaps() == list(analyze(History(ticks)).overlaps)


@SETTINGS
@given(histories(loss=False))
def test_online_equals_batch_without_timeouts(h: tuple[Truth, list[Tick]]) -> None:
    _, ticks = h
    assert analyze_online(ticks).overlaps() == list(analyze(History(ticks)).overlaps)


def _swept(ticks: list[Tick]) -> OnlineAnalysis:
    """The online analysis over `ticks`, checking after every tick that the leaderless seconds it
    counts never go back (a counter), and that a live grader's (which keeps no findings) are the
    same seconds while it holds none of the windows."""
    online, live = OnlineAnalysis(), OnlineAnalysis(retain=False)
    before = {True: 0, False: 0}
    for t in ticks:
        online.feed(t)
        live.feed(t)
        now = dict(online.leaderless.total_ns)
        assert all(now[k] >= before[k] for k in now)
        assert live.leaderless.total_ns == now and live.leaderless.windows == []
        before = now
    online.finish()
    live.finish()
    assert live.leaderless.total_ns == online.leaderless.total_ns and live.leaderless.take() == []
    return online


@SETTINGS
@given(histories())
def test_leaderless_as_the_ticks_come_equals_the_batch_windows(h: tuple[Truth, list[Tick]]) -> None:
    """One definition of leaderless: the windows results.json lists, and the seconds the metrics
    count as the ticks arrive."""
    _, ticks = h
    _same_leaderless(ticks)


def _same_leaderless(ticks: list[Tick]) -> None:
    """The sweep's windows and totals are the batch's."""
    batch = analyze(History(ticks)).leaderless
    online = _swept(ticks)
    assert online.leaderless.take() == list(batch)
    for certain in (True, False):
        assert online.leaderless.total_ns[certain] == sum(
            w.duration_ns for w in batch if w.certain is certain
        )


@st.composite
def lettered(draw: st.DrawFn) -> list[Tick]:
    """Rows of answers as letters, epochs changing now and then: runs cut by unknown answers and
    resumed in their epoch, handovers between ticks, nodes that never answer."""
    n = draw(st.integers(1, 25))
    nodes = draw(st.integers(1, 4))
    rows = {f"n{i}": draw(st.text("LLFFXC", min_size=n, max_size=n)) for i in range(nodes)}
    epochs: dict[str, list[int | None]] = {
        node: draw(st.lists(st.one_of(st.none(), st.integers(1, 3)), min_size=n, max_size=n)) for node in rows
    }
    return history(rows, epochs, rtt=draw(st.sampled_from([1, 10, 60])))


@SETTINGS
@given(lettered())
def test_leaderless_as_the_ticks_come_equals_the_batch_on_lettered_rows(ticks: list[Tick]) -> None:
    _same_leaderless(ticks)


def test_leaderless_literal_windows_and_when_they_are_final() -> None:
    """a leads (epoch 1), stops answering, then follows: it can have led until its first follower
    answer arrives (410 ms); b can have led from the send of its last follower answer (500 ms), so
    [410, 500] ms is certainly leaderless. Between a's last proven instant (100 ms) and b's first
    (610 ms, its first leader answer received) no node certainly led: counted once b's leadership
    is proven (its second leader answer, tick 7), not while a's run might still go on."""
    ticks = history({"a": "LLXXFFFFF", "b": "FFFFFFLLL"}, {"a": [1] * 9, "b": [2] * 9})
    online = OnlineAnalysis()
    seen = []
    for t in ticks:
        online.feed(t)
        seen.append(dict(online.leaderless.total_ns))
    assert seen[4] == {True: 0, False: 0}  # a's follower answer at 400 ms: [410, ...] not yet final
    assert seen[5] == {True: 90 * MS, False: 0}  # [410, 500]: final once every node sent at 500 ms
    assert seen[6] == {True: 90 * MS, False: 0}  # b's leader answer: b may have led since 500 ms
    assert seen[7] == {True: 90 * MS, False: 510 * MS}  # [100, 610]: b proven from 610 ms
    online.finish()
    batch = analyze(History(ticks)).leaderless
    assert [(w.start // MS, w.end // MS, w.certain) for w in batch] == [(100, 610, False), (410, 500, True)]
    assert online.leaderless.take() == list(batch)


def test_literal_stale_leader() -> None:
    ticks = history({"a": "LLLLLLLFFF", "b": "FFFFLLLLLL", "c": "FFFFFFFFFF"}, {"a": [1] * 10, "b": [2] * 10})
    online = analyze_online(ticks).overlaps()
    assert online == list(analyze(History(ticks)).overlaps)
    assert [(o.nodes, o.kind, o.start, o.end) for o in online if o.certain] == [
        (("a", "b"), "dual_leader", 410 * MS, 600 * MS)
    ]


def test_memory_does_not_grow_with_time() -> None:
    """A leader that changes every 30 ticks for 6,000 ticks: the intervals held stay a handful."""
    n = 6000
    a = "".join("L" if (k // 30) % 2 == 0 else "F" for k in range(n))
    b = "".join("L" if (k // 30) % 2 == 1 else "F" for k in range(n))
    ea: list[int | None] = [1 + 2 * (k // 60) for k in range(n)]
    eb: list[int | None] = [2 + 2 * (k // 60) for k in range(n)]
    online = OnlineAnalysis()
    held = []
    for t in history({"a": a, "b": b, "c": "F" * n}, {"a": ea, "b": eb}):
        online.feed(t)
        held.append(online.memory())
    assert max(held) <= 8 and max(held[-1000:]) <= 8


def test_live_certain_dual_leader_within_one_tick_and_its_end() -> None:
    """b leads (epoch 2) from tick 4; a keeps claiming epoch 1 until tick 6. With two answers each the
    overlap is provable at tick 5: that tick reports it; it ends when a stops claiming (tick 7)."""
    ticks = history({"a": "LLLLLLLFFF", "b": "FFFFLLLLLL", "c": "FFFFFFFFFF"}, {"a": [1] * 10, "b": [2] * 10})
    online = OnlineAnalysis()
    seen = {t.index: online.feed(t) for t in ticks}
    seen[len(ticks)] = online.finish()
    certain = {k: [c for c in v if c.certain] for k, v in seen.items()}
    assert [k for k, v in certain.items() if v and v[0].what == "started"] == [5]
    start = certain[5][0]
    assert (start.nodes, start.epochs, start.kind, start.start) == (
        ("a", "b"),
        (1, 2),
        "dual_leader",
        410 * MS,
    )
    ended = [(k, c) for k, v in certain.items() for c in v if c.what == "ended"]
    assert [k for k, _ in ended] == [7] and ended[0][1].end == 600 * MS


def test_live_possible_overlap_when_a_node_stops_answering() -> None:
    ticks = history({"a": "LLLLXXXFFF", "b": "FFFFFFLLLL"}, {"a": [1] * 10, "b": [2] * 10})
    online = OnlineAnalysis()
    changes = [(t.index, c) for t in ticks for c in online.feed(t)]
    possible = [(k, c.what) for k, c in changes if not c.certain]
    assert possible and possible[0][1] == "started" and ("ended" in [w for _, w in possible])
    assert not [c for _, c in changes if c.certain]


@SETTINGS
@given(histories())
def test_a_live_grader_that_keeps_no_findings_reports_the_same_changes(h: tuple[Truth, list[Tick]]) -> None:
    _, ticks = h
    keep, live = OnlineAnalysis(), OnlineAnalysis(retain=False)
    for t in ticks:
        assert [c for c in live.feed(t) if c.what == "started"] == [
            c for c in keep.feed(t) if c.what == "started"
        ]
        assert sorted(live._live) == sorted(keep._live)


def test_a_live_grader_holds_flat_memory_with_timeouts() -> None:
    """30 nodes, 1 % of answers timing out (each a possible leadership beside the leader): a grader
    that keeps every finding grows; a live one stays flat."""
    import random

    from quorumwatch.model import Observation, Reason, Role

    names = [f"n{i}" for i in range(1, 31)]
    rng = random.Random(1)
    keep, live = OnlineAnalysis(), OnlineAnalysis(retain=False)
    held = []
    for k in range(6000):
        term = k // 300
        obs = []
        for name in names:
            s = k * 100 * MS + rng.randrange(MS)
            if rng.random() < 0.01:
                obs.append(Observation(name, k, s, s + 80 * MS, s, Role.UNKNOWN, reason=Reason.TIMEOUT))
            else:
                role = Role.LEADER if name == names[term % 30] else Role.FOLLOWER
                obs.append(Observation(name, k, s, s + 2 * MS, s, role, term + 1))
        tick = Tick(k, k * 100 * MS, k * 100 * MS, 0, tuple(obs))
        keep.feed(tick)
        live.feed(tick)
        held.append(live.memory())
    assert len(keep.possible_pieces) > 2000
    assert max(held[-3000:]) <= max(held[:3000]) + 50 and max(held) < 400


@SETTINGS
@given(histories(), st.lists(st.integers(0, 59), max_size=4))
def test_ticks_dropped_after_recording_what_was_found_lose_no_finding(
    h: tuple[Truth, list[Tick]], drop_at: list[int]
) -> None:
    """What `watch --retain` does: the live grader hands on every piece as it is found, and at
    times every tick seen so far is deleted, after recording what the open intervals show together.
    The ticks left, joined with the records, give exactly the overlaps of the whole history: same
    pairs, times, certainty, kinds and proven epochs; a possible window may name one epoch where the
    whole history names none (the deleted answers held others)."""
    _, ticks = h
    live = OnlineAnalysis(retain=False, record=True)
    recorded: list[Overlap] = []
    first_kept = 0
    for k, t in enumerate(ticks):
        live.feed(t)
        recorded += live.take_found()
        if k in drop_at:
            recorded += live.provisional()
            first_kept = k + 1
    live.finish()
    recorded += live.take_found()
    whole = analyze(History(ticks))
    # what Retention counts of the ticks it deletes: their answers, graded before they went
    deleted = sum(o.role is not Role.UNKNOWN for t in ticks[:first_kept] for o in t.observations)
    part = analyze(History(ticks[first_kept:], recorded=recorded, deleted_answers=deleted))

    def seen(a: Analysis) -> list[tuple[object, ...]]:
        return [
            (o.nodes, o.start, o.end, o.certain, o.kind, o.epochs if o.certain else None) for o in a.overlaps
        ]

    assert (seen(part), part.verdict) == (seen(whole), whole.verdict)
