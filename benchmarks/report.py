"""report.html of a 24 h watch at 10 Hz: page size, build time, and that no verdict window is lost.

The history is benchmarks/analysis.py's (a leader that changes every 30 s with a 300 ms stale-leader
window, 1 % of answers timing out, a fault per change), 864,000 ticks by default: far more role
segments than the page draws, so the lanes are downsampled; the dual-leader and leaderless windows
come from the analysis and must all be drawn.

Run: `.venv/bin/python benchmarks/report.py [--hours 24] [--nodes 3] [--out /tmp/report-24h.html]`.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere
from benchmarks.analysis import build
from quorumwatch.analysis import History, RunMeta, analyze
from quorumwatch.model import Tick
from quorumwatch.report.html import page, timeline
from quorumwatch.report.results import results
from quorumwatch.rundir import _plotly_js

WALL = 1_785_000_000_000_000_000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path("/tmp/report-24h.html"))
    args = ap.parse_args()
    n_ticks = int(args.hours * 3600 * 10)
    t = time.perf_counter()
    ticks, events = build(n_ticks, args.nodes)
    ticks = [Tick(k.index, k.scheduled_ns, k.started_ns, WALL + k.started_ns, k.observations) for k in ticks]
    built = time.perf_counter() - t
    t = time.perf_counter()
    a = analyze(History(ticks, events, meta=RunMeta(interval_s=0.1, deadline_s=0.08)))
    res = results(a, WALL, {"cluster": "bench", "probe": "etcd", "interval_s": 0.1, "deadline_s": 0.08,
                            "ticks": len(ticks)})  # fmt: skip
    analysed = time.perf_counter() - t
    t = time.perf_counter()
    fig = timeline([f"n{i}" for i in range(1, args.nodes + 1)], ticks, res)
    html = page(res, fig, _plotly_js(), "quorumwatch: 24 h benchmark")
    args.out.write_text(html, encoding="utf-8")
    took = time.perf_counter() - t
    drawn = sum(len(tr["y"]) for tr in fig["data"] if tr["name"].startswith("dual leader"))
    gaps = sum(len(tr["y"]) for tr in fig["data"] if tr["name"].startswith("leaderless"))
    faults = sum(len(tr["y"]) for tr in fig["data"] if tr["name"] == "fault")
    lanes = [tr for tr in fig["data"] if tr["type"] == "bar" and tr["y"] and tr["y"][0].startswith("n")]
    segs = sum(len(tr["y"]) for tr in lanes)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"history: {len(ticks):,} ticks × {args.nodes} nodes ({args.hours:g} h at 10 Hz), built {built:.1f} s"
    )
    print(
        f"analysis {analysed:.1f} s; report built and written in {took:.1f} s: {args.out} "
        f"{args.out.stat().st_size / 1e6:.1f} MB"
    )
    print(
        f"role segments drawn: {segs:,}; dual-leader windows drawn {drawn:,} of {len(res.dual_leaders):,}; "
        f"leaderless windows drawn {gaps:,} of {len(res.leaderless):,}"
    )
    print(f"peak RSS {peak:.0f} MB")
    print(f"fault windows drawn {faults:,} of {len(res.trials):,}")
    assert drawn == len(res.dual_leaders) and gaps == len(res.leaderless) and faults == len(res.trials) > 0


if __name__ == "__main__":
    main()
