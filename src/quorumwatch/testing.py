"""quorumwatch inside a team's own tests: "no dual leader (or no harm) during this block".

    from quorumwatch.testing import quorum_watch

    def test_failover(my_fault_injector):
        with quorum_watch("cluster.yaml", fail_on="dual-leader") as w:
            my_fault_injector.cut_leader_link()
            w.wait_for(lambda tick: tick.agreed_leader not in (None, old), within=30)
            my_fault_injector.heal()

The watch runs on its own event loop in a background thread, so the block is ordinary synchronous
code. Leaving the block stops the watch, analyses the run and raises `QuorumWatchFailure` (an
AssertionError) when the verdict or harm is at or above `fail_on`; the run directory is then kept
and named in the message. The pytest plugin (fixture `quorum_watch`) puts runs under the test's
tmp_path.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TextIO

from quorumwatch.api import ClusterLike, RunResult, Watch
from quorumwatch.model import Tick
from quorumwatch.workload.spec import WorkloadSpec

KEPT: list[Path] = []
"""Run directories kept because their block failed (the pytest plugin lists them at the end)."""


class QuorumWatchFailure(AssertionError):
    """A watched block's verdict or harm reached `fail_on`."""

    def __init__(self, message: str, result: RunResult) -> None:
        super().__init__(message)
        self.result = result


class WatchedBlock:
    """What the block sees: ticks as they arrive, a way to wait on them, and the result after it."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._last: Tick | None = None
        self._count = 0
        self.run_dir: Path | None = None
        self.result: RunResult | None = None

    def _push(self, tick: Tick) -> None:
        with self._cond:
            self._last = tick
            self._count += 1
            self._cond.notify_all()

    @property
    def last_tick(self) -> Tick | None:
        return self._last

    @property
    def ticks(self) -> int:
        return self._count

    def wait_for(self, condition: Callable[[Tick], bool], within: float) -> Tick:
        """The first tick from now on (the latest included) for which `condition` holds; TimeoutError
        after `within` seconds."""
        deadline = time.monotonic() + within
        with self._cond:
            seen = -1
            while True:
                if self._last is not None and self._count != seen:
                    seen = self._count
                    if condition(self._last):
                        return self._last
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no tick satisfied the condition within {within:g} s")
                self._cond.wait(left)

    def wait_leader(self, within: float = 30.0) -> str:
        """The agreed leader (one node leads, every other follows or observes), waiting for one."""
        leader = self.wait_for(lambda t: t.agreed_leader is not None, within).agreed_leader
        assert leader is not None
        return leader


def describe(result: RunResult) -> str:
    """The failure message: the verdict in words, each proven or possible overlap, harm, where to look."""
    r = result.results
    lines = [f"quorumwatch: {r.verdict.display} (verdict {r.verdict.value})"]
    for d in r.dual_leaders:
        how = "proven" if d.certain else "possible"
        lines.append(
            f"  {how} {d.kind}: {' + '.join(d.nodes)} (epochs {d.epochs[0]} / {d.epochs[1]}) "
            f"{d.start} → {d.end} ({d.duration_s:.3f} s)"
        )
    lines.append(f"  harm: {r.harm.value.replace('_', ' ')} — {r.harm_reason}")
    lines += [f"  error: {e}" for e in result.errors]
    report = result.run_dir / "report.html"
    lines.append(f"  run kept: {result.run_dir}")
    lines.append(f"  report: {report}" if report.exists() else f"  results: {result.results_path}")
    return "\n".join(lines)


@contextlib.contextmanager
def quorum_watch(
    cluster: ClusterLike,
    *,
    fail_on: str = "possible",
    workload: WorkloadSpec | str | Path | None = None,
    runs: Path | None = None,
    keep: bool = False,
    out: TextIO | None = None,
    first_tick_within: float = 30.0,
) -> Iterator[WatchedBlock]:
    """Watch `cluster` while the block runs; fail (QuorumWatchFailure) when the verdict or harm is
    at or above `fail_on` (`possible`, `dual-leader`, `violation`, `harm`: harm always fails).
    `inconclusive` (nothing was observed) fails too: a block nobody watched proves nothing."""
    base = runs if runs is not None else Path(tempfile.mkdtemp(prefix="quorumwatch-"))
    block = WatchedBlock()
    loop = asyncio.new_event_loop()
    entered = threading.Event()
    leave: asyncio.Event | None = None
    failure: list[BaseException] = []
    watch = Watch(cluster, workload, None, base, out, first_tick_within, on_tick=block._push)

    async def main() -> None:
        nonlocal leave
        leave = asyncio.Event()
        try:
            async with watch:
                block.run_dir = watch.recording
                entered.set()
                await leave.wait()
        except BaseException as exc:
            failure.append(exc)
        finally:
            entered.set()

    thread = threading.Thread(target=lambda: loop.run_until_complete(main()), name="quorumwatch", daemon=True)
    thread.start()
    entered.wait()
    try:
        if failure:
            raise failure[0]
        yield block
    finally:
        if leave is not None:
            loop.call_soon_threadsafe(leave.set)
        thread.join()
        loop.close()
    if failure:
        raise failure[0]
    result = watch.result
    assert result is not None
    block.result = result
    if result.failed(fail_on):
        KEPT.append(result.run_dir)
        raise QuorumWatchFailure(describe(result), result)
    if not keep:
        shutil.rmtree(base if runs is None else result.run_dir, ignore_errors=True)


__all__ = ["KEPT", "QuorumWatchFailure", "WatchedBlock", "describe", "quorum_watch"]
