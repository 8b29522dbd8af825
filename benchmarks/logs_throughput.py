"""`quorumwatch logs` throughput on a generated glog corpus, next to `grep -E` of the same phrases.

Generates N MB of glog lines over 5 nodes (default 1,000 MB), mostly noise with a role change
every ~20,000 lines, then times, in one run:
- `grep -cE` of the zk-elected pack's phrases over the same files (the goal: issue 23), and `rg -c
  -j1` (ripgrep on one thread, SIMD literal search: what a scan can reach);
- `quorumwatch logs --pack zk-elected NODE=FILE ...` (find candidates in 1 MB chunks, parse only them).
Peak memory is the child process's maximum resident set.

Then the same for one of the files alone (where `--jobs` splits the file into line-aligned parts),
and that file wrapped in each envelope of `--envelopes` (CRI container logs, an RFC 3339 syslog
relay, Docker json-file: what peeling costs, next to the same file bare).

Every command is timed `--repeat` times (default 3) and its best run kept, so that the page cache
is warm for all of them alike.

Run: `.venv/bin/python benchmarks/logs_throughput.py [--mb 1000] [--dir DIR] [--keep]
[--envelopes cri,syslog-iso,docker-json] [--repeat 3]`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

PHRASES = [
    r"\[ROLE CHANGE\] I am the leader now",
    "Start the leader role",
    "Start the follower role",
    "Stopping the services of ",
    "zookeeper session event: ",
]
NOISE = [
    "Write chunk {i} to chunkserver 10.0.0.{n}:8200 done, latency {l} us",
    "Heartbeat from chunkserver 10.0.0.{n}:8200, {l} chunks, free 9231 GB",
    "Copyset {i} of pool 2 is healthy, leader is 10.0.0.{n}:8200",
    "Scheduler: check {i} copysets, 0 operators generated in {l} us",
]


def generate(path: Path, node: int, mb: int, seed: int) -> None:
    rng = random.Random(seed)
    target = mb << 20
    written = 0
    t = 1_659_640_000.0
    seq = 100
    with open(path, "w", encoding="ascii") as f:
        f.write("Log file created at: 2022/08/04 19:06:40\nRunning on machine: meta\n")
        while written < target:
            lines = []
            for i in range(20_000):
                t += 0.0005
                tm = time.gmtime(t)
                us = int((t % 1) * 1e6)
                msg = rng.choice(NOISE).format(i=i, n=node, l=rng.randint(50, 900))
                lines.append(
                    f"I{tm.tm_mon:02d}{tm.tm_mday:02d} {tm.tm_hour:02d}:{tm.tm_min:02d}:{tm.tm_sec:02d}."
                    f"{us:06d} 4242 meta.cc:{i % 900}] {msg}\n"
                )
            seq += 1
            stamp = lines[-1][:21]  # the time of the block's last noise line
            if rng.random() < 0.5:
                lines.append(
                    f"{stamp} 4242 meta.cc:1] [ROLE CHANGE] I am the leader now.  seq is {node}{seq:06d}\n"
                )
                lines.append(f"{stamp} 4242 meta.cc:2] Start the leader role\n")
            else:
                lines.append(f"{stamp} 4242 meta.cc:3] Stopping the services of meta, this: 0x1\n")
                lines.append(f"{stamp} 4242 meta.cc:4] Start the follower role\n")
            block = "".join(lines)
            f.write(block)
            written += len(block)


def _stamp(line: str) -> str:
    """The RFC 3339 time of a glog line of the corpus (UTC, year 2022)."""
    return f"2022-{line[1:3]}-{line[3:5]}T{line[6:21]}Z"


def _cri(line: str) -> str:
    return f"{_stamp(line)} stdout F {line}"


def _syslog_iso(line: str) -> str:
    return f"{_stamp(line)[:-1]}+00:00 meta1 meta[4242]: {line}"


def _docker(line: str) -> str:
    return json.dumps({"log": line + "\n", "stream": "stderr", "time": _stamp(line)})


WRAP: dict[str, Callable[[str], str]] = {"cri": _cri, "syslog-iso": _syslog_iso, "docker-json": _docker}
"""How each envelope wraps a glog line (header lines take the first record's time)."""


def wrap(src: Path, dest: Path, envelope: str) -> None:
    fn = WRAP[envelope]
    first = None
    with open(src, encoding="ascii") as f, open(dest, "w", encoding="ascii") as out:
        pending: list[str] = []
        for raw in f:
            line = raw.rstrip("\n")
            if line[:1] in "IWEF" and line[1:5].isdigit():
                if first is None:
                    first = line
                    out.writelines(fn(first[:22] + p) + "\n" for p in pending)
                out.write(fn(line) + "\n")
            elif first is None:
                pending.append(line)
            else:
                out.write(fn(first[:22] + line) + "\n")


REPEAT = 3


def timed(argv: list[str]) -> tuple[float, float, subprocess.CompletedProcess[bytes]]:
    """The best of REPEAT runs (wall time), the command's own peak RSS (MB: its rusage, not every
    child's so far), the last run."""
    best, peak = float("inf"), 0.0
    for _ in range(REPEAT):
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            t = time.perf_counter()
            proc = subprocess.Popen(argv, stdout=out, stderr=err)
            _, status, usage = os.wait4(proc.pid, 0)
            best = min(best, time.perf_counter() - t)
            proc.returncode = os.waitstatus_to_exitcode(status)
            peak = max(peak, usage.ru_maxrss / 1024)
            out.seek(0)
            err.seek(0)
            done = subprocess.CompletedProcess(argv, proc.returncode, out.read(), err.read())
    return best, peak, done


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=1000, help="corpus size in MB (5 nodes)")
    ap.add_argument("--dir", type=Path, help="where to write the corpus (default: a temporary directory)")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument(
        "--envelopes",
        default="cri,syslog-iso,docker-json",
        help="wrap one file in each of these ('' for none)",
    )
    ap.add_argument("--repeat", type=int, default=3, help="runs of each command; the best is kept")
    args = ap.parse_args()
    global REPEAT
    REPEAT = max(1, args.repeat)
    root = args.dir or Path(tempfile.mkdtemp(prefix="qw-logs-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        t = time.perf_counter()
        files = []
        for n in range(1, 6):
            p = root / f"n{n}.INFO"
            if not p.exists():
                generate(p, n, args.mb // 5, n)
            files.append(p)
        size = sum(p.stat().st_size for p in files) / 1e6
        print(f"corpus: {size:,.0f} MB in 5 files ({time.perf_counter() - t:.1f} s to generate)", flush=True)
        grep_s, _, _ = timed(["grep", "-cE", "|".join(PHRASES), *map(str, files)])
        qw = [
            sys.executable,
            "-m",
            "quorumwatch",
            "logs",
            "--pack",
            "zk-elected",
            "--tz",
            "UTC",
            "--year",
            "2022",
            *(f"n{i}={p}" for i, p in enumerate(files, start=1)),
            "--json",
        ]
        print(f"grep -cE:                   {grep_s:6.2f} s  {size / grep_s:7.0f} MB/s")
        if shutil.which("rg"):
            rg_s, _, _ = timed(["rg", "-c", "-j1", "|".join(PHRASES), *map(str, files)])
            print(f"rg -c -j1:                  {rg_s:6.2f} s  {size / rg_s:7.0f} MB/s")
        for jobs in ("1", str(os.cpu_count() or 1)):
            qw_s, qw_mb, q = timed([*qw, "--jobs", jobs])
            if q.returncode not in (0, 3, 4, 5):  # the corpus' random roles overlap: any verdict will do
                print(q.stderr.decode()[-2000:])
                raise SystemExit("quorumwatch logs failed")
            print(
                f"quorumwatch logs --jobs {jobs}:  {qw_s:6.2f} s  {size / qw_s:7.0f} MB/s  "
                f"peak RSS {qw_mb:.0f} MB  ({size / qw_s / (size / grep_s):.0%} of grep)",
                flush=True,
            )
        # one big file: --jobs splits it into line-aligned parts
        one = files[0].stat().st_size / 1e6
        grep1_s, _, _ = timed(["grep", "-cE", "|".join(PHRASES), str(files[0])])
        print(f"one file ({one:,.0f} MB): grep -cE {grep1_s:.2f} s  {one / grep1_s:7.0f} MB/s", flush=True)
        if shutil.which("rg"):
            rg1_s, _, _ = timed(["rg", "-c", "-j1", "|".join(PHRASES), str(files[0])])
            print(f"one file: rg -c -j1 {rg1_s:.2f} s  {one / rg1_s:7.0f} MB/s", flush=True)
        for jobs in ("1", str(os.cpu_count() or 1)):
            one_cmd = [*qw[:10], f"n1={files[0]}", "--json", "--jobs", jobs]
            qw_s, qw_mb, q = timed(one_cmd)
            print(
                f"one file, quorumwatch logs --jobs {jobs}:  {qw_s:6.2f} s  {one / qw_s:7.0f} MB/s  "
                f"peak RSS {qw_mb:.0f} MB  ({one / qw_s / (one / grep1_s):.0%} of grep)",
                flush=True,
            )
        for envelope in filter(None, args.envelopes.split(",")):
            wrapped = root / f"n1.{envelope}.log"
            if not wrapped.exists():
                wrap(files[0], wrapped, envelope)
            w_mb = wrapped.stat().st_size / 1e6
            for jobs in ("1", str(os.cpu_count() or 1)):
                qw_s, qw_mb, q = timed([*qw[:10], f"n1={wrapped}", "--json", "--jobs", jobs])
                if q.returncode not in (0, 3, 4, 5):
                    raise SystemExit(f"quorumwatch logs failed on {envelope}: {q.stderr.decode()[-500:]}")
                print(
                    f"one file in {envelope} ({w_mb:,.0f} MB), --jobs {jobs}:  {qw_s:6.2f} s  "
                    f"{w_mb / qw_s:7.0f} MB/s  ({one / qw_s:.0f} MB/s of the bare file's lines)  "
                    f"peak RSS {qw_mb:.0f} MB",
                    flush=True,
                )
    finally:
        if not args.keep and args.dir is None:
            shutil.rmtree(root, ignore_errors=True)
        elif not args.keep:
            for p in [*root.glob("n*.INFO"), *root.glob("n1.*.log")]:
                os.unlink(p)


if __name__ == "__main__":
    main()
