"""Ticks: every node probed concurrently, on a schedule that does not drift.

Tick k starts at t0 + k·interval on the monotonic clock, whatever the previous ticks cost. Every
probe of tick k has the absolute deadline t0 + k·interval + deadline (deadline < interval), so a
hung node becomes unknown(timeout) at that instant and can never delay other nodes or the next tick.
If the process itself falls so far behind that a tick would lose half its probe budget (a stalled
machine), the missed ticks are skipped and counted rather than run late in a burst.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from quorumwatch.model import Answer, Observation, Reason, Tick
from quorumwatch.probes.base import Connecting, Probe, SendingProbe, classify


class Clock(Protocol):
    """One monotonic clock orders everything; wall time is recorded for display only."""

    def now_ns(self) -> int: ...

    def wall_ns(self) -> int: ...

    def deadline(self, t_ns: int) -> AbstractAsyncContextManager[object]:
        """A scope cancelled (raising TimeoutError) at absolute monotonic time t_ns."""
        ...

    def call_at(self, t_ns: int, callback: Callable[[], object]) -> asyncio.TimerHandle:
        """`callback` run at absolute monotonic time t_ns: a bare timer, for the engine's per-tick
        waits, where a hundred clusters make a `deadline` scope's cost count."""
        ...


class LoopClock:
    """The event loop's clock and `asyncio.timeout_at`; with a virtual-time loop the same class runs
    tests in fake time. Under uvloop, whose clock counts whole milliseconds (libuv's), times are read
    from `time.monotonic_ns` (the same CLOCK_MONOTONIC, to the nanosecond) and deadlines converted."""

    def __init__(self, wall: Callable[[], int] = time.time_ns) -> None:
        self._wall = wall
        self._loop: asyncio.AbstractEventLoop | None = None
        self._coarse = False

    def _running(self) -> asyncio.AbstractEventLoop:
        # kept between calls: asyncio.get_running_loop() costs a getpid() system call each time
        loop = self._loop
        if loop is None or not loop.is_running():
            loop = self._loop = asyncio.get_running_loop()
            self._coarse = type(loop).__module__.startswith("uvloop")
        return loop

    def now_ns(self) -> int:
        loop = self._running()
        if self._coarse:
            return time.monotonic_ns()
        return int(loop.time() * 1e9)

    def wall_ns(self) -> int:
        return self._wall()

    def _loop_time(self, loop: asyncio.AbstractEventLoop, t_ns: int) -> float:
        if self._coarse:
            return loop.time() + (t_ns - time.monotonic_ns()) / 1e9
        return t_ns / 1e9

    def deadline(self, t_ns: int) -> AbstractAsyncContextManager[object]:
        return asyncio.timeout_at(self._loop_time(self._running(), t_ns))

    def call_at(self, t_ns: int, callback: Callable[[], object]) -> asyncio.TimerHandle:
        loop = self._running()
        return loop.call_at(self._loop_time(loop, t_ns), callback)


TickSink = Callable[[Tick], None]


class TickFeed:
    """The latest tick, and a way to wait for the next one: a sink for actors that act on what the
    probes see (fault targets, steady-state checks, workload routing, the final read)."""

    def __init__(self) -> None:
        self.last: Tick | None = None
        self._changed = asyncio.Event()

    def push(self, tick: Tick) -> None:
        self.last = tick
        self._changed.set()

    async def next(self) -> Tick:
        self._changed.clear()
        await self._changed.wait()
        assert self.last is not None
        return self.last


@dataclass
class EngineStats:
    ticks: int = 0
    skipped: int = 0
    max_lateness_ns: int = 0


