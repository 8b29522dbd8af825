"""A session: watches of one cluster or many from their run directories to their results, and the
one exit code.

A `Plan` (typed, frozen: the clusters, their workloads, an optional fault schedule, the outputs,
retention, duration) is all an entry point builds: `quorumwatch watch` (one cluster or many,
`--live`) and `run`, `api.Watch`, `api.observe`, `api.run_experiment` and the pytest plugin run
theirs through `watch` / `watch_async`. Per cluster the session makes the run directory and one
engine (`watcher.watch`), with the workload and, with a scenario, the fault schedule
(`experiment.Experiment`: faults injected and healed trial after trial) as actors beside it; feeds
**one live grading** after each tick is recorded, and hands the tick to its consumers in one order:
formatter, metrics, `--on-verdict` hooks, retention, the caller's hook. Signals are handled here
once (the first Ctrl-C heals the faults, stops the workload and reads the set back; the next stops
at once), several clusters' histories are written by one
writer thread beside the loop (one cluster commits each tick before it is shown), and every run
ends with the one analysis (`finish`).

Every run, experiments included, ends here: what stopped it early is recorded in the history beside
the ticks (`close_run`), the analysis makes its `RunResult`, and `RunResult.exit_code` is the only
rule for the code it exits with, so the CLI and the library say the same of the same run, and
`quorumwatch analyze RUN_DIR` says it again later.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shlex
import signal
import sqlite3
import sys
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TextIO

from quorumwatch.analysis import exit_code as verdict_code
from quorumwatch.analysis.online import LiveGrading
from quorumwatch.config import ClusterConfig
from quorumwatch.model import HARM_EXIT, Event, FailOn, Harm, Tick, Verdict
from quorumwatch.report.lines import LineFormatter, TickFormatter
from quorumwatch.report.schema import Results
from quorumwatch.rundir import REPORT_FILE, RESULTS_FILE, analyze_run
from quorumwatch.scenario import Scenario
from quorumwatch.shards import ClusterDirectory
from quorumwatch.store import HISTORY_FILE, HistoryError, HistoryFile, Writer
from quorumwatch.workload.spec import WorkloadSpec

if TYPE_CHECKING:
    from rich.live import Live

    from quorumwatch.experiment import Experiment
    from quorumwatch.report.hooks import Hooks
    from quorumwatch.report.metrics import WatchMetrics
    from quorumwatch.report.output import ReopenableOutput
    from quorumwatch.watcher import Compaction, Output, Retention

EXIT_ERROR = 1
EXIT_USAGE = 2
SEVERITY = (HARM_EXIT, 4, 3, EXIT_ERROR, 5, 0)
"""Exit codes, most severe first: several clusters watched exit with the worst of theirs. A cluster
that could not be examined (1) outranks another's `possible` (5): a gate must not pass on it."""

_ERRORS, _INTERRUPTED = "run_errors", "run_interrupted"
"""The history's meta keys for what stopped a run early."""


@dataclass(frozen=True)
class RunResult:
    """A finished watch or experiment: where it was recorded, what the analysis found, and what
    stopped it early."""

    run_dir: Path
    results: Results
    errors: tuple[str, ...] = ()
    """What stopped an experiment early (a fault that failed, steady state not reached)."""
    interrupted: bool = False
    """An experiment cut short by a signal (its faults healed): its trials did not all run."""

    @property
    def verdict(self) -> Verdict:
        return self.results.verdict

    @property
    def harm(self) -> Harm:
        return self.results.harm

    @property
    def results_path(self) -> Path:
        return self.run_dir / RESULTS_FILE

    @property
    def report_path(self) -> Path:
        """report.html (written unless the watch or experiment was asked not to)."""
        return self.run_dir / REPORT_FILE

    def exit_code(self, fail_on: FailOn | str = FailOn.POSSIBLE) -> int:
        """The code `quorumwatch run`, `watch` and `analyze` exit with, and the only rule for it:
        harm 6; else the verdict's code at or above `fail_on` (4 violation, 3 dual leader,
        5 possible) — a finding stands whatever else went wrong; else 1 when nothing was examined
        (inconclusive), a fault or steady state failed, or the run was interrupted; else 0."""
        code = verdict_code(self.verdict, self.harm, fail_on)
        if code not in (0, EXIT_ERROR):
            return code
        return EXIT_ERROR if code == EXIT_ERROR or self.errors or self.interrupted else 0

    def failed(self, fail_on: FailOn | str = FailOn.POSSIBLE) -> bool:
        return self.exit_code(fail_on) != 0


