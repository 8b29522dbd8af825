"""Runs one cluster: builds its probes and its one engine, records and shows every tick, and runs
its actors beside the probes — the workload and, in an experiment, the fault schedule.

The session turns signals into the stops given here; the engine stops between ticks, so the last
tick is recorded whole before exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import io
import sys
import time
import zlib
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast

from quorumwatch._version import __version__
from quorumwatch.analysis.online import LiveGrading
from quorumwatch.config import ClusterConfig, dump_cluster
from quorumwatch.engine import Engine, EngineStats, TickFeed
from quorumwatch.model import Tick
from quorumwatch.probes import make_probe
from quorumwatch.report.lines import TickFormatter
from quorumwatch.sentinels import SentinelWatch
from quorumwatch.store import HISTORY_FILE, HistoryFile, new_run_dir
from quorumwatch.workload.actor import workload_for
from quorumwatch.workload.spec import WorkloadSpec

T = TypeVar("T")


class Output(Protocol):
    """Where the lines go: stdout, or a file that SIGHUP reopens (report.output)."""

    def write(self, s: str, /) -> int: ...
    def flush(self) -> None: ...
    def fileno(self) -> int: ...


class Schedule(Protocol):
    """Faults on a schedule beside the probes (`experiment.Experiment`): its errors are its own."""

    interrupted: bool
    workload_slot: int | None
    """A sharded cluster's workload slot (set before `drive`): a `{role: leader, group: workload}`
    target is the leader of the group holding it."""

    async def drive(self, feed: TickFeed) -> None:
        """The trials; returns when they are done (or raises when they cannot go on)."""

    def ended(self, task: asyncio.Task[None]) -> None:
        """`drive`'s task is over: keep what it raised."""

    def stopped(self, actor: str, exc: BaseException) -> None:
        """Another actor failed (`probes`, `workload`): the schedule is cut short."""

    async def heal_all(self) -> None:
        """Heal whatever is still armed (idempotent)."""

    async def wind_down(self) -> None:
        """After the probes stopped (clocks, logs)."""


PASS_ANSWERS = 300
"""About how many answers one compaction pass reads."""


