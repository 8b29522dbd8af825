"""The library: watch, run and analyse from Python code (re-exported from `quorumwatch`; docs/api.md).

Everything here is async or pure: no signal handlers, no printing unless an output is given, no
hidden event loop. A watch records to a run directory exactly as the CLI does, so `quorumwatch
analyze`, `history` and `report` work on what the library recorded.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, TextIO

from quorumwatch.analysis import Analysis
from quorumwatch.config import ClusterConfig, ConfigError, load_cluster
from quorumwatch.logs.rules import Pack, builtin, load_pack
from quorumwatch.logs.scan import LogRun, resolve_inputs, run_logs
from quorumwatch.model import Event, FinalRead, Operation, Tick, WorkloadKind
from quorumwatch.report.schema import Results
from quorumwatch.rundir import analyze_run
from quorumwatch.scenario import Scenario, load_scenario
from quorumwatch.session import RunResult
from quorumwatch.workload.spec import WorkloadSpec, load_workload

if TYPE_CHECKING:
    pass

ClusterLike = ClusterConfig | str | Path
"""A cluster: its loaded config, or the path of its cluster file."""


def _cluster(c: ClusterLike) -> ClusterConfig:
    return c if isinstance(c, ClusterConfig) else load_cluster(str(c))


@dataclass
class Watch:
    """Watches a cluster in the background while the caller's block runs:

        async with quorumwatch.Watch(cluster) as w:
            ...  # inject a fault, run a test
        assert w.result.verdict is Verdict.OK

    Entering records to a new run directory and returns once the first tick is in (so the block
    is observed from its start); leaving stops the probes (with a workload: stops the operations,
    reads the set back, then stops), analyses and writes results.json.
    """

    cluster: ClusterLike
    workload: WorkloadSpec | str | Path | None = None
    run_dir: Path | None = None
    """Where to record; default runs/<cluster>/<UTC time> (below `runs`)."""
    runs: Path = Path("runs")
    out: TextIO | None = None
    """Where to print the watch lines; None prints nothing."""
    first_tick_timeout: float = 30.0
    on_tick: Callable[[Tick], None] | None = None
    """Called with every tick as it is recorded (on the watch's event loop: keep it short)."""
    report: bool = True
    """Write report.html beside results.json when the watch ends."""
    retain: float | None = None
    """Keep only the last this many seconds of ticks (`watch --retain`): findings and counts stay."""
    result: RunResult | None = field(default=None, init=False)
    _ticks: int = field(default=0, init=False)
    _task: asyncio.Task[list[RunResult]] | None = field(default=None, init=False)
    _stop: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _ops_stop: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _recorded: Path | None = field(default=None, init=False)

    @property
    def ticks(self) -> int:
        """Ticks recorded so far."""
        return self._ticks

    @property
    def recording(self) -> Path | None:
        """The run directory, once entered."""
        return self._recorded

    async def __aenter__(self) -> Watch:
        from quorumwatch.session import Outputs, Plan, Target, watch_async
        from quorumwatch.workload.spec import check_workload

        cluster = _cluster(self.cluster)
        spec = self.workload
        if spec is not None and not isinstance(spec, WorkloadSpec):
            where = str(spec)
            spec = load_workload(where)
            check_workload(spec, cluster, where)
        self.workload = spec
        plan = Plan(
            (Target(cluster, self.run_dir, spec),), None, Outputs(), self.retain, self.runs, self.report
        )
        first = asyncio.Event()

        def seen(_cluster: str, tick: Tick) -> None:
            self._ticks += 1
            first.set()
            if self.on_tick is not None:
                self.on_tick(tick)

        def started(runs: Sequence[Path]) -> None:
            self._recorded = runs[0]

        self._task = asyncio.get_running_loop().create_task(
            watch_async(
                plan, out=self.out, stop=self._stop, ops_stop=self._ops_stop, on_tick=seen, on_start=started
            )
        )
        ready = asyncio.get_running_loop().create_task(first.wait())
        await asyncio.wait(
            [ready, self._task], timeout=self.first_tick_timeout, return_when="FIRST_COMPLETED"
        )
        if not ready.done():
            ready.cancel()
            await self._finish()  # raises what stopped the session, if anything did
            raise TimeoutError(f"{cluster.name}: no tick within {self.first_tick_timeout:g} s")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        (self.result,) = await self._finish()

    async def _finish(self) -> list[RunResult]:
        """Stop (with a workload: the operations first, then the read-back, then the probes) and
        wait for the session's analysis."""
        (self._ops_stop if self.workload is not None else self._stop).set()
        try:
            assert self._task is not None
            return await self._task
        finally:
            self._stop.set()


async def observe(
    cluster: ClusterLike,
    *,
    duration: float,
    workload: WorkloadSpec | str | Path | None = None,
    run_dir: Path | None = None,
    runs: Path = Path("runs"),
    out: TextIO | None = None,
) -> RunResult:
    """Watch `cluster` for `duration` seconds (with a workload: operations, then the read-back), then
    analyse: what `quorumwatch watch --duration` does, as a value."""
    w = Watch(cluster, workload, run_dir, runs, out)
    async with w:
        await asyncio.sleep(duration)
    assert w.result is not None
    return w.result


async def run_experiment(
    scenario: Scenario | str | Path,
    cluster: ClusterLike | None = None,
    *,
    trials: int | None = None,
    run_dir: Path | None = None,
    runs: Path = Path("runs"),
    out: TextIO | None = None,
    report: bool = True,
) -> RunResult:
    """Run a scenario (faults trial after trial, its workload alongside) and analyse it: what
    `quorumwatch run` does, as a value. Cancelling the task heals every fault before it ends."""
    from quorumwatch.session import Outputs, Plan, Target, watch_async

    if isinstance(scenario, Scenario):
        if cluster is None:
            raise ConfigError("a loaded Scenario needs its cluster")
        spec, config = scenario, _cluster(cluster)
    else:
        spec, config = load_scenario(str(scenario), None if cluster is None else str(cluster))
        if isinstance(cluster, ClusterConfig):
            config = cluster
    plan = Plan(
        (Target(config, run_dir, spec.workload),), None, Outputs(), runs=runs, report=report, scenario=spec,
        trials=trials,
    )  # fmt: skip
    (result,) = await watch_async(plan, out=out)
    return result


def analyze(history: str | Path) -> Results:
    """Analyse a recorded run directory (or its history.sqlite) and write its results.json, as
    `quorumwatch analyze` does. For ticks in memory use `analyze_ticks` (pure)."""
    path = Path(history)
    return analyze_run(path.parent if path.is_file() else path)[1]


def analyze_ticks(
    ticks: Sequence[Tick],
    events: Sequence[Event] = (),
    *,
    interval_s: float | None = None,
    deadline_s: float | None = None,
    workload: WorkloadKind | str | None = None,
    operations: Sequence[Operation] = (),
    final_read: FinalRead | None = None,
) -> Analysis:
    """The pure analysis of ticks (and events, a workload's operations and final read) held in
    memory: `quorumwatch.analysis.analyze` over one `History`. `interval_s` and `deadline_s` only
    word the advice of a `possible` verdict."""
    from quorumwatch.analysis import History, RunMeta
    from quorumwatch.analysis import analyze as pure

    kind = WorkloadKind(workload) if workload is not None else None
    meta = RunMeta(interval_s or 0.0, deadline_s or 0.0, kind)
    return pure(History(ticks, events, operations, final_read, meta))


def analyze_logs(
    files: Mapping[str, Sequence[str | Path]] | Sequence[str],
    *,
    pack: Pack | str | Path | None = None,
    skew_s: float = 0.0,
    offsets_s: Mapping[str, float] | None = None,
    tz: dt.tzinfo | None = None,
    year: int | None = None,
    jobs: int = 1,
) -> LogRun:
    """Who led when, from the nodes' own log files: `{node: [paths]}` or `quorumwatch logs`-style
    arguments (`NODE=PATH`, globs). `pack`: a built-in pack's name, a rules file, or None to choose
    by content. `.forensics.verdict` is a Verdict (`inconclusive` when no file said who led)."""
    if isinstance(files, Mapping):
        paths = {node: [Path(p) for p in ps] for node, ps in files.items()}
    else:
        paths = resolve_inputs(list(files), None)
    chosen: Pack | None
    if pack is None or isinstance(pack, Pack):
        chosen = pack
    elif isinstance(pack, str) and not Path(pack).suffix:
        chosen = builtin(pack)
    else:
        chosen = load_pack(str(pack))
    zone = tz or dt.datetime.now().astimezone().tzinfo or dt.UTC
    return run_logs(
        paths, chosen, tz=zone, year=year, skew_s=skew_s, offsets_s=dict(offsets_s or {}), jobs=jobs
    )


def scenario_of(path: str | Path, cluster: str | Path | None = None) -> tuple[Scenario, ClusterConfig]:
    """A scenario file and its cluster (the scenario's own, or `cluster` instead), validated."""
    return load_scenario(str(path), None if cluster is None else str(cluster))


__all__ = [
    "RunResult",
    "Watch",
    "analyze",
    "analyze_logs",
    "analyze_ticks",
    "observe",
    "run_experiment",
    "scenario_of",
]
