"""Memory of a long `watch` in virtual time: everything a tick goes through — recording to SQLite,
the printed lines with live grading, the Prometheus metrics with their own grading — for 24 h of
30 nodes at 10 Hz, ticks generated on the fly (no probes, no sleeping).

The history shape: a leader change every 30 s with a 300 ms stale-leader window, 1 % timeouts.
Prints the resident set every simulated hour; the goal (issue 11) is < 200 MB throughout. The
history is compacted as `watch` compacts it (`--keep-ticks`, default 10 s as `watch`'s; 0 turns it
off here), and its size per observation is printed at the end (issue 23: ≤ 4 bytes).

Run: `.venv/bin/python benchmarks/watch_memory.py [--hours 24] [--nodes 30] [--db /tmp/watch-24h.sqlite]
[--keep-ticks 10]`.
"""

from __future__ import annotations

import argparse
import random
import resource
import time
from pathlib import Path

from quorumwatch.analysis.online import LiveGrading
from quorumwatch.model import Observation, Reason, Role, Tick
from quorumwatch.report.lines import LineFormatter
from quorumwatch.report.metrics import WatchMetrics
from quorumwatch.store import HistoryFile
from quorumwatch.watcher import Compaction

MS = 1_000_000
WALL = 1_785_000_000_000_000_000


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--nodes", type=int, default=30)
    ap.add_argument("--db", type=Path, default=Path("/tmp/watch-24h.sqlite"))
    ap.add_argument("--keep-ticks", type=float, default=10.0, help="seconds kept whole (0: no compaction)")
    args = ap.parse_args()
    for suffix in ("", "-wal", "-shm"):
        Path(str(args.db) + suffix).unlink(missing_ok=True)
    names = [f"n{i}" for i in range(1, args.nodes + 1)]
    history = HistoryFile.create(args.db, names, {"cluster": "bench", "probe": "etcd", "interval_s": "0.1"})
    lines, grading = LineFormatter(changes_only=True), LiveGrading()
    metrics = WatchMetrics()
    compaction = Compaction(history, args.keep_ticks, 0.1, args.nodes) if args.keep_ticks > 0 else None
    metrics.start("bench", names)
    rng = random.Random(1)
    n_ticks = int(args.hours * 36_000)
    printed = 0
    peak = 0.0
    t0 = time.perf_counter()
    for k in range(n_ticks):
        term = k // 300
        leader = names[term % len(names)]
        stale = names[(term - 1) % len(names)] if term and k % 300 < 3 else None
        s0 = k * 100 * MS
        obs = []
        for name in names:
            s = s0 + rng.randrange(MS)
            if rng.random() < 0.01:
                obs.append(
                    Observation(name, k, s, s + 80 * MS, WALL + s, Role.UNKNOWN, reason=Reason.TIMEOUT)
                )
            elif name == leader:
                obs.append(Observation(name, k, s, s + 2 * MS, WALL + s, Role.LEADER, term + 1))
            elif name == stale:
                obs.append(Observation(name, k, s, s + 2 * MS, WALL + s, Role.LEADER, term))
            else:
                obs.append(Observation(name, k, s, s + 2 * MS, WALL + s, Role.FOLLOWER, term + 1))
        tick = Tick(k, s0, s0, WALL + s0, tuple(obs))
        history.append_tick(tick)
        if compaction is not None:
            compaction(tick)
        grading.feed(tick)
        printed += len(lines.feed(tick, grading))
        metrics.observe(
            "bench", tick, grading.active, grading.leaderless_ns
        )  # the one grading, as watch shares it
        if k % 36_000 == 0 or k == n_ticks - 1:
            now = rss_mb()
            peak = max(peak, now)
            held = grading.analysis.memory()
            print(f"{k / 36_000:5.1f} h: RSS {now:6.1f} MB, intervals held {held}, "
                  f"{k / max(time.perf_counter() - t0, 1e-9):,.0f} ticks/s", flush=True)  # fmt: skip
    if compaction is not None:
        compaction.finish()
    history.close()
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    took = time.perf_counter() - t0
    size = sum(Path(str(args.db) + x).stat().st_size for x in ("", "-wal") if Path(str(args.db) + x).exists())
    per = size / (n_ticks * args.nodes)
    print(f"{n_ticks:,} ticks × {args.nodes} nodes ({args.hours:g} h at 10 Hz) in {took:.0f} s; "
          f"{printed:,} lines; history {size / 1e6:.1f} MB, {per:.2f} bytes per observation")  # fmt: skip
    print(f"peak RSS {max(peak, maxrss):.1f} MB (sampled {peak:.1f} MB)")


if __name__ == "__main__":
    main()