class Compaction:
    """Ticks older than `keep_s` are compacted now and then (`HistoryFile.compact_through`, on the
    writer's thread like every write): a healthy cluster's history shrinks to its changes, and no
    verdict, figure or harm changes. The last ticks before a fault are never compacted (the history
    finds the first fault itself), so `keep_s` is at least those ticks' span."""

    def __init__(self, history: HistoryFile, keep_s: float, interval_s: float, nodes: int = 1) -> None:
        from quorumwatch.analysis.compaction import PROTECT_TICKS

        self.history = history
        self.keep = max(PROTECT_TICKS + 1, round(keep_s / interval_s))
        self.every = max(1, round(1 / interval_s), -(-PASS_ANSWERS // max(nodes, 1)))
        """Compact once a second, or once `PASS_ANSWERS` answers are there: a run that goes on
        extends its row, so small passes cost nothing on disk, and each holds the thread it runs on
        for a few milliseconds only (a pass has a fixed cost: fewer, fuller ones for small clusters)."""

        self.last = -1
        self.phase = zlib.crc32(str(history.path).encode()) % self.every
        """Where in the minute this history's passes fall: a hundred clusters watched together do
        not all compact at the same tick (their passes share one writer thread)."""

    def __call__(self, tick: Tick) -> None:
        self.last = tick.index
        if (tick.index + self.phase) % self.every == 0 and tick.index > self.keep:
            self.history.compact_through(tick.index - self.keep)

    def finish(self) -> None:
        """The watch ended: compact all but the kept span."""
        if self.last > self.keep:
            self.history.compact_through(self.last - self.keep)


class Retention:
    """`watch --retain`: ticks older than `retain_s` are deleted now and then, with a count of what
    they held. What the grading proves or finds possible is recorded as it is found, and what open
    intervals show together is recorded before each deletion, so the final analysis of the ticks
    left, joined with the records, equals that of the whole history (property-tested in the
    analysis); a crash loses at most what only the open intervals' deleted part showed."""

    def __init__(
        self, history: HistoryFile, grading: LiveGrading, retain_s: float, interval_s: float
    ) -> None:
        self.history = history
        history.set_meta("retain_s", repr(retain_s))
        self.analysis = grading.analysis
        self.analysis.record = True
        self.retain_ns = round(retain_s * 1e9)
        self.interval_ns = round(interval_s * 1e9)
        self.every = max(1, min(100, round(retain_s / interval_s / 10)))
        """Delete every this many ticks (ten times per retention at least): each deletion stays
        small (a few thousand rows at most), so it never holds up a tick for long."""
        self.first_kept = 0

    def __call__(self, tick: Tick) -> None:
        """After the formatter graded `tick`."""
        found = self.analysis.take_found()
        if found:
            self.history.append_findings(found)
        if tick.index % self.every:
            return
        # the ticks scheduled more than the retention before this one
        first_kept = tick.index - self.retain_ns // self.interval_ns
        if first_kept <= self.first_kept:
            return
        self.history.append_findings(self.analysis.provisional())
        self.history.drop_ticks_before(first_kept)
        self.first_kept = first_kept

    def finish(self) -> None:
        """The watch ended: close what is open and record what that finds."""
        self.analysis.finish()
        found = self.analysis.take_found()
        if found:
            self.history.append_findings(found)


MANY_SPIN_S = 0.0
"""Clusters watched together do not spin before their ticks: a hundred engines each spinning 1 ms
of every 100 would keep a core busy (docs/benchmarks.md)."""


def run_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run `main` on uvloop: with many clusters in one process the stock loop's own cost per I/O
    event and per timer is what makes ticks late (measured in docs/benchmarks.md). What set-up made
    (modules, configurations, histories) lives as long as the run: it is frozen out of the cyclic
    collector, whose full passes over it (40-70 ms at 100 clusters) made every cluster's tick late."""
    import uvloop

    gc.freeze()
    try:
        return uvloop.run(main)
    finally:
        gc.unfreeze()


def utc_name() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")[:-4] + "Z"


def prepare_run(
    cluster: ClusterConfig, run_dir: Path | None, base: Path = Path("runs")
) -> tuple[Path, HistoryFile]:
    run = new_run_dir(base, cluster.name, run_dir, utc_name())
    (run / "cluster.yaml").write_text(dump_cluster(cluster), encoding="utf-8")
    meta = {
        "cluster": cluster.name,
        "probe": cluster.probe.kind,
        "interval_s": repr(cluster.interval),
        "deadline_s": repr(cluster.effective_deadline),
        "quorumwatch_version": __version__,
        "started_wall_ns": str(time.time_ns()),
        "cluster_yaml": dump_cluster(cluster),
    }
    history = HistoryFile.create(run / HISTORY_FILE, [n.name for n in cluster.nodes], meta)
    return run, history


async def watch(
    cluster: ClusterConfig,
    history: HistoryFile,
    *,
    duration_s: float | None,
    formatter: TickFormatter,
    grading: LiveGrading | None = None,
    out: Output | None = sys.stdout,
    render: Callable[[Tick], None] | None = None,
    workload: WorkloadSpec | None = None,
    run_id: str = "watch",
    stop: asyncio.Event | None = None,
    ops_stop: asyncio.Event | None = None,
    on_tick: Callable[[Tick], None] | None = None,
    spin_s: float = 0.001,
    note: Callable[[str], None] | None = None,
    schedule: Schedule | None = None,
) -> EngineStats:
    """Watch until `duration_s` or `stop` (the session turns signals into them). With a workload:
    on `ops_stop` or the end of the duration, operations stop, the set is read back from the
    agreed leader, then probing stops; `stop` stops at once. `out=None` prints
    nothing (the library's way); `note` takes the workload's status lines (default: `out`).
    `grading`, the cluster's one live grading, is fed each tick after
    it is recorded and before anything shows or reads it (the formatter, then `on_tick`)."""
    probes = [make_probe(cluster, node) for node in cluster.nodes]
    graded = grading if grading is not None else LiveGrading()

    def record(tick: Tick) -> None:
        history.append_tick(tick)

    stop = stop or asyncio.Event()
    sink = out if out is not None else Discard()

    def show(tick: Tick) -> None:
        graded.feed(tick)
        lines = formatter.feed(tick, graded)
        if render is not None:
            render(tick)
        elif lines and out is not None:
            try:
                out.write("\n".join(lines) + "\n")
                out.flush()
            except BrokenPipeError:
                # `watch | head`: the reader left. Stop like Ctrl-C; the history keeps every tick.
                _silence(out)
                stop.set()

    feed = TickFeed()
    engine = Engine(
        probes,
        interval_s=cluster.interval,
        deadline_s=cluster.effective_deadline,
        sinks=[record, show, feed.push, *([on_tick] if on_tick is not None else [])],
        spin_s=spin_s,
    )
    ops_stop = ops_stop or asyncio.Event()
    try:
        if workload is None and schedule is None:
            return await engine.run(duration_s=duration_s, stop=stop)
        say = note if note is not None else (lambda line: say_line(sink, line))
        return await _actors(
            engine, feed, workload, schedule, cluster, history, run_id, duration_s, stop, ops_stop, say
        )
    finally:
        await engine.aclose()
        if schedule is not None:
            await schedule.wind_down()


async def _actors(
    engine: Engine,
    feed: TickFeed,
    spec: WorkloadSpec | None,
    schedule: Schedule | None,
    cluster: ClusterConfig,
    history: HistoryFile,
    run_id: str,
    duration_s: float | None,
    stop: asyncio.Event,
    ops_stop: asyncio.Event,
    say: Callable[[str], None],
) -> EngineStats:
    """The probes, the workload and the schedule side by side under one clock, until the schedule
    ends (an experiment) or the duration does (a watch), `ops_stop` (the first signal), or an actor
    fails. Then, in order: the schedule cut short and every fault healed; operations stopped and
    those in flight ended; the set read back from the agreed leader (unless `stop`, the second
    signal, or the probes ended); the probes stopped."""
    loop = asyncio.get_running_loop()
    wl = workload_for(spec, cluster, history, feed, run_id) if spec is not None else None
    if schedule is not None and wl is not None:
        schedule.workload_slot = getattr(wl.client, "group_slot", None)
    engine_task = loop.create_task(engine.run(stop=stop))
    sentinels = _sentinels(cluster, history)
    watching = loop.create_task(sentinels.run(feed, stop)) if sentinels is not None else None
    wl_task = loop.create_task(wl.run(ops_stop)) if wl is not None else None
    driver = loop.create_task(schedule.drive(feed)) if schedule is not None else None
    actors = [t for t in (engine_task, wl_task, driver) if t is not None]
    try:
        signalled = loop.create_task(ops_stop.wait())
        await asyncio.wait(
            [*actors, signalled], timeout=duration_s if driver is None else None,
            return_when=asyncio.FIRST_COMPLETED,
        )  # fmt: skip
        signalled.cancel()
        if schedule is not None and driver is not None:
            if not driver.done():
                failed = [(n, t) for n, t in (("probes", engine_task), ("workload", wl_task))
                          if t is not None and t.done() and not t.cancelled() and t.exception()]  # fmt: skip
                if failed:
                    name, task = failed[0]
                    schedule.stopped(name, cast(BaseException, task.exception()))
                else:
                    schedule.interrupted = True
                driver.cancel()
            await asyncio.wait([driver])
            await schedule.heal_all()
            schedule.ended(driver)
        ops_stop.set()
        if wl is not None and wl_task is not None:
            await asyncio.wait([wl_task])
            if engine_task.done() or wl_task.exception() is not None:
                stop.set()
            elif wl.spec.kind == "set" and not stop.is_set():
                reading = loop.create_task(wl.read_back())
                await asyncio.wait([reading, engine_task], return_when=asyncio.FIRST_COMPLETED)
                if reading.done():
                    say(reading.result())
                else:
                    reading.cancel()
            say(wl.stats.line())
    finally:
        if driver is not None and schedule is not None and not driver.done():
            # cancelled from outside (a library caller): heal before anything else stops
            driver.cancel()
            await asyncio.wait([driver])
            await schedule.heal_all()
        stop.set()
        ops_stop.set()
        await asyncio.wait([engine_task, *(t for t in (wl_task, watching) if t is not None)])
        if wl is not None:
            await wl.client.aclose()
    if schedule is not None:
        return engine_task.result() if not engine_task.exception() else EngineStats()
    if wl_task is not None and wl_task.exception() is not None:
        raise wl_task.exception()  # type: ignore[misc]
    return engine_task.result()


def _sentinels(cluster: ClusterConfig, history: HistoryFile) -> SentinelWatch | None:
    """The sentinels' view beside the probes, when the cluster file names sentinels."""
    from quorumwatch.config import RedisProbeConfig

    if not isinstance(cluster.probe, RedisProbeConfig) or not cluster.probe.sentinels:
        return None
    return SentinelWatch(cluster, history.append_event)


class Discard(io.StringIO):
    """An output that keeps nothing (a watch driven by the library prints nothing unless asked)."""

    def write(self, s: str) -> int:
        return len(s)


def say_line(out: Output, line: str) -> None:
    """One status line to `out`, flushed; a reader that went away is not an error here."""
    with contextlib.suppress(BrokenPipeError):
        out.write(line + "\n")
        out.flush()


def _silence(out: Output) -> None:
    """Point a stream whose reader went away at /dev/null, so the interpreter's final flush does
    not fail again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, out.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
