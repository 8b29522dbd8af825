"""Workload beside the probes, and the harm checkers at scale.

1. Tick lateness with and without a workload: the engine probes N etcd-like nodes at 10 Hz (the
   responder of `probe_engine.py`, in its own process) while the workload sends `rate` puts/s
   through them (`route: each-node`; the responder acknowledges every put). The workload must never
   delay ticks: p99 tick-start lateness is compared with and without it.
2. Checkers over 1,000,000 operations: lost writes against a final read, duplicate IDs, stale
   acknowledgements and per-window counts over generated leaderships.

Run: `.venv/bin/python benchmarks/workload.py [--nodes 30] [--rate 200] [--seconds 30] [--ops 1000000]`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from probe_engine import Responder

from quorumwatch.analysis.harm import check
from quorumwatch.analysis.intervals import Interval, NodeIntervals
from quorumwatch.analysis.verdicts import Overlap
from quorumwatch.config import ClusterConfig
from quorumwatch.engine import Engine, TickFeed
from quorumwatch.model import FinalRead, Operation, OperationKind, Outcome, Tick
from quorumwatch.probes import make_probe
from quorumwatch.workload.actor import Workload
from quorumwatch.workload.clients import EtcdClient
from quorumwatch.workload.spec import WorkloadSpec


def _pct(values: list[int], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * len(s)) - 1))] / 1e6 if s else float("nan")


async def ticks_with_workload(ports: list[int], rate: float, seconds: float) -> dict[str, float]:
    cluster = ClusterConfig.model_validate(
        {
            "name": "bench",
            "probe": {"kind": "etcd"},
            "interval": 0.1,
            "deadline": 0.08,
            "nodes": [{"name": f"n{i}", "address": f"127.0.0.1:{p}"} for i, p in enumerate(ports)],
        }
    )
    lateness: list[int] = []
    unknown = 0

    def seen(tick: Tick) -> None:
        nonlocal unknown
        if tick.index >= 10:  # connection set-up is not scored
            lateness.append(tick.lateness_ns)
        unknown += sum(1 for o in tick.observations if o.reason is not None)

    feed = TickFeed()
    engine = Engine(
        [make_probe(cluster, n) for n in cluster.nodes],
        interval_s=0.1,
        deadline_s=0.08,
        sinks=[seen, feed.push],
    )
    ops: list[Operation] = []
    stop = asyncio.Event()
    wl_task = None
    wl = None
    if rate > 0:
        spec = WorkloadSpec(kind="set", rate=rate, route="each-node", timeout=1)
        wl = Workload(spec, cluster, EtcdClient(spec, "bench"), feed, ops.append)
        wl_task = asyncio.create_task(wl.run(stop))
    stats = await engine.run(duration_s=seconds)
    stop.set()
    if wl_task is not None and wl is not None:
        await wl_task
        await wl.client.aclose()
    await engine.aclose()
    ok = [o for o in ops if o.outcome is Outcome.OK]
    rtts = [o.recv_ns - o.send_ns for o in ok]
    return {
        "ticks": len(lateness),
        "skipped": stats.skipped,
        "unknown": unknown,
        "p50": _pct(lateness, 0.5),
        "p99": _pct(lateness, 0.99),
        "max": max(lateness) / 1e6,
        "ops_per_s": len(ops) / seconds,
        "ok": len(ok),
        "not_ok": len(ops) - len(ok),
        "op_p50": _pct(rtts, 0.5),
        "op_p99": _pct(rtts, 0.99),
    }


def checker_history(
    n: int, nodes: int = 3
) -> tuple[list[Operation], FinalRead, list[NodeIntervals], list[Overlap]]:
    """n operations over nodes that take turns leading (10 s terms, 0.3 s overlaps), 1 % lost,
    5 % unknown; operations every 1 ms."""
    rnd = random.Random(1)
    ms = 1_000_000
    term = 10_000 * ms
    span = n * ms
    certain: dict[str, list[Interval]] = {f"n{k}": [] for k in range(nodes)}
    possible: dict[str, list[Interval]] = {f"n{k}": [] for k in range(nodes)}
    overlaps = []
    for t in range(span // term + 1):
        node = f"n{t % nodes}"
        start, end = t * term, (t + 1) * term + 300 * ms
        certain[node].append(Interval(node, start, end, (t,), True))
        possible[node].append(Interval(node, start - 50 * ms, end + 50 * ms, (), False))
        if t:
            prev = f"n{(t - 1) % nodes}"
            overlaps.append(Overlap((prev, node), (t - 1, t), start, start + 300 * ms, True))
    per_node = [NodeIntervals(k, tuple(certain[k]), tuple(possible[k])) for k in certain]
    ops = []
    kept = set()
    for i in range(n):
        t = i * ms
        r = rnd.random()
        outcome = Outcome.UNKNOWN if r < 0.05 else Outcome.OK
        node = f"n{(t // term) % nodes}" if rnd.random() > 0.02 else f"n{(t // term + 1) % nodes}"
        ops.append(Operation(i, OperationKind.ADD, node, t, t + 2 * ms, t, outcome, str(i), t // term))
        if outcome is Outcome.OK and rnd.random() > 0.01:
            kept.add(str(i))
    return ops, FinalRead("n0", span, span + ms, span, frozenset(kept)), per_node, overlaps


def register_history(ops: list[Operation], keys: int = 10) -> list[Operation]:
    """The same windows, nodes and outcomes as a register workload over `keys` keys: half writes of
    unique values, half reads of the latest value acknowledged before them, 0.1 % of those reads
    answered with the value before it (a stale read)."""
    rnd = random.Random(2)
    latest: dict[str, list[str | None]] = {}
    out = []
    for o in ops:
        key = f"k{o.index % keys}"
        seen = latest.setdefault(key, [None, None])
        if rnd.random() < 0.5:
            write = OperationKind.WRITE
            out.append(Operation(o.index, write, o.node, o.send_ns, o.recv_ns, 0, o.outcome, str(o.index),
                                 o.epoch, None, key))  # fmt: skip
            if o.outcome is Outcome.OK:
                seen[:] = [str(o.index), seen[0]]
            continue
        value = seen[1] if rnd.random() < 0.001 and seen[1] is not None else seen[0]
        out.append(
            Operation(
                o.index,
                OperationKind.READ,
                o.node,
                o.send_ns,
                o.recv_ns,
                0,
                Outcome.OK,
                value,
                o.epoch,
                None,
                key,
            )
        )
    return out


def bench_checkers(n: int) -> list[str]:
    t = time.perf_counter()
    ops, read, per_node, overlaps = checker_history(n)
    ids = [
        Operation(
            o.index, OperationKind.ID, o.node, o.send_ns, o.recv_ns, 0, o.outcome, str(o.index % (n - 1000))
        )
        for o in ops
    ]
    built = time.perf_counter() - t
    gc.freeze()  # as `analyze` does once the history is loaded
    t = time.perf_counter()
    h = check("set", ops, read, overlaps, per_node)
    took_set = time.perf_counter() - t
    t = time.perf_counter()
    h2 = check("unique-ids", ids, None, overlaps, per_node)
    took_ids = time.perf_counter() - t
    gc.unfreeze()
    regs = register_history(ops)
    gc.freeze()
    t = time.perf_counter()
    h3 = check("register", regs, None, overlaps, per_node)
    took_reg = time.perf_counter() - t
    gc.unfreeze()
    return [
        f"| set | {n:,} | {took_set:.2f} s | {n / took_set:,.0f} | {h.harm}: {h.reason}; "
        f"{len(h.stale):,} stale acks; {len(h.windows):,} windows |",
        f"| unique-ids | {n:,} | {took_ids:.2f} s | {n / took_ids:,.0f} | {h2.harm}: {h2.reason} |",
        f"| register | {n:,} | {took_reg:.2f} s | {n / took_reg:,.0f} | {h3.harm}: {h3.reason}; "
        f"{len(h3.stale_reads):,} attributed |",
        f"(generating the history took {built:.1f} s, not counted)",
    ]


async def bench_ticks(nodes: int, rate: float, seconds: float) -> list[str]:
    resp = Responder(nodes)
    try:
        rows = []
        for r in (0.0, rate):
            m = await ticks_with_workload(resp.http_ports, r, seconds)
            ops = f"{m['ops_per_s']:.0f}/s ({m['ok']:,} ok, {m['not_ok']:,} not)" if r else "—"
            lat = f"{m['op_p50']:.2f} / {m['op_p99']:.2f}" if r else "—"
            rows.append(
                f"| {nodes} × 10 Hz | {r:g} | {m['ticks']:.0f} | {m['skipped']:.0f} | {m['unknown']:.0f} | "
                f"{m['p50']:.2f} / {m['p99']:.2f} / {m['max']:.2f} | {ops} | {lat} |"
            )
        return rows
    finally:
        resp.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=30)
    ap.add_argument("--rate", type=float, default=200)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--ops", type=int, default=1_000_000)
    args = ap.parse_args()
    print(
        "| probes | workload ops/s | ticks | skipped | unknown | tick lateness p50/p99/max ms "
        "| operations | op latency p50/p99 ms |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for row in asyncio.run(bench_ticks(args.nodes, args.rate, args.seconds)):
        print(row, flush=True)
    print()
    print("| checker | operations | time | operations/s | result |")
    print("|---|---|---|---|---|")
    for row in bench_checkers(args.ops):
        print(row)


if __name__ == "__main__":
    main()
