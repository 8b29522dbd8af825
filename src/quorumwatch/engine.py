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
from quorumwatch.probes.base import Probe, SendingProbe, classify


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
        # The loop's timers wake up to ~1 ms late (epoll has millisecond resolution): sleep until
        # spin_s before the tick, then yield until it is due. Fake-clock tests pass 0.
        self._spin_ns = round(spin_s * 1e9)
        self._sleeping: asyncio.Future[None] | None = None

    async def run(
        self,
        *,
        duration_s: float | None = None,
        max_ticks: int | None = None,
        stop: asyncio.Event | None = None,
    ) -> EngineStats:
        stop = stop or asyncio.Event()
        # a sleeping engine waits on one future that its timer or `stop` completes (no scope per tick)
        stopper = asyncio.get_running_loop().create_task(self._wake_on(stop))
        try:
            return await self._run(duration_s, max_ticks, stop)
        finally:
            stopper.cancel()

    async def _run(self, duration_s: float | None, max_ticks: int | None, stop: asyncio.Event) -> EngineStats:
        clock = self.clock
        t0 = clock.now_ns()
        end = None if duration_s is None else t0 + round(duration_s * 1e9)
        k = 0
        while not stop.is_set() and (max_ticks is None or self.stats.ticks < max_ticks):
            scheduled = t0 + k * self.interval_ns
            if end is not None and scheduled >= end:
                break
            await self._sleep_until(scheduled, stop)
            if stop.is_set():
                break
            started = clock.now_ns()
            if started - scheduled >= self.deadline_ns // 2:
                # Too late to give this tick's probes their budget (a stalled machine): skip to the
                # next slot still ahead, counting what was missed, rather than run late in a burst.
                nxt = -(-(started - t0) // self.interval_ns)
                self.stats.skipped += nxt - k
                k = nxt
                scheduled = t0 + k * self.interval_ns
                if end is not None and scheduled >= end:
                    break
                await self._sleep_until(scheduled, stop)
                if stop.is_set():
                    break
                started = clock.now_ns()
            tick = await self._tick(k, scheduled, started)
            self._account(tick)
            for sink in self.sinks:
                sink(tick)
            k += 1
        return self.stats

    async def _wake_on(self, stop: asyncio.Event) -> None:
        await stop.wait()
        if self._sleeping is not None:
            _complete(self._sleeping)

    async def _sleep_until(self, t_ns: int, stop: asyncio.Event) -> None:
        clock = self.clock
        early = t_ns - self._spin_ns
        if clock.now_ns() < early and not stop.is_set():
            wake = self._sleeping = asyncio.get_running_loop().create_future()
            timer = clock.call_at(early, functools.partial(_complete, wake))
            try:
                await wake
            finally:
                timer.cancel()
                self._sleeping = None
        while clock.now_ns() < t_ns and not stop.is_set():  # noqa: ASYNC110 - deliberate sub-ms spin
            await asyncio.sleep(0)

    async def _tick(self, k: int, scheduled: int, started: int) -> Tick:
        """Every probe asked at once under one absolute deadline (one timer per tick, not one per
        probe: with a hundred clusters in one process the per-tick cost is what limits). A probe
        with an open connection is sent its question directly and its reply's future taken (no
        task); the others are asked in a task each."""
        clock = self.clock
        wall = clock.wall_ns()
        n = len(self.probes)
        sent: list[tuple[int, int]] = [(clock.now_ns(), wall)] * n
        results: list[Observation | None] = [None] * n
        loop = asyncio.get_running_loop()
        all_done = loop.create_future()
        remaining = n

        def count() -> None:
            nonlocal remaining
            remaining -= 1
            if not remaining:
                _complete(all_done)

        def replied(i: int, probe: SendingProbe, reply: asyncio.Future[Any]) -> None:
            if not reply.cancelled():
                answer: Answer
                exc = reply.exception()
                try:
                    answer = classify(exc) if exc is not None else probe.interpret(reply.result())
                except Exception as garbage:
                    answer = classify(garbage)
                results[i] = _observation(probe.node, k, sent[i][0], clock.now_ns(), sent[i][1], answer)
            count()

        def observed(i: int, task: asyncio.Task[Observation]) -> None:
            if not task.cancelled():
                results[i] = task.result()
            count()

        pending: list[asyncio.Future[Any]] = []
        for i, probe in enumerate(self.probes):
            sender = self._senders[i]
            reply = None
            if sender is not None:
                # the window starts before the question leaves: the answer is true at some instant in it
                at = (clock.now_ns(), clock.wall_ns())
                try:
                    reply = sender.send()
                except Exception as refused:  # a write refused: this node unknown, the tick goes on
                    results[i] = _observation(probe.node, k, at[0], clock.now_ns(), at[1], classify(refused))
                    count()
                    continue
            if sender is not None and reply is not None:
                sent[i] = at
                reply.add_done_callback(functools.partial(replied, i, sender))
                pending.append(reply)
            else:
                task = loop.create_task(self._observe(probe, k, sent, i))
                task.add_done_callback(functools.partial(observed, i))
                pending.append(task)
        if pending:
            timer = clock.call_at(scheduled + self.deadline_ns, functools.partial(_complete, all_done))
            try:
                await all_done
            finally:
                timer.cancel()
                late = [f for f in pending if not f.done()]
                for f in late:
                    f.cancel()  # a cancelled reply is thrown away when it comes; a task ends now
                tasks = [f for f in late if isinstance(f, asyncio.Task)]
                if tasks:  # each probe leaves itself ready for the next tick; none outlives its tick
                    await asyncio.wait(tasks)
        now = clock.now_ns()
        timed_out = Answer.unknown(Reason.TIMEOUT, "no answer before the deadline")
        observations = tuple(
            r if r is not None else _observation(p.node, k, sent[i][0], now, sent[i][1], timed_out)
            for i, (r, p) in enumerate(zip(results, self.probes, strict=True))
        )
        return Tick(k, scheduled, started, wall, observations)

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


def _complete(f: asyncio.Future[None]) -> None:
    if not f.done():
        f.set_result(None)


def _observation(node: str, k: int, send: int, recv: int, wall: int, answer: Answer) -> Observation:
    return Observation(
        node, k, send, recv, wall, answer.role, answer.epoch, answer.leader, answer.reason, answer.detail,
        answer.self_id,
    )  # fmt: skip
