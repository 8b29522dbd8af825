"""The linearizability checker's speed: Jepsen etcd histories side by side with Porcupine, and a
unique-value workload of 1,000,000 operations.

- `--jepsen DIR`: every `etcd_*.log` in DIR (Porcupine's `test_data/jepsen`, from Horn & Kroening's
  linearizability checker) checked in one process, one core; with `--verdicts FILE` (lines `N true|false`,
  Porcupine's published verdicts) the agreement is counted.
- `--porcupine SRC`: a Porcupine checkout; where `go` is installed (`apt-get install golang-go`), its
  `TestEtcdJepsen` tests are run on the same histories (`go test -run TestEtcdJepsen -count=1`), timed
  by Go's own per-test times summed, next to ours.
- `--knossos DIR`: Knossos's `data/cas-register` (its `good/` and `bad/` histories, EDN) checked under
  both readings of a failed cas (`compared`, Porcupine's; `ignored`, Knossos's own), the agreement with
  the directory each file sits in counted; a file where no operation constrains an order is `unknown`
  (nothing examined), counted apart.
- `--ops N` (default 1,000,000): a generated history over 10 keys, unique written values, windows of
  10-200 µs overlapping their neighbours', reads of the latest acknowledged value; checked as it is
  (linearizable) and with one read made stale (violated, explained).

Run: `.venv/bin/python benchmarks/linearizability.py [--jepsen DIR --verdicts FILE] [--porcupine SRC]
[--knossos DIR] [--ops 1000000]`.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import re
import resource
import shutil
import subprocess
import time
from pathlib import Path

from quorumwatch.analysis.histories import read_history
from quorumwatch.analysis.linearizability import KeyVerdict, RegOp, Status, check


def generate(n: int, seed: int = 1) -> list[RegOp]:
    rng = random.Random(seed)
    ops: list[RegOp] = []
    t = 0
    acked: dict[str, list[tuple[int, int]]] = {}
    for i in range(n):
        key = f"k{i % 10}"
        t += rng.randint(1, 50) * 1000
        dur = rng.randint(10, 200) * 1000
        if rng.random() < 0.5:
            ops.append(RegOp(i, key, "write", Status.OK, t, t + dur, i))
            acked.setdefault(key, []).append((t + dur, i))
        else:
            seen = [v for ret, v in acked.get(key, [])[-3:] if ret < t]
            ops.append(RegOp(i, key, "read", Status.OK, t, t + dur, seen[-1] if seen else None))
    return ops


def jepsen(directory: Path, verdicts: Path | None) -> None:
    files = sorted(directory.glob("etcd_*.log"))
    histories = [
        read_history(p.read_text().splitlines(), "jepsen-log", "cas-register", str(p)) for p in files
    ]
    expected = {}
    if verdicts is not None:
        for line in verdicts.read_text().splitlines():
            n, v = line.split()
            expected[int(n)] = v == "true"
    runs = []
    for _ in range(5):
        t = time.perf_counter()
        results = [check(h) for h in histories]
        runs.append(time.perf_counter() - t)
    runs.sort()
    judged = [
        (r, expected[int(p.stem[5:])])
        for r, p in zip(results, files, strict=True)
        if int(p.stem[5:]) in expected
    ]
    agree = sum((r.verdict is KeyVerdict.LINEARIZABLE) == want for r, want in judged)
    slowest = sorted(((sum(k.ops for k in r.keys), p.name) for r, p in zip(results, files, strict=True)))[-1]
    print(
        f"quorumwatch: {len(files)} Jepsen etcd histories in {runs[2]:.3f} s "
        f"(median of 5, min {runs[0]:.3f}); "
        f"verdicts agreeing with Porcupine's: {agree} of {len(judged)}; "
        f"{sum(r.verdict is KeyVerdict.VIOLATED for r in results)} not linearizable; largest {slowest[1]}",
        flush=True,
    )


def knossos(directory: Path) -> None:
    files = sorted(directory.glob("*/*.edn"))
    for reading in ("compared", "ignored"):
        agree = unknown = 0
        t = time.perf_counter()
        for p in files:
            ops = read_history(p.read_text().splitlines(), "edn", "cas-register", str(p))
            got = check(ops, failed_cas=reading).verdict
            if got is KeyVerdict.UNKNOWN:
                unknown += 1
            elif (got is KeyVerdict.LINEARIZABLE) == (p.parent.name == "good"):
                agree += 1
        took = time.perf_counter() - t
        print(
            f"knossos ({reading} failed cas): {len(files)} histories in {took:.2f} s; verdicts agreeing with "
            f"their directory: {agree} of {len(files) - unknown}; {unknown} with nothing examined (unknown)",
            flush=True,
        )


def porcupine(src: Path) -> None:
    go = shutil.which("go")
    if go is None:
        print("porcupine: no `go` here (apt-get install golang-go): not run")
        return
    done = subprocess.run(
        [go, "test", "-run", "TestEtcdJepsen", "-count=1", "-v", "."],
        cwd=src, capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    times = [
        float(x) for x in re.findall(r"--- (?:PASS|FAIL): TestEtcdJepsen\d+ \((\d+\.\d+)s\)", done.stdout)
    ]
    passed = done.stdout.count("--- PASS: TestEtcdJepsen")
    print(
        f"porcupine: {len(times)} Jepsen etcd histories in {sum(times):.3f} s (Go's per-test times summed), "
        f"{passed} passing its own verdicts; `go test` exit {done.returncode}",
        flush=True,
    )


def unique(n: int) -> None:
    ops = generate(n)
    t = time.perf_counter()
    res = check(ops)
    took = time.perf_counter() - t
    print(f"{n:,} unique-value operations over 10 keys: {res.verdict} in {took:.2f} s", flush=True)
    bad = list(ops)
    i = next(i for i in range(n // 2, n) if ops[i].kind == "read" and ops[i].value is not None)
    first = next(op for op in ops if op.kind == "write" and op.key == ops[i].key)
    bad[i] = dataclasses.replace(ops[i], value=first.value)
    t = time.perf_counter()
    res = check(bad)
    took = time.perf_counter() - t
    (k,) = [k for k in res.keys if k.violation is not None]
    assert k.violation is not None
    print(
        f"the same with one stale read: {res.verdict} in {took:.2f} s (first: op {k.violation.op.index}, "
        f"{len(k.stale_reads)} stale read(s)); peak RSS "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jepsen", type=Path, help="a directory of Jepsen etcd logs (etcd_NNN.log)")
    ap.add_argument("--verdicts", type=Path, help="lines 'N true|false': the published verdicts")
    ap.add_argument("--porcupine", type=Path, help="a Porcupine checkout, run where `go` is installed")
    ap.add_argument("--knossos", type=Path, help="Knossos's data/cas-register (good/ and bad/ EDN histories)")
    ap.add_argument("--ops", type=int, default=1_000_000)
    args = ap.parse_args()
    if args.jepsen:
        jepsen(args.jepsen, args.verdicts)
    if args.porcupine:
        porcupine(args.porcupine)
    if args.knossos:
        knossos(args.knossos)
    if args.ops:
        unique(args.ops)


if __name__ == "__main__":
    main()
