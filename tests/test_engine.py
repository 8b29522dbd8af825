"""The tick engine on a virtual clock: no drift, absolute deadlines, hung nodes never stall a tick."""

from __future__ import annotations

import asyncio

import pytest

from quorumwatch.engine import Engine, LoopClock
from quorumwatch.model import Answer, Reason, Role, Tick
from tests.fakes import HANG, ScriptedProbe
from tests.vtime import run_virtual

NS = 1_000_000_000


def _run(engine: Engine, **kw: object) -> list[Tick]:
    ticks: list[Tick] = []
    engine.sinks.append(ticks.append)

    async def main() -> None:
        await engine.run(**kw)  # type: ignore[arg-type]

    run_virtual(main())
    return ticks


def test_ticks_start_on_schedule_without_drift() -> None:
    probes = [ScriptedProbe(f"n{i}", delay=lambda k: 0.05) for i in range(3)]
    engine = Engine(probes, spin_s=0, interval_s=0.1, deadline_s=0.08)
    ticks = _run(engine, max_ticks=200)
    t0 = ticks[0].scheduled_ns
    assert [t.index for t in ticks] == list(range(200))
    for t in ticks:
        assert t.scheduled_ns == t0 + t.index * NS // 10
        assert 0 <= t.lateness_ns < 1_000_000
    assert engine.stats.skipped == 0


def test_hung_node_is_unknown_timeout_at_its_deadline_and_does_not_delay_others() -> None:
    hung = ScriptedProbe("n2", delay=lambda k: HANG)
    fast = ScriptedProbe("n1", answer=lambda k: Answer(Role.LEADER, epoch=4), delay=lambda k: 0.002)
    slow = ScriptedProbe("n3", delay=lambda k: 0.07)
    engine = Engine([fast, hung, slow], spin_s=0, interval_s=0.1, deadline_s=0.08)
    ticks = _run(engine, max_ticks=5)
    assert len(ticks) == 5
    for t in ticks:
        n1, n2, n3 = t.observations
        assert (n1.node, n2.node, n3.node) == ("n1", "n2", "n3")
        assert n1.role is Role.LEADER and n1.epoch == 4
        assert n1.rtt_ns < 5_000_000
        assert n2.role is Role.UNKNOWN and n2.reason is Reason.TIMEOUT
        assert n2.recv_ns == t.scheduled_ns + 80_000_000
        assert n3.role is Role.FOLLOWER
        assert t.lateness_ns < 1_000_000
    assert hung.cancelled == 5


def test_answer_slower_than_deadline_is_timeout_never_a_role() -> None:
    late_leader = ScriptedProbe("n1", answer=lambda k: Answer(Role.LEADER), delay=lambda k: 0.081)
    ticks = _run(Engine([late_leader], spin_s=0, interval_s=0.1, deadline_s=0.08), max_ticks=3)
    assert all(t.observations[0].role is Role.UNKNOWN for t in ticks)
    assert all(t.observations[0].reason is Reason.TIMEOUT for t in ticks)


def test_probe_exceptions_become_unknown_with_reason() -> None:
    class Refusing(ScriptedProbe):
        async def ask(self) -> Answer:
            raise ConnectionRefusedError

    ticks = _run(Engine([Refusing("n1")], spin_s=0, interval_s=0.1, deadline_s=0.05), max_ticks=1)
    o = ticks[0].observations[0]
    assert o.role is Role.UNKNOWN and o.reason is Reason.REFUSED