def worst(codes: Iterable[int]) -> int:
    """The exit code of several runs: the most severe of theirs (0 for none)."""
    return min(codes, key=SEVERITY.index, default=0)


def close_run(history: HistoryFile, errors: Iterable[str] = (), interrupted: bool = False) -> None:
    """Record what stopped the run early (nothing: nothing is written), so that every later reading
    of the run directory gives the same result and exit code."""
    errors = list(errors)
    if errors:
        history.set_meta(_ERRORS, json.dumps(errors))
    if interrupted:
        history.set_meta(_INTERRUPTED, "1")


def finish(run_dir: Path, *, report: bool = False) -> RunResult:
    """The one analysis of a recorded run (results.json written, report.html too when asked) and
    its result, with what stopped it early as recorded by `close_run`. Raises what `analyze_run`
    raises (HistoryError, OSError, sqlite3.Error) when the history cannot be read."""
    _, results = analyze_run(run_dir, report=report)
    errors, interrupted = outcome(run_dir)
    return RunResult(run_dir, results, errors, interrupted)


def outcome(run_dir: Path) -> tuple[tuple[str, ...], bool]:
    """What `close_run` recorded of a run: its errors and whether it was interrupted."""
    history = HistoryFile.open(run_dir / HISTORY_FILE)
    try:
        meta = history.meta()
    finally:
        history.close()
    try:
        errors = json.loads(meta.get(_ERRORS, "[]"))
    except ValueError:
        errors = [f"unreadable {_ERRORS} in the history: {meta[_ERRORS][:60]!r}"]
    if not isinstance(errors, list):
        errors = [str(errors)]
    return tuple(str(e) for e in errors), meta.get(_INTERRUPTED) == "1"


# ---- the watch plan ----


class SessionError(Exception):
    """A session that cannot start or go on: printable as is; `code` is the exit code it means."""

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Outputs:
    """What a session shows, and where."""

    format: Literal["text", "jsonl"] = "text"
    changes_only: bool = False
    output: Path | None = None
    """A file for the lines (reopened on SIGHUP: log rotation); None: the session's stream."""
    metrics: str | None = None
    """`[HOST:]PORT` of a Prometheus endpoint for every cluster of the session."""
    on_verdict: tuple[str, ...] = ()
    """A command (argv) run for every finding that starts or ends."""
    live: bool = False
    """A table redrawn in place (text, one cluster, a terminal, no output file)."""

    @staticmethod
    def hook_argv(command: str | None) -> tuple[str, ...]:
        """`--on-verdict CMD` as argv; SessionError (usage) when it does not split or is empty."""
        if command is None:
            return ()
        try:
            argv = shlex.split(command)
        except ValueError as exc:
            raise SessionError(f"--on-verdict: {exc}", EXIT_USAGE) from None
        if not argv:
            raise SessionError("--on-verdict: empty command", EXIT_USAGE)
        return tuple(argv)


@dataclass(frozen=True)
class Target:
    """One cluster of a session."""

    cluster: ClusterConfig
    run_dir: Path | None = None
    """Where to record; default `<runs>/<cluster>/<UTC time>`."""
    workload: WorkloadSpec | None = None


