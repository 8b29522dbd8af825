"""Many clusters in one process (`watch a.yaml b.yaml ...`): 100 clusters × 5 nodes at 10 Hz over
HTTP on this machine, each tick recorded to its cluster's SQLite history, formatted and graded live
as `watch` does, set up as it sets up: uvloop, no spin before ticks, ticks spread over the interval,
histories written by one background `Writer`. Reports tick-start lateness (p50/p99/max) over every
tick of every cluster, and the time each tick's recording and grading held the event loop.

The 500 fake etcd members are served by probe_engine.py's responder in another process (it shares
the machine's two cores with the watcher). Goal (issue 11): p99 lateness under 5 ms.

Run: `.venv/bin/python benchmarks/many_clusters.py [--clusters 100] [--nodes 5] [--seconds 20]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere
from benchmarks.probe_engine import Responder, _pct, cluster, cpu_s, lateness_line, raise_nofile
from quorumwatch.analysis.online import LiveGrading
from quorumwatch.engine import Engine, EngineStats
from quorumwatch.model import Role, Tick
from quorumwatch.probes import make_probe
from quorumwatch.report.lines import LineFormatter
from quorumwatch.store import HistoryFile, Writer
from quorumwatch.watcher import MANY_SPIN_S, run_loop

WARMUP_S = 2.0


async def run(
    clusters: int, nodes: int, seconds: float, base: Path, responder: Responder, spin: float, stagger: bool,
    background: bool,
) -> None:  # fmt: skip
    lateness: list[int] = []
    held: list[float] = []
    writer = Writer() if background else None
    reasons: set[str] = set()
    unknown = answered = 0
    engines = []
    histories = []
    for k in range(clusters):
        c = cluster("etcd", responder.http_ports[k * nodes : (k + 1) * nodes], 0.1).model_copy(
            update={"name": f"c{k}"}
        )
        h = HistoryFile.create(base / f"c{k}.sqlite", [n.name for n in c.nodes], {"cluster": c.name})
        if writer is not None:
            h.write_from(writer)
        histories.append(h)
        fmt, grading = LineFormatter(changes_only=True), LiveGrading()

        def sink(
            tick: Tick, h: HistoryFile = h, fmt: LineFormatter = fmt, grading: LiveGrading = grading
        ) -> None:
            nonlocal unknown, answered
            t = time.perf_counter()
            h.append_tick(tick)
            grading.feed(tick)
            fmt.feed(tick, grading)
            if tick.index >= WARMUP_S * 10:
                held.append(time.perf_counter() - t)
                lateness.append(tick.lateness_ns)
                unknown += sum(o.role is Role.UNKNOWN for o in tick.observations)
                reasons.update(o.detail or str(o.reason) for o in tick.observations if o.role is Role.UNKNOWN)
                answered += sum(o.role is not Role.UNKNOWN for o in tick.observations)

        probes = [make_probe(c, n) for n in c.nodes]
        engines.append(Engine(probes, interval_s=0.1, deadline_s=0.08, sinks=[sink], spin_s=spin))
    t = time.perf_counter()
    cpu = os.times()
    threads = _thread_cpu()
    responder_cpu = responder.cpu_s()

    async def staggered(i: int, e: Engine) -> EngineStats:
        # spread the clusters' ticks over the interval, as `watch a.yaml b.yaml ...` does
        await asyncio.sleep(0.1 * i / len(engines) if stagger else 0)
        return await e.run(duration_s=seconds + WARMUP_S)

    stats = await asyncio.gather(*(staggered(i, e) for i, e in enumerate(engines)))
    took = time.perf_counter() - t
    cpu_end = os.times()
    responder_cpu = responder.cpu_s() - responder_cpu
    threads = {name: used - threads.get(name, 0.0) for name, used in _thread_cpu().items()}
    used = (cpu_end.user - cpu.user) + (cpu_end.system - cpu.system)
    for e in engines:
        await e.aclose()
    for h in histories:
        h.close()
    if writer is not None:
        writer.close()
    skipped = sum(s.skipped for s in stats)
    print(
        f"{clusters} clusters × {nodes} nodes at 10 Hz for {seconds:g} s (+{WARMUP_S:g} s warm-up), "
        f"{took:.1f} s wall"
    )
    print(
        f"ticks scored {len(lateness):,}; answers {answered:,}, unknown {unknown:,}; skipped ticks {skipped}"
    )
    if reasons:
        print("unknown because:", "; ".join(sorted(reasons)[:4]))
    print(lateness_line(lateness))
    held_ns = [round(x * 1e9) for x in held]
    # less noisy than lateness on a shared machine: what one watcher costs, all its threads
    print(f"watcher CPU: {used:.1f} s over {took:.1f} s ({100 * used / took:.0f} % of one core)")
    print(f"responder CPU (the fake nodes, same machine): {100 * responder_cpu / took:.0f} % of one core")
    print(
        "by thread:", ", ".join(f"{name} {100 * used / took:.0f} %" for name, used in sorted(threads.items()))
    )
    print(f"loop held per tick (record + grade): p50 {_pct(held_ns, 0.5) * 1000:.0f} µs, "
          f"p99 {_pct(held_ns, 0.99) * 1000:.0f} µs")  # fmt: skip


def run_cli(
    clusters: int, nodes: int, seconds: float, base: Path, responder: Responder, keep_ticks: str = "10s",
    shards: int = 0,
) -> None:  # fmt: skip
    """What users run: `quorumwatch watch c0.yaml ... c99.yaml --changes-only` in its own process
    (with `shards` N: N processes of `watch --clusters DIR --shard K/N`), its lateness read back from
    the histories it recorded (each tick's scheduled and started time)."""
    files = []
    (base / "clusters").mkdir()
    for k in range(clusters):
        c = cluster("etcd", responder.http_ports[k * nodes : (k + 1) * nodes], 0.1)
        doc = c.model_dump(mode="json", exclude_defaults=True) | {"name": f"c{k}"}
        files.append(base / "clusters" / f"c{k}.yaml")
        files[-1].write_text(yaml.safe_dump(doc), encoding="utf-8")
    common = ["--changes-only", "--duration", str(seconds + WARMUP_S), "--keep-ticks", keep_ticks]
    head = [sys.executable, "-m", "quorumwatch", "watch"]
    if shards:
        argvs = [
            [*head, "--clusters", str(base / "clusters"), "--shard", f"{k}/{shards}", *common,
             "--output", str(base / f"watch-{k}.log")]
            for k in range(shards)
        ]  # fmt: skip
    else:
        argvs = [[*head, *map(str, files), *common, "--output", str(base / "watch.log")]]
    responder_cpu = responder.cpu_s()
    t = time.perf_counter()
    # status and summaries to files: a pipe nobody reads fills up and stops the watch
    errs = [(base / f"watch-{k}.err").open("wb") for k in range(len(argvs))]
    procs = [
        subprocess.Popen(a, cwd=base, stdout=subprocess.DEVNULL, stderr=e)
        for a, e in zip(argvs, errs, strict=True)
    ]
    cpu: list[float] = []
    codes = []
    for proc in procs:  # each child's own CPU, from its rusage as it is reaped
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        cpu.append(usage.ru_utime + usage.ru_stime)
        codes.append(proc.returncode)
        if proc.returncode not in (0, 1, 3, 4, 5):  # a verdict's exit code is not a failure here
            said = (base / f"watch-{len(codes) - 1}.err").read_text(errors="replace")
            sys.exit(f"watch exited {proc.returncode}: {said.strip()[-500:]}")
    for e in errs:
        e.close()
    took = time.perf_counter() - t
    runs = [p for p in base.glob("runs/*/*") if not p.is_symlink()]  # not the `latest` links
    lateness: list[int] = []
    answers = unknown = 0
    verdicts = Counter(json.loads((run / "results.json").read_text())["verdict"] for run in runs)
    warm = round(WARMUP_S * 10)
    for db in (run / "history.sqlite" for run in runs):
        with contextlib.closing(sqlite3.connect(db)) as conn:
            lateness += [
                r[0]
                for r in conn.execute("SELECT started_ns - scheduled_ns FROM ticks WHERE tick >= ?", (warm,))
            ]
            for role, n in conn.execute(
                "SELECT role = 'X', COUNT(*) FROM observations WHERE tick >= ? GROUP BY 1", (warm,)
            ):
                unknown, answers = (unknown + n, answers) if role else (unknown, answers + n)
            (gone,) = conn.execute(  # answers compaction counted instead of keeping (all definite)
                "SELECT coalesce(sum(count), 0) FROM compacted_runs WHERE last_tick >= ?", (warm,)
            ).fetchone()
            answers += gone
    how = f"{shards} shard processes" if shards else "one process"
    print(
        f"`quorumwatch watch` of {clusters} cluster files × {nodes} nodes at 10 Hz for {seconds:g} s "
        f"(+{WARMUP_S:g} s warm-up) in {how}, {took:.1f} s wall (process start included)"
    )
    print(
        f"runs {len(runs)}; ticks recorded after warm-up {len(lateness):,}; answers {answers:,}, "
        f"unknown {unknown:,}"
    )
    print("verdicts:", ", ".join(f"{v} {n}" for v, n in verdicts.most_common()), f"(exit {codes})")
    print(lateness_line(lateness))
    print(
        f"watch CPU: {' + '.join(f'{c:.1f}' for c in cpu)} s over {took:.1f} s; responder CPU "
        f"{100 * (responder.cpu_s() - responder_cpu) / took:.0f} % of one core"
    )


def _thread_cpu() -> dict[str, float]:
    """CPU seconds of each of this process's threads, by Python thread name."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    used: dict[str, float] = {}
    for task in Path("/proc/self/task").iterdir():
        name = names.get(int(task.name), "other")
        with contextlib.suppress(OSError):  # the thread ended
            used[name] = used.get(name, 0.0) + cpu_s(str(task / "stat"))
    return used


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clusters", type=int, default=100)
    ap.add_argument("--nodes", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--spin", type=float, default=MANY_SPIN_S, help="Engine spin before each tick (s).")
    ap.add_argument("--no-stagger", action="store_true", help="Start every cluster's ticks at one instant.")
    ap.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop", help="The event loop.")
    ap.add_argument(
        "--no-leader", action="store_true", help="Every node a follower (a 'no leader' line every tick)."
    )
    ap.add_argument(
        "--cli", action="store_true", help="Run `quorumwatch watch` on cluster files instead (end to end)."
    )
    ap.add_argument(
        "--keep-ticks", default="10s", help="--cli: the watch's --keep-ticks (1d: no compaction in the run)."
    )
    ap.add_argument(
        "--shards", type=int, default=0, help="--cli: N processes of `watch --clusters DIR --shard K/N`."
    )
    ap.add_argument("--inline-writes", action="store_true", help="Write histories on the loop's thread.")
    args = ap.parse_args()
    raise_nofile()
    responder = Responder(args.clusters * args.nodes, leader_every=0 if args.no_leader else args.nodes)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            if args.cli:
                run_cli(
                    args.clusters,
                    args.nodes,
                    args.seconds,
                    Path(tmp),
                    responder,
                    args.keep_ticks,
                    args.shards,
                )
                return
            main = run(
                args.clusters, args.nodes, args.seconds, Path(tmp), responder, args.spin,
                not args.no_stagger, not args.inline_writes,
            )  # fmt: skip
            run_loop(main) if args.loop == "uvloop" else asyncio.run(main)
    finally:
        responder.close()


if __name__ == "__main__":
    main()