def test_a_stalled_process_skips_missed_ticks_and_stays_on_schedule() -> None:
    probes = [ScriptedProbe("n1")]
    engine = Engine(probes, spin_s=0, interval_s=0.1, deadline_s=0.05)
    ticks: list[Tick] = []

    def stall(tick: Tick) -> None:
        ticks.append(tick)
        if tick.index == 2:
            loop = asyncio.get_running_loop()
            assert hasattr(loop, "advance")
            loop.advance(0.35)  # the machine froze for 350 ms after tick 2

    engine.sinks.append(stall)
    run_virtual(engine.run(max_ticks=6))
    assert [t.index for t in ticks] == [0, 1, 2, 6, 7, 8]
    assert engine.stats.skipped == 3
    t0 = ticks[0].scheduled_ns
    assert all(t.scheduled_ns == t0 + t.index * NS // 10 for t in ticks)


def test_duration_bounds_the_number_of_ticks() -> None:
    ticks = _run(Engine([ScriptedProbe("n1")], spin_s=0, interval_s=0.1, deadline_s=0.05), duration_s=1.0)
    assert len(ticks) == 10


def test_stop_event_ends_the_run_between_ticks() -> None:
    stop = asyncio.Event()
    engine = Engine([ScriptedProbe("n1")], spin_s=0, interval_s=0.1, deadline_s=0.05)
    seen: list[int] = []

    def sink(tick: Tick) -> None:
        seen.append(tick.index)
        if tick.index == 4:
            stop.set()

    engine.sinks.append(sink)
    run_virtual(engine.run(stop=stop))
    assert seen == [0, 1, 2, 3, 4]


def test_observation_window_contains_the_answer() -> None:
    probe = ScriptedProbe("n1", delay=lambda k: 0.01 * (k + 1))
    ticks = _run(Engine([probe], spin_s=0, interval_s=0.1, deadline_s=0.08), max_ticks=5)
    for k, t in enumerate(ticks):
        o = t.observations[0]
        assert o.send_ns >= t.started_ns
        assert o.recv_ns - o.send_ns == pytest.approx(10_000_000 * (k + 1), abs=1000)


def test_deadline_must_be_shorter_than_interval() -> None:
    with pytest.raises(ValueError, match="shorter"):
        Engine([ScriptedProbe("n1")], spin_s=0, interval_s=0.1, deadline_s=0.1)


def test_close_closes_every_probe() -> None:
    probes = [ScriptedProbe("a"), ScriptedProbe("b")]
    engine = Engine(probes, spin_s=0, interval_s=0.1, deadline_s=0.05)
    run_virtual(engine.aclose())
    assert all(p.closed for p in probes)


def test_probes_with_an_open_connection_are_asked_without_a_task_and_graded_alike() -> None:
    from quorumwatch.probes.base import SendingProbe
    from tests.fakes import ScriptedSender

    leader = ScriptedSender("n1", reply=lambda k: Answer(Role.LEADER, epoch=3), delay=lambda k: 0.002)
    hung = ScriptedSender("n2", delay=lambda k: HANG)
    garbage = ScriptedSender("n3", reply=lambda k: "no such role", delay=lambda k: 0.003)
    refused = ScriptedSender("n4", reply=lambda k: ConnectionRefusedError(), delay=lambda k: 0.001)
    assert all(isinstance(p, SendingProbe) for p in (leader, hung, garbage, refused))
    ticks = _run(
        Engine([leader, hung, garbage, refused], spin_s=0, interval_s=0.1, deadline_s=0.08), max_ticks=6
    )
    assert leader.sent == 5 and hung.sent == 5  # the first tick connects (asks in a task), then sends
    for t in ticks:
        n1, n2, n3, n4 = t.observations
        assert n1.role is Role.LEADER and n1.epoch == 3 and n1.send_ns <= n1.recv_ns < n1.send_ns + 5_000_000
        assert n2.role is Role.UNKNOWN and n2.reason is Reason.TIMEOUT
        assert n2.recv_ns == t.scheduled_ns + 80_000_000  # at the deadline, never later
        assert n3.role is Role.UNKNOWN and n3.reason is Reason.GARBAGE
        assert n4.role is Role.UNKNOWN and n4.reason is Reason.REFUSED
        assert t.lateness_ns < 1_000_000
    assert hung.cancelled == 1  # the first tick's task (connecting); after it nothing is awaited:
    assert hung.abandoned == 5  # each sent question's future is cancelled at its deadline


def test_a_send_that_raises_makes_that_node_unknown_and_the_tick_goes_on() -> None:
    from tests.fakes import ScriptedSender

    class Refusing(ScriptedSender):
        def send(self) -> asyncio.Future[object] | None:
            if self.calls >= 1:
                self.calls += 1
                raise RuntimeError("unable to perform operation on <TCPTransport closed=True>")
            return super().send()

    ok = ScriptedSender("n1", reply=lambda k: Answer(Role.LEADER, epoch=1))
    ticks = _run(Engine([Refusing("n2"), ok], spin_s=0, interval_s=0.1, deadline_s=0.08), max_ticks=3)
    assert [t.observations[1].role for t in ticks] == [Role.LEADER] * 3
    assert ticks[0].observations[0].role is Role.FOLLOWER  # asked in a task while "connecting"
    for t in ticks[1:]:
        o = t.observations[0]
        assert o.role is Role.UNKNOWN and "TCPTransport closed" in (o.detail or "")
        assert o.send_ns <= o.recv_ns


def test_a_reply_after_the_deadline_is_abandoned_and_counts_as_timeout() -> None:
    from tests.fakes import ScriptedSender

    late = ScriptedSender("n1", reply=lambda k: Answer(Role.LEADER), delay=lambda k: 0.09)
    ticks = _run(Engine([late], spin_s=0, interval_s=0.1, deadline_s=0.08), max_ticks=4)
    assert all(t.observations[0].reason is Reason.TIMEOUT for t in ticks)  # never a late "leader"
    assert late.abandoned == 3  # the engine cancelled each sent question's future at its deadline


def test_a_failure_while_starting_a_tick_is_raised_by_run_not_lost_in_a_callback() -> None:
    # ticks start in their timer's callback, where an exception would only be logged and the run
    # would wait forever for a tick that never began
    def broken_wall() -> int:
        raise OSError("the wall clock is gone")

    engine = Engine(
        [ScriptedProbe("n1")], clock=LoopClock(wall=broken_wall), spin_s=0, interval_s=0.1, deadline_s=0.08
    )
    with pytest.raises(OSError, match="wall clock is gone"):
        _run(engine, max_ticks=3)


def test_connections_open_before_the_first_tick_and_a_slow_start_keeps_the_phase() -> None:
    from tests.fakes import ScriptedSender

    class Connects(ScriptedSender):
        def __init__(self, node: str, takes: float) -> None:
            super().__init__(node, connect_ticks=1)
            self.takes = takes

        async def connect(self) -> None:
            await asyncio.sleep(self.takes)
            self._connect_ticks = 0  # connected: every question can be sent without a task

    quick = Connects("n1", 0.01)
    ticks = _run(Engine([quick], spin_s=0, interval_s=0.1, deadline_s=0.08), max_ticks=3)
    assert quick.sent == 3 and quick.calls == 3  # the first tick too asked on the open connection
    # the schedule keeps the phase run was called at (run_virtual starts at 1000 s): connecting
    # made the first tick 10 ms late
    assert ticks[0].scheduled_ns == 1000_000_000_000 and ticks[0].lateness_ns == 10_000_000
    slow = Connects("n1", 0.25)  # longer than half a deadline: a congested start
    ticks = _run(Engine([slow], spin_s=0, interval_s=0.1, deadline_s=0.08), max_ticks=3)
    # waited one deadline (80 ms) at most, then ticks on the phase `run` was called at
    assert [t.scheduled_ns - 1000_000_000_000 for t in ticks] == [100_000_000, 200_000_000, 300_000_000]
    assert slow.sent == 2  # still connecting at the first tick: asked in a task, as before