@dataclass(frozen=True)
class Fleet:
    """`watch --clusters DIR --shard K/N`: the directory's cluster files that fall to this shard,
    looked at again every `rescan_s` and on SIGHUP (files added, changed or removed)."""

    directory: ClusterDirectory
    rescan_s: float = 10.0


@dataclass(frozen=True)
class Plan:
    targets: tuple[Target, ...]
    duration_s: float | None = None
    """A watch's length (None: until stopped); an experiment ends with its trials."""
    outputs: Outputs = Outputs()
    retain_s: float | None = None
    """Keep only the last this many seconds of ticks (findings and counts stay)."""
    runs: Path = Path("runs")
    report: bool = True
    """Write report.html beside results.json."""
    scenario: Scenario | None = None
    """Faults on a schedule, trial after trial (`quorumwatch run`): each target's workload is the
    scenario's."""
    trials: int | None = None
    """Overrides the scenario's trial count."""
    keep_ticks_s: float | None = 10.0
    """Keep the last this many seconds of ticks whole; older ones are compacted (lossless for
    the analysis: `analysis.compaction`). None: never compact."""
    fleet: Fleet | None = None
    """Clusters from a directory, this shard's share, as the directory holds them over time (the
    targets are then none: each file found becomes one, recorded under `runs`)."""

    def __post_init__(self) -> None:
        names = [t.cluster.name for t in self.targets]
        if not names and self.fleet is None:
            raise SessionError("a session needs a cluster", EXIT_USAGE)
        if self.fleet is not None and (names or self.scenario is not None):
            raise SessionError("a fleet session watches its directory's clusters only", EXIT_USAGE)
        if len(set(names)) != len(names):
            raise SessionError(f"cluster names must differ: {', '.join(names)}", EXIT_USAGE)
        if self.duration_s is not None and self.duration_s <= 0:
            raise SessionError("--duration must be positive", EXIT_USAGE)


class Labelled:
    """A text formatter whose lines start with the cluster's name (several clusters in one stream)."""

    def __init__(self, name: str, inner: LineFormatter) -> None:
        self.name = name
        self.inner = inner

    @property
    def ticks(self) -> int:
        return self.inner.ticks

    @property
    def multi_leader_ticks(self) -> int:
        return self.inner.multi_leader_ticks

    def feed(self, tick: Tick, grading: LiveGrading | None = None) -> list[str]:
        return [f"[{self.name}] {line}" for line in self.inner.feed(tick, grading)]


@dataclass
class _Running:
    """One target while the session runs: its run directory and what consumes its ticks."""

    target: Target
    run: Path
    history: HistoryFile
    formatter: TickFormatter
    grading: LiveGrading = field(default_factory=LiveGrading)
    consumers: list[Callable[[Tick], None]] = field(default_factory=list)
    hooks: Hooks | None = None
    retention: Retention | None = None
    compaction: Compaction | None = None

    def on_tick(self, tick: Tick) -> None:
        """After the tick is recorded, graded and shown: metrics, hooks, retention, the caller's."""
        for consumer in self.consumers:
            consumer(tick)


def _many(plan: Plan) -> bool:
    """Whether the session's lines and status name their cluster (several, or a fleet's)."""
    return len(plan.targets) > 1 or plan.fleet is not None


def _formatter(plan: Plan, cluster: ClusterConfig) -> TickFormatter:
    o = plan.outputs
    if o.format == "jsonl":
        from quorumwatch.report.export import JsonlFormatter

        return JsonlFormatter(cluster.name)
    text = LineFormatter(changes_only=o.changes_only)
    return Labelled(cluster.name, text) if _many(plan) else text


