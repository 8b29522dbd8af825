"""Analysis of 1,000,000 observations (10 nodes × 100,000 ticks): time and peak memory.

The history is synthetic but shaped like a real one: a leader that changes every 30 s, each
change with a 300 ms stale-leader window, 1 % of answers timing out.

Run: `.venv/bin/python benchmarks/analysis.py [--ticks 100000] [--nodes 10]`.
Peak memory is the process's maximum resident set (input history included).
"""

from __future__ import annotations

import argparse
import gc
import random
import resource
import time

from quorumwatch.analysis import History, RunMeta, analyze
from quorumwatch.model import Event, Observation, Reason, Role, Tick

MS = 1_000_000


def build(ticks: int, nodes: int, seed: int = 1) -> tuple[list[Tick], list[Event]]:
    rng = random.Random(seed)
    names = [f"n{i}" for i in range(1, nodes + 1)]
    out = []
    events = []
    term_len = 300  # ticks
    for k in range(ticks):
        term = k // term_len
        leader = names[term % nodes]
        stale = names[(term - 1) % nodes] if term and k % term_len < 3 else None
        if k % term_len == 0 and term:
            events.append(
                Event(
                    k * 100 * MS - 500 * MS,
                    0,
                    None,
                    "fault.inject",
                    {"fault": term, "kind": "link", "nodes": [names[(term - 1) % nodes]], "trial": term},
                )
            )
            events.append(Event(k * 100 * MS + 3000 * MS, 0, None, "fault.heal", {"fault": term}))
        s0 = k * 100 * MS
        obs = []
        for name in names:
            s = s0 + rng.randrange(MS)
            if rng.random() < 0.01:
                obs.append(Observation(name, k, s, s + 80 * MS, 0, Role.UNKNOWN, reason=Reason.TIMEOUT))
            elif name == leader:
                obs.append(Observation(name, k, s, s + rng.randrange(5 * MS), 0, Role.LEADER, term + 1))
            elif name == stale:
                obs.append(Observation(name, k, s, s + rng.randrange(5 * MS), 0, Role.LEADER, term))
            else:
                obs.append(Observation(name, k, s, s + rng.randrange(5 * MS), 0, Role.FOLLOWER, term + 1))
        out.append(Tick(k, s0, s0, 0, tuple(obs)))
    return out, events


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ticks", type=int, default=100_000)
    ap.add_argument("--nodes", type=int, default=10)
    args = ap.parse_args()
    t = time.perf_counter()
    ticks, events = build(args.ticks, args.nodes)
    built = time.perf_counter() - t
    gc.collect()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t = time.perf_counter()
    a = analyze(History(ticks, events, meta=RunMeta(interval_s=0.1, deadline_s=0.08)))
    took = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    n = sum(len(tk.observations) for tk in ticks)
    print(f"observations: {n:,} ({args.nodes} nodes × {args.ticks:,} ticks), built in {built:.1f} s")
    print(f"analyze: {took:.2f} s ({n / took:,.0f} observations/s)")
    print(f"peak RSS: {peak:.0f} MB (history in memory before analysis: {rss_before:.0f} MB)")
    print(
        f"verdict {a.verdict}: {sum(1 for o in a.overlaps if o.certain)} certain overlaps, "
        f"{len(a.trials)} trials, {len(a.leaderless)} leaderless windows"
    )


if __name__ == "__main__":
    main()