class Engine:
    """Runs ticks until a duration passes, a tick count is reached, or `stop` is set."""

    def __init__(
        self,
        probes: Sequence[Probe],
        *,
        interval_s: float,
        deadline_s: float,
        clock: Clock | None = None,
        sinks: Sequence[TickSink] = (),
        spin_s: float = 0.001,
    ) -> None:
        if deadline_s >= interval_s:
            raise ValueError("deadline must be shorter than the interval")
        self.probes = list(probes)
        self.interval_ns = round(interval_s * 1e9)
        self.deadline_ns = round(deadline_s * 1e9)
        self.clock = clock or LoopClock()
        self.sinks = list(sinks)
        self.stats = EngineStats()
        self._senders = [p if isinstance(p, SendingProbe) else None for p in self.probes]
        # The loop's timers wake up to ~1 ms late (epoll has millisecond resolution): the timer is
        # armed spin_s before the tick, then spins through the loop's queue until it is due.
        # Fake-clock tests pass 0.
        self._spin_ns = round(spin_s * 1e9)
        self._waiting: asyncio.Future[Any] | None = None
        self._timer: asyncio.Handle | None = None

    async def run(
        self,
        *,
        duration_s: float | None = None,
        max_ticks: int | None = None,
        stop: asyncio.Event | None = None,
    ) -> EngineStats:
        stop = stop or asyncio.Event()
        # a waiting engine waits on one future that its timer or `stop` completes (no scope per tick)
        loop = asyncio.get_running_loop()
        stopper = loop.create_task(self._wake_on(stop))
        try:
            # the schedule keeps the phase `run` was called at (clusters started at spread phases
            # must not tick together): connecting makes the first tick late, or, past half a
            # deadline (a hundred clusters connecting at once), moves it to the next slot
            t0 = self.clock.now_ns()
            await self._connect()
            took = self.clock.now_ns() - t0
            if took >= self.deadline_ns // 2:
                t0 += -(-took // self.interval_ns) * self.interval_ns
            return await self._run(t0, duration_s, max_ticks, stop)
        finally:
            stopper.cancel()

    async def _connect(self) -> None:
        """Connections opened before the schedule starts, for up to one deadline: the first tick
        then asks rather than connects (what is still connecting goes on for it)."""
        loop = asyncio.get_running_loop()
        opening = [loop.create_task(p.connect()) for p in self.probes if isinstance(p, Connecting)]
        if opening:
            _, late = await asyncio.wait(opening, timeout=self.deadline_ns / 1e9)
            for task in late:
                task.cancel()

    async def _run(
        self, t0: int, duration_s: float | None, max_ticks: int | None, stop: asyncio.Event
    ) -> EngineStats:
        end = None if duration_s is None else t0 + round(duration_s * 1e9)
        k = 0
        while not stop.is_set() and (max_ticks is None or self.stats.ticks < max_ticks):
            if end is not None and t0 + k * self.interval_ns >= end:
                break
            round_ = await self._start(k, t0, end, stop)
            if round_ is None:
                break
            tick = await round_.finish(self.deadline_ns)
            self._account(tick)
            for sink in self.sinks:
                sink(tick)
            k = tick.index + 1
        return self.stats

    async def _wake_on(self, stop: asyncio.Event) -> None:
        await stop.wait()
        if self._waiting is not None:
            _complete(self._waiting)

    async def _start(self, k: int, t0: int, end: int | None, stop: asyncio.Event) -> _Round | None:
        """Tick k (or the next slot still ahead, after a stall) started by its timer: the questions
        leave from the timer's callback, which the loop runs before the callbacks already queued, so
        a busy loop delays the start of a tick less than it delays a task's wake-up. None when
        `stop` is set or the run's end comes first."""
        if stop.is_set():
            return None
        begun: asyncio.Future[_Round | None] = asyncio.get_running_loop().create_future()
        self._waiting = begun
        self._arm(t0 + k * self.interval_ns - self._spin_ns, begun, k, t0, end, False)
        try:
            return await begun
        except BaseException:
            if begun.done() and not begun.cancelled() and (started := begun.result()) is not None:
                started.abandon()  # cancelled after its questions left: none outlives its tick
            raise
        finally:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._waiting = None

    def _arm(self, at_ns: int, *due: Any) -> None:
        self._timer = self.clock.call_at(at_ns, functools.partial(self._due, *due))

    def _due(
        self, begun: asyncio.Future[_Round | None], k: int, t0: int, end: int | None, skipped: bool
    ) -> None:
        if begun.done():
            return
        scheduled = t0 + k * self.interval_ns
        now = self.clock.now_ns()
        if now < scheduled:
            # early: uvloop's timers fire up to ~1 ms early, and the stock loop's are armed spin_s
            # early (epoll wakes up to 1 ms late): spin through the loop's queue, or take the timer again
            if self._spin_ns:
                self._timer = asyncio.get_running_loop().call_soon(self._due, begun, k, t0, end, skipped)
            else:
                self._arm(scheduled, begun, k, t0, end, skipped)
            return
        if now - scheduled >= self.deadline_ns // 2 and not skipped:
            # Too late to give this tick's probes their budget (a stalled machine): skip to the
            # next slot still ahead, counting what was missed, rather than run late in a burst.
            nxt = -(-(now - t0) // self.interval_ns)
            self.stats.skipped += nxt - k
            if end is not None and t0 + nxt * self.interval_ns >= end:
                begun.set_result(None)
            else:
                self._arm(t0 + nxt * self.interval_ns - self._spin_ns, begun, nxt, t0, end, True)
            return
        try:
            round_ = self._send(k, scheduled, now)
        except Exception as exc:  # raised in a timer's callback it would only be logged: `run` raises it
            begun.set_exception(exc)
            return
        begun.set_result(round_)

    def _send(self, k: int, scheduled: int, started: int) -> _Round:
        """Every probe asked at once: a probe with an open connection is sent its question directly
        and its reply's future taken (no task); the others are asked in a task each."""
        clock = self.clock
        round_ = _Round(clock, k, scheduled, started, clock.wall_ns(), self.probes)
        loop = asyncio.get_running_loop()
        for i, probe in enumerate(self.probes):
            sender = self._senders[i]
            if sender is not None:
                # the window starts before the question leaves: the answer is true at some instant in it
                at = (clock.now_ns(), clock.wall_ns())
                try:
                    reply = sender.send()
                except Exception as refused:  # a write refused: this node unknown, the tick goes on
                    round_.answered(
                        i, _observation(probe.node, k, at[0], clock.now_ns(), at[1], classify(refused))
                    )
                    continue
                if reply is not None:
                    round_.sent[i] = at
                    reply.add_done_callback(functools.partial(round_.replied, i, sender))
                    round_.pending.append(reply)
                    continue
            task = loop.create_task(self._observe(probe, k, round_.sent, i))
            task.add_done_callback(functools.partial(round_.observed, i))
            round_.pending.append(task)
        return round_

    async def _observe(self, probe: Probe, k: int, sent: list[tuple[int, int]], i: int) -> Observation:
        clock = self.clock
        send = clock.now_ns()
        wall = clock.wall_ns()
        sent[i] = (send, wall)
        answer: Answer
        try:
            answer = await probe.ask()
        except Exception as exc:
            answer = classify(exc)
        return _observation(probe.node, k, send, clock.now_ns(), wall, answer)

    def _account(self, tick: Tick) -> None:
        s = self.stats
        s.ticks += 1
        s.max_lateness_ns = max(s.max_lateness_ns, tick.lateness_ns)

    async def aclose(self) -> None:
        for probe in self.probes:
            with contextlib.suppress(Exception):
                await probe.aclose()


class _Round:
    """One tick in flight: its questions sent, the answers as they come, one deadline for all."""

    def __init__(
        self, clock: Clock, k: int, scheduled: int, started: int, wall: int, probes: Sequence[Probe]
    ) -> None:
        self.clock = clock
        self.k = k
        self.scheduled = scheduled
        self.started = started
        self.wall = wall
        self.probes = probes
        n = len(probes)
        self.sent: list[tuple[int, int]] = [(started, wall)] * n
        self.results: list[Observation | None] = [None] * n
        self.pending: list[asyncio.Future[Any]] = []
        self.remaining = n
        self.all_done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def answered(self, i: int, observation: Observation | None) -> None:
        if observation is not None:
            self.results[i] = observation
        self.remaining -= 1
        if not self.remaining:
            _complete(self.all_done)

    def replied(self, i: int, probe: SendingProbe, reply: asyncio.Future[Any]) -> None:
        if reply.cancelled():
            self.answered(i, None)
            return
        answer: Answer
        exc = reply.exception()
        try:
            answer = classify(exc) if exc is not None else probe.interpret(reply.result())
        except Exception as garbage:
            answer = classify(garbage)
        send, wall = self.sent[i]
        self.answered(i, _observation(probe.node, self.k, send, self.clock.now_ns(), wall, answer))

    def observed(self, i: int, task: asyncio.Task[Observation]) -> None:
        self.answered(i, None if task.cancelled() else task.result())

    async def finish(self, deadline_ns: int) -> Tick:
        """The tick once every answer is in or its deadline passed (the missing ones: timeouts)."""
        clock = self.clock
        if self.pending:
            timer = clock.call_at(self.scheduled + deadline_ns, functools.partial(_complete, self.all_done))
            try:
                await self.all_done
            finally:
                timer.cancel()
                tasks = self.abandon()
                if tasks:  # each probe leaves itself ready for the next tick; none outlives its tick
                    await asyncio.wait(tasks)
        now = clock.now_ns()
        timed_out = Answer.unknown(Reason.TIMEOUT, "no answer before the deadline")
        observations = tuple(
            r
            if r is not None
            else _observation(p.node, self.k, self.sent[i][0], now, self.sent[i][1], timed_out)
            for i, (r, p) in enumerate(zip(self.results, self.probes, strict=True))
        )
        return Tick(self.k, self.scheduled, self.started, self.wall, observations)

    def abandon(self) -> list[asyncio.Task[Any]]:
        """Cancel what has not answered (a cancelled reply is thrown away when it comes; a task
        ends now); the tasks cancelled, to await."""
        late = [f for f in self.pending if not f.done()]
        for f in late:
            f.cancel()
        return [f for f in late if isinstance(f, asyncio.Task)]


def _complete(f: asyncio.Future[Any]) -> None:
    if not f.done():
        f.set_result(None)


def _observation(node: str, k: int, send: int, recv: int, wall: int, answer: Answer) -> Observation:
    return Observation(
        node, k, send, recv, wall, answer.role, answer.epoch, answer.leader, answer.reason, answer.detail,
        answer.self_id, answer.groups,
    )  # fmt: skip