def _serve_metrics(plan: Plan, say: Callable[[str], None]) -> WatchMetrics | None:
    address = plan.outputs.metrics
    if address is None:
        return None
    from quorumwatch.report.metrics import WatchMetrics, serve

    if ":" not in address:
        address = f"127.0.0.1:{address}"
    metrics = WatchMetrics()
    shard = plan.fleet.directory.shard if plan.fleet is not None else None
    metrics.shard.labels(*((str(shard.index), str(shard.count)) if shard else ("0", "1"))).set(1)
    for t in plan.targets:
        metrics.start(t.cluster.name, [n.name for n in t.cluster.nodes])
    try:
        host, port = serve(metrics, address)
    except (OSError, ValueError) as exc:
        raise SessionError(f"--metrics {address}: cannot serve: {exc}", EXIT_USAGE) from None
    say(f"metrics on http://{host}:{port}/metrics")
    return metrics


def open_output(path: Path | None) -> ReopenableOutput | None:
    """The output file, opened before anything is recorded (a bad path is a usage error)."""
    if path is None:
        return None
    from quorumwatch.report.output import ReopenableOutput

    try:
        return ReopenableOutput(path)
    except OSError as exc:
        raise SessionError(f"{path}: {exc.strerror or exc}", EXIT_USAGE) from None


def _start(plan: Plan, metrics: WatchMetrics | None, say: Callable[[str], None]) -> list[_Running]:
    """Every target's run directory and consumers (all or none: a failure closes what was made)."""
    running: list[_Running] = []
    try:
        for t in plan.targets:
            running.append(_start_one(plan, t, metrics, say))
    except SessionError:
        for r in running:
            r.history.close()
        raise
    return running


def _start_one(plan: Plan, t: Target, metrics: WatchMetrics | None, say: Callable[[str], None]) -> _Running:
    """One target's run directory, history and consumers; SessionError when it cannot be recorded."""
    from quorumwatch.watcher import Compaction, Retention, prepare_run

    try:
        run, history = prepare_run(t.cluster, t.run_dir, plan.runs)
    except (HistoryError, OSError) as exc:
        raise SessionError(str(exc)) from None
    r = _Running(t, run, history, _formatter(plan, t.cluster))
    prefix = f"{t.cluster.name}: " if _many(plan) else ""
    say(f"{prefix}recording to {run}")
    c, g = t.cluster, r.grading
    if metrics is not None:
        if plan.fleet is not None:  # a plan's own targets were published when the endpoint opened
            metrics.start(c.name, [n.name for n in c.nodes])
        r.consumers.append(_observer(metrics, c, g))
    if plan.outputs.on_verdict:
        from quorumwatch.report.hooks import Hooks

        r.hooks = Hooks(list(plan.outputs.on_verdict), c.name, str(run))
        r.consumers.append(_firer(r.hooks, g))
    if plan.keep_ticks_s is not None:
        r.compaction = Compaction(history, plan.keep_ticks_s, c.interval, len(c.nodes))
        r.consumers.append(r.compaction)
    if plan.retain_s is not None:
        r.retention = Retention(history, g, plan.retain_s, c.interval)
        r.consumers.append(r.retention)
    return r


def _observer(metrics: WatchMetrics, cluster: ClusterConfig, grading: LiveGrading) -> Callable[[Tick], None]:
    """Feed the metrics each tick, with the findings the cluster's grading holds after it."""

    def observe(tick: Tick) -> None:
        metrics.observe(cluster.name, tick, grading.active, grading.leaderless_ns)

    return observe


def _firer(hooks: Hooks, grading: LiveGrading) -> Callable[[Tick], None]:
    """Fire the hook for every finding that started or ended at the tick just graded."""

    def fire(_tick: Tick) -> None:
        for change in grading.changes:
            hooks.fire(change, grading.offset_ns)

    return fire


