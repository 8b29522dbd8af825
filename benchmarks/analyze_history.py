"""`quorumwatch analyze RUN_DIR` of a recorded history, next to the limits of reading it (issue 23):
a plain `SELECT count(*)` over its observations table, and the same rows fetched into Python
(one tuple each, nothing done with them), in the same run, page cache warm for all.

The history is made by `benchmarks/watch_memory.py --hours H --nodes 30 --db RUN_DIR/history.sqlite`
(compacted as `watch` compacts it by default; `--keep-ticks 0` there keeps it whole). Analysis writes
results.json into RUN_DIR.

Run: `.venv/bin/python benchmarks/analyze_history.py RUN_DIR [--repeat 3]`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path


def best_of(n: int, fn: object) -> float:
    assert callable(fn)
    best = float("inf")
    for _ in range(n):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run", type=Path)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    db = args.run / "history.sqlite"
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        (kept,) = conn.execute("SELECT count(*) FROM observations").fetchone()
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        counted = 0
        if "compacted_runs" in tables:
            (counted,) = conn.execute("SELECT coalesce(sum(count), 0) FROM compacted_runs").fetchone()
        (ticks,) = conn.execute("SELECT count(*) FROM ticks").fetchone()
        total = kept + counted
        count_s = best_of(args.repeat, lambda: conn.execute("SELECT count(*) FROM observations").fetchone())

        def fetch() -> None:
            for _ in conn.execute("SELECT * FROM observations"):
                pass

        fetch_s = best_of(args.repeat, fetch)
    print(f"history {db.stat().st_size / 1e6:,.1f} MB: {ticks:,} ticks, {total:,} observations "
          f"({kept:,} stored, {counted:,} counted in compacted runs)")  # fmt: skip
    print(f"SELECT count(*) FROM observations: {count_s:.3f} s ({kept / count_s:,.0f} rows/s)")
    print(f"every observation row fetched into Python: {fetch_s:.3f} s ({kept / fetch_s:,.0f} rows/s)")
    best, peak = float("inf"), 0.0
    for _ in range(args.repeat):
        t = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "quorumwatch", "analyze", str(args.run)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
        _, status, usage = os.wait4(proc.pid, 0)
        best = min(best, time.perf_counter() - t)
        peak = max(peak, usage.ru_maxrss / 1024)
        code = os.waitstatus_to_exitcode(status)
        if code not in (0, 3, 4, 5):
            assert proc.stderr is not None
            sys.exit(f"analyze exited {code}: {proc.stderr.read().decode()[-500:]}")
    print(f"quorumwatch analyze: {best:.2f} s, peak RSS {peak:.0f} MB: {total / best:,.0f} observations/s")


if __name__ == "__main__":
    main()
