"""Runs a watch: builds probes from a cluster, drives the engine, records and prints every tick.

Signals stop the engine between ticks, so the last tick is recorded whole before exit.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from quorumwatch import __version__
from quorumwatch.config import ClusterConfig, dump_cluster
from quorumwatch.engine import Engine, EngineStats
from quorumwatch.model import Tick
from quorumwatch.probes import make_probe
from quorumwatch.report.lines import LineFormatter
from quorumwatch.store import HISTORY_FILE, History, new_run_dir


@dataclass
class WatchResult:
    run_dir: Path
    ticks: int
    multi_leader_ticks: int
    stats: EngineStats


def utc_name() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")[:-4] + "Z"


def prepare_run(
    cluster: ClusterConfig, run_dir: Path | None, base: Path = Path("runs")
) -> tuple[Path, History]:
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
    history = History.create(run / HISTORY_FILE, [n.name for n in cluster.nodes], meta)
    return run, history


async def watch(
    cluster: ClusterConfig,
    history: History,
    *,
    duration_s: float | None,
    formatter: LineFormatter,
    out: TextIO = sys.stdout,
    render: Callable[[Tick], None] | None = None,
) -> EngineStats:
    probes = [make_probe(cluster, node) for node in cluster.nodes]

    def record(tick: Tick) -> None:
        history.append_tick(tick)

    stop = asyncio.Event()

    def show(tick: Tick) -> None:
        lines = formatter.feed(tick)
        if render is not None:
            render(tick)
        elif lines:
            try:
                out.write("\n".join(lines) + "\n")
                out.flush()
            except BrokenPipeError:
                # `watch | head`: the reader left. Stop like Ctrl-C; the history keeps every tick.
                _silence(out)
                stop.set()

    engine = Engine(
        probes, interval_s=cluster.interval, deadline_s=cluster.effective_deadline, sinks=[record, show]
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        return await engine.run(duration_s=duration_s, stop=stop)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await engine.aclose()


def _silence(out: TextIO) -> None:
    """Point a stream whose reader went away at /dev/null, so the interpreter's final flush does
    not fail again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, out.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