async def watch_async(
    plan: Plan,
    *,
    out: TextIO | None = None,
    say: Callable[[str], None] = lambda line: None,
    stop: asyncio.Event | None = None,
    ops_stop: asyncio.Event | None = None,
    signals: bool = False,
    on_tick: Callable[[str, Tick], None] | None = None,
    on_start: Callable[[Sequence[Path]], None] | None = None,
) -> list[RunResult]:
    """Run the plan on the running loop until its duration, `stop` or (with `signals`) a signal;
    then analyse every run. `out`: where the lines go when the plan names no file (None: nowhere);
    `say`: status lines (recording to …, the workload's counts); `on_tick(cluster, tick)`: after
    every consumer; `on_start(run_dirs)`: once the run directories exist. Raises SessionError."""
    stop = stop or asyncio.Event()
    ops_stop = ops_stop or asyncio.Event()
    output = open_output(plan.outputs.output)
    try:
        metrics = _serve_metrics(plan, say)
        running = _start(plan, metrics, say)
    except SessionError:
        if output is not None:
            output.close()
        raise
    if on_start is not None:
        on_start([r.run for r in running])
    sink: Output | None = output if output is not None else out
    # several clusters: the commits run beside the loop, not in it (a kill -9 loses the ticks still
    # queued, normally one per cluster); one cluster commits each tick before showing it, so a kill -9
    # loses at most the tick being written
    many = _many(plan)
    writer = Writer() if many else None
    session = _Session(plan, stop, ops_stop, sink, _live(plan, output, sink), writer, metrics, on_tick, say)
    loop = asyncio.get_running_loop()
    rescan = asyncio.Event()

    def on_signal(signum: int) -> None:
        # the first signal ends gently (faults healed, operations ended, the set read back), the
        # next at once; a plain watch has nothing to end gently
        workloads = any(r.target.workload is not None for r in session.members.values())
        if not (workloads or plan.scenario is not None) or ops_stop.is_set():
            stop.set()
        elif plan.scenario is not None:
            for r in session.members.values():
                _note(plan, r, sink, say)(
                    f"quorumwatch: {signal.Signals(signum).name}: healing, then stopping"
                )
        ops_stop.set()

    def on_hup() -> None:
        # SIGHUP reopens the output file (log rotation) and looks at a fleet's directory again;
        # a watch never dies of it
        if output is not None:
            output.reopen()
        rescan.set()

    if signals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal, sig)
        loop.add_signal_handler(signal.SIGHUP, on_hup)
    try:
        with session.live if session.live is not None else contextlib.nullcontext():
            for i, r in enumerate(running):
                session.add(r, r.target.cluster.interval * i / len(running) if many else 0.0)
            if plan.fleet is not None:
                await session.follow(plan.fleet, rescan)
            await session.wait()
    finally:
        if signals:
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                loop.remove_signal_handler(sig)
        failure = _close(list(session.members.values()), writer, output, say) or session.failure
    if failure is not None:
        raise SessionError(failure)
    results = session.results
    for r in session.members.values():
        session.said_done(r)
        results.append(await _finish(plan, r))
    return results


async def _finish(plan: Plan, r: _Running) -> RunResult:
    try:
        return await asyncio.to_thread(finish, r.run, report=plan.report)
    except (HistoryError, OSError, sqlite3.Error) as exc:
        raise SessionError(f"cannot analyse {r.run}: {exc}") from None


class _Session:
    """The targets of a running session, each watched in its own task; a fleet's come and go as
    its directory changes. A failure to record ends the session (what was recorded is kept)."""

    def __init__(
        self,
        plan: Plan,
        stop: asyncio.Event,
        ops_stop: asyncio.Event,
        sink: Output | None,
        live: Live | None,
        writer: Writer | None,
        metrics: WatchMetrics | None,
        on_tick: Callable[[str, Tick], None] | None,
        say: Callable[[str], None],
    ) -> None:
        self.plan, self.stop, self.ops_stop, self.sink, self.live = plan, stop, ops_stop, sink, live
        self.writer, self.metrics, self.on_tick, self.say = writer, metrics, on_tick, say
        self.members: dict[str, _Running] = {}
        """By the cluster's name (a fleet: by its file's name)."""
        self.tasks: dict[str, tuple[asyncio.Task[None], asyncio.Event]] = {}
        self.results: list[RunResult] = []
        """Runs that ended while the session went on (a fleet's removed or changed files)."""
        self.failure: str | None = None

    def add(self, r: _Running, offset_s: float, key: str | None = None) -> None:
        """Watch one more target, its first tick `offset_s` from now (clusters' ticks spread over
        the interval rather than started at one instant)."""
        key = key or r.target.cluster.name
        if self.on_tick is not None:
            r.consumers.append(_named(self.on_tick, r.target.cluster.name))
        if self.writer is not None:
            r.history.write_from(self.writer)
        mine = asyncio.Event()
        task = asyncio.get_running_loop().create_task(self._watch(r, offset_s, mine))
        self.members[key], self.tasks[key] = r, (task, mine)

    async def wait(self) -> None:
        """Until every target's watch has ended."""
        await asyncio.gather(*(task for task, _ in self.tasks.values()))

    async def retire(self, key: str) -> None:
        """Stop watching one target, close and analyse its run (a fleet's file removed or changed)."""
        task, mine = self.tasks.pop(key)
        r = self.members.pop(key)
        mine.set()
        await task
        failure = _close([r], None, None, self.say)
        if self.metrics is not None:
            self.metrics.forget(r.target.cluster.name)
        if failure is not None:
            self.say(f"quorumwatch: {failure}")
            return
        self.said_done(r)
        try:
            self.results.append(await _finish(self.plan, r))
        except SessionError as exc:
            self.say(f"quorumwatch: {exc}")

    async def follow(self, fleet: Fleet, rescan: asyncio.Event) -> None:
        """Watch the shard's clusters as the directory holds them, until the session stops: files
        added are watched, files removed or changed end their runs (a changed one starts again)."""
        seen: dict[str, ClusterConfig] = {}
        deadline = asyncio.get_running_loop().time() + (self.plan.duration_s or float("inf"))
        while not self.stop.is_set():
            try:
                scan = await asyncio.to_thread(fleet.directory.scan)
            except OSError as exc:
                self.say(f"quorumwatch: {fleet.directory.directory}: {exc.strerror or exc}; watching what "
                         "was there")  # fmt: skip
            else:
                for error in scan.errors:
                    self.say(f"quorumwatch: {error}")
                for key in [k for k in self.members if scan.clusters.get(k) != seen.get(k)]:
                    why = "changed: a new run starts" if key in scan.clusters else "is gone: its run ends"
                    self.say(
                        f"{self.members[key].target.cluster.name}: {fleet.directory.directory / key} {why}"
                    )
                    await self.retire(key)
                    del seen[key]
                for key, cluster in scan.clusters.items():
                    if key not in self.members and not self.stop.is_set():
                        self._join(key, cluster, seen)
            rescan.clear()
            with contextlib.suppress(TimeoutError):
                wake = min(deadline, asyncio.get_running_loop().time() + fleet.rescan_s)
                async with asyncio.timeout_at(wake):
                    await _first(self.stop, rescan)
            if asyncio.get_running_loop().time() >= deadline:
                self.stop.set()

    def _join(self, key: str, cluster: ClusterConfig, seen: dict[str, ClusterConfig]) -> None:
        try:
            r = _start_one(self.plan, Target(cluster), self.metrics, self.say)
        except SessionError as exc:
            self.say(f"quorumwatch: {cluster.name}: {exc}")
            return
        seen[key] = cluster
        # spread over the interval by name, so the same clusters tick at the same offsets every start
        self.add(r, cluster.interval * (zlib.crc32(cluster.name.encode()) % 1000) / 1000, key)

    def said_done(self, r: _Running) -> None:
        if self.plan.scenario is None:
            prefix = f"{r.target.cluster.name}: " if _many(self.plan) else ""
            f = r.formatter
            many = f"{f.multi_leader_ticks} with more than one leader"
            self.say(f"{prefix}{f.ticks} ticks, {many}; history in {r.run}")

    async def _watch(self, r: _Running, offset_s: float, mine: asyncio.Event) -> None:
        # its own stops, set by the session's: one cluster's end (its workload read back, its
        # duration over, its file removed) must not stop another's
        loop = asyncio.get_running_loop()
        my_ops = asyncio.Event()
        relays = [loop.create_task(_relay(self.stop, mine)), loop.create_task(_relay(self.ops_stop, my_ops))]
        try:
            await self._watch_one(r, offset_s, mine, my_ops)
        except (OSError, sqlite3.Error) as exc:
            where = r.run if len(self.tasks) == 1 and self.plan.fleet is None else self.plan.runs
            failure = f"while recording to {where}: {exc} (ticks recorded so far are kept)"
            if self.plan.scenario is not None:
                failure += f"; run 'quorumwatch heal {where}' if faults were active"
            self.failure = self.failure or failure
            self.stop.set()
        finally:
            for relay in relays:
                relay.cancel()

    async def _watch_one(
        self, r: _Running, offset_s: float, stop: asyncio.Event, ops_stop: asyncio.Event
    ) -> None:
        from quorumwatch.watcher import MANY_SPIN_S
        from quorumwatch.watcher import watch as run_watch

        plan, many = self.plan, _many(self.plan)
        if offset_s > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(offset_s):
                    await stop.wait()
            if stop.is_set():
                return
        schedule = (
            _experiment(plan, plan.scenario, r, self.sink, self.say) if plan.scenario is not None else None
        )
        render = None
        live = self.live
        if live is not None:
            from quorumwatch.report.live import live_table

            def render(tick: Tick, r: _Running = r) -> None:
                live.update(
                    live_table(tick, r.target.cluster.name, r.formatter.multi_leader_ticks), refresh=True
                )

        await run_watch(
            r.target.cluster, r.history, duration_s=plan.duration_s if plan.fleet is None else None,
            formatter=r.formatter, grading=r.grading, out=self.sink, render=render,
            workload=r.target.workload, run_id=_run_id(r.run), stop=stop, ops_stop=ops_stop,
            on_tick=r.on_tick, spin_s=MANY_SPIN_S if many else 0.001,
            note=_note(plan, r, self.sink, self.say), schedule=schedule,
        )  # fmt: skip
        if schedule is not None:
            _experiment_done(schedule, r, self.say)


async def _first(*events: asyncio.Event) -> None:
    """Until one of the events is set."""
    waits = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()


def _experiment(
    plan: Plan, scenario: Scenario, r: _Running, sink: Output | None, say: Callable[[str], None]
) -> Experiment:
    """One target's fault schedule, its events shown as its lines are (text or JSON)."""
    from quorumwatch.experiment import Experiment
    from quorumwatch.report.lines import event_line
    from quorumwatch.scenario import dump_scenario
    from quorumwatch.watcher import say_line

    name, jsonl = r.target.cluster.name, plan.outputs.format == "jsonl"
    prefix = f"[{name}] " if _many(plan) and not jsonl else ""

    def show(ev: Event) -> None:
        if jsonl:
            from quorumwatch.report.export import event_json

            line: str | None = json.dumps(event_json(ev, name))
        else:
            line = event_line(ev)
        if line and sink is not None:
            say_line(sink, prefix + line)

    (r.run / "scenario.yaml").write_text(dump_scenario(scenario, r.target.cluster), encoding="utf-8")
    return Experiment(scenario, r.target.cluster, r.history, r.run, trials=plan.trials, show=show)


def _experiment_done(experiment: Experiment, r: _Running, say: Callable[[str], None]) -> None:
    """What stopped the experiment early, recorded with the run and said."""
    done = experiment.result()
    close_run(r.history, done.errors, done.interrupted)
    for error in done.errors:
        say(f"quorumwatch: {error}")
    converged = sum(1 for t in done.trials if t.converged)
    say(
        f"{len(done.trials)} trials ({converged} back to steady state), {r.formatter.ticks} ticks, "
        f"{r.formatter.multi_leader_ticks} with more than one leader; history in {r.run}"
    )


def _note(plan: Plan, r: _Running, sink: Output | None, say: Callable[[str], None]) -> Callable[[str], None]:
    """Where a watch's workload status lines go: JSON lines keep their stream JSON (status on the
    side), text lines carry the cluster's name when several share the stream."""
    name = r.target.cluster.name
    if plan.outputs.format == "jsonl" or sink is None:
        return (lambda line: say(f"{name}: {line}")) if _many(plan) else say
    from quorumwatch.watcher import say_line

    prefix = f"[{name}] " if _many(plan) else ""
    return lambda line: say_line(sink, prefix + line)


async def _relay(source: asyncio.Event, target: asyncio.Event) -> None:
    await source.wait()
    target.set()


def _named(on_tick: Callable[[str, Tick], None], name: str) -> Callable[[Tick], None]:
    def call(tick: Tick) -> None:
        on_tick(name, tick)

    return call


def _live(plan: Plan, output: object, sink: Output | None) -> Live | None:
    """Rich's live table, when the plan asks for it and it can be shown (one cluster, text lines to
    a terminal, no output file); else None: the lines are printed."""
    isatty = getattr(sink, "isatty", None)
    if not plan.outputs.live or output is not None or _many(plan) or plan.outputs.format != "text":
        return None
    if sink is None or not callable(isatty) or not isatty():
        return None
    from rich.console import Console
    from rich.live import Live

    return Live(console=Console(), auto_refresh=False)


def _run_id(run: Path) -> str:
    """The workload's own keyspace (etcd keys, Redis keys, the PostgreSQL table): the run
    directory's name and a random part, so a run directory used again (`--run-dir`) never reads
    what an earlier run wrote (an old table of another shape, values the checker never saw sent)."""
    import secrets

    return f"{run.name}.{secrets.token_hex(3)}"


def _close(
    running: list[_Running],
    writer: Writer | None,
    output: ReopenableOutput | None,
    say: Callable[[str], None],
) -> str | None:
    """Every target's last findings recorded and history closed, the writer and output closed, the
    hooks waited for; the first failure to record, if any (what was recorded before it is kept)."""
    failure = None
    for r in running:
        try:
            if r.retention is not None:
                r.retention.finish()
            if r.compaction is not None:
                r.compaction.finish()
        except (OSError, sqlite3.Error) as exc:
            say(f"quorumwatch: {r.run}: could not record the last findings: {exc}")
        try:
            r.history.close()
        except (OSError, sqlite3.Error) as exc:
            failure = failure or f"while recording to {r.run}: {exc} (ticks recorded so far are kept)"
    if writer is not None:
        writer.close()
    if output is not None:
        output.close()
    for r in running:
        if r.hooks is not None:
            r.hooks.close()
            for problem in r.hooks.failed[:3]:
                say(f"quorumwatch: {problem}")
    return failure


def watch(plan: Plan, *, say: Callable[[str], None], out: TextIO = sys.stdout) -> list[RunResult]:
    """The command line's session: `watch_async` on its own loop (uvloop), signals handled."""
    from quorumwatch.watcher import run_loop

    return run_loop(watch_async(plan, out=out, say=say, signals=True))


__all__ = [
    "EXIT_ERROR",
    "EXIT_USAGE",
    "SEVERITY",
    "Outputs",
    "Plan",
    "RunResult",
    "SessionError",
    "Target",
    "close_run",
    "finish",
    "outcome",
    "watch",
    "watch_async",
    "worst",
]  # fmt: skip
