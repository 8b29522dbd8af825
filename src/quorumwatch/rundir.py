"""Orchestration of a recorded run: open its directory, read the history, collect the nodes' logs,
analyse (the pure layers below) and write results.json. The only place these layers meet."""

from __future__ import annotations

import dataclasses
import gc
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

from quorumwatch.analysis import Analysis, Overlap, RunMeta, analyze
from quorumwatch.analysis import History as AnalysisInput
from quorumwatch.analysis.compaction import CompactedRun
from quorumwatch.analysis.linearizability import FailedCas, Linearizability, RegOp
from quorumwatch.model import Observation, Tick, WorkloadKind
from quorumwatch.report.results import results
from quorumwatch.report.schema import Results
from quorumwatch.store import HISTORY_FILE, Dropped, HistoryError, HistoryFile

RESULTS_FILE = "results.json"
REPORT_FILE = "report.html"


def analyze_run(run_dir: Path, *, report: bool = False) -> tuple[Analysis, Results]:
    """Millions of loaded records are long-lived and never cyclic garbage: the cyclic collector
    would re-scan them on every full collection (measured: half the checkers' time at 1 M
    operations). `_analyze_run` freezes what exists once the history is loaded; unfrozen here."""
    try:
        return _analyze_run(run_dir, report)
    finally:
        gc.unfreeze()


def _analyze_run(run_dir: Path, report: bool) -> tuple[Analysis, Results]:
    history = HistoryFile.open(run_dir / HISTORY_FILE)
    try:
        return _analyze_history(history, run_dir, report)
    finally:
        history.close()


def _analyze_history(history: HistoryFile, run_dir: Path, report: bool) -> tuple[Analysis, Results]:
    nodes = history.nodes()
    ticks = history.stored_ticks()  # streamed: a history of any length is never held whole
    events = history.events()
    meta = history.meta()
    operations = list(history.operations())
    reads = history.final_reads()
    recorded = [Overlap(*f) for f in history.findings()]
    dropped = history.dropped()
    gc.freeze()
    interval = float(meta.get("interval_s", "0") or 0)
    deadline = float(meta.get("deadline_s", "0") or 0)
    kind = meta.get("workload_kind")
    if kind is not None and kind not in {k.value for k in WorkloadKind}:
        raise HistoryError(f"{history.path}: unknown workload kind {kind!r}")
    slot = meta.get("workload_slot")
    run = RunMeta(
        interval, deadline, WorkloadKind(kind) if kind is not None else None,
        int(slot) if slot is not None and slot.isdigit() else None,
    )  # fmt: skip
    compacted = history.compacted_runs()
    a = analyze(
        AnalysisInput(
            ticks, events, operations, reads[-1] if reads else None, run, recorded, compacted,
            sum(d.observations - d.unknown for d in dropped),
        )
    )  # fmt: skip
    first = ticks[0] if ticks else None
    offset = first.wall_ns - first.started_ns if first is not None else 0
    retention = _retention(meta, dropped, len(recorded), first, offset) if dropped else None
    out = results(
        a,
        offset,
        {
            "cluster": meta.get("cluster"),
            "probe": meta.get("probe"),
            "interval_s": interval,
            "deadline_s": deadline,
            "ticks": len(ticks) + (retention["dropped"]["ticks"] if retention else 0),
            "workload_client": meta.get("workload_client"),
            "workload_rate": float(meta["workload_rate"]) if "workload_rate" in meta else None,
        },
        _logs_section(run_dir, ticks) if (run_dir / "logs").is_dir() else None,
        retention,
    )
    _write(run_dir / RESULTS_FILE, out.to_json())
    if report:
        from quorumwatch.report.html import operations_view, page, timeline

        lost = frozenset(o.value for o in a.harm.lost if o.value is not None)
        figure = timeline(nodes, ticks, out, operations, lost)
        stale = frozenset(sr.read.index for sr in a.harm.stale_reads)
        ops_figure = operations_view(ticks, out, operations, stale)
        title = f"quorumwatch: {meta.get('cluster', '?')} — {run_dir.name}"
        _write(run_dir / REPORT_FILE, page(out, figure, _plotly_js(), title, ops_figure))
    return a, out


def _retention(
    meta: dict[str, str], dropped: list[Dropped], recorded: int, first: Tick | None, offset: int
) -> dict[str, Any]:
    """The `retention` section: what a `watch --retain` deleted, counted before it went."""
    from quorumwatch._serial import iso

    return {
        "retain_s": float(meta["retain_s"]) if "retain_s" in meta else None,
        "dropped": {
            "ticks": sum(d.ticks for d in dropped),
            "observations": sum(d.observations for d in dropped),
            "unknown": sum(d.unknown for d in dropped),
            "multi_leader_ticks": sum(d.multi_leader_ticks for d in dropped),
            "first": iso(dropped[0].first_started_ns + offset),
            "last": iso(dropped[-1].last_started_ns + offset),
        },
        "recorded_findings": recorded,
        "kept_from": None if first is None else iso(first.started_ns + offset),
    }


def _filled(ticks: Iterable[Tick], runs: Sequence[CompactedRun], nodes: list[str]) -> Iterator[Tick]:
    """Ticks with each compacted observation shown again as its node's answer before it (the same
    answer, by what compaction drops), at the tick's own time."""
    order = {n: k for k, n in enumerate(nodes)}
    pending = sorted(runs, key=lambda r: r.first_tick)
    active: list[CompactedRun] = []
    last: dict[str, Observation] = {}
    j = 0
    for t in ticks:
        while j < len(pending) and pending[j].first_tick <= t.index:
            active.append(pending[j])
            j += 1
        active = [r for r in active if r.last_tick >= t.index]
        have = {o.node for o in t.observations}
        extra = [
            dataclasses.replace(
                last[r.node], tick=t.index, send_ns=t.started_ns, recv_ns=t.started_ns, wall_ns=t.wall_ns
            )
            for r in active
            if r.node not in have and r.node in last
        ]
        for o in t.observations:
            last[o.node] = o
        if extra:
            obs = sorted([*t.observations, *extra], key=lambda o: order.get(o.node, len(order)))
            t = dataclasses.replace(t, observations=tuple(obs))
        yield t


def replay(
    run_dir: Path, fmt: Literal["text", "jsonl", "csv"], *, changes_only: bool = False
) -> Iterator[str]:
    """A recorded run as `history` prints it, each item a piece of output ending in a newline:
    text (the lines `watch` printed, graded again as the watch graded them), JSON lines (ticks,
    events, then operations) or CSV (one row per observation). Raises HistoryError."""
    import json

    from quorumwatch.analysis.online import LiveGrading
    from quorumwatch.model import Event
    from quorumwatch.report.export import csv_header, csv_rows, event_json, operation_json, tick_json
    from quorumwatch.report.lines import LineFormatter, event_line

    hist = HistoryFile.open(run_dir / HISTORY_FILE)
    formatter = LineFormatter(changes_only=changes_only)
    grading = LiveGrading()

    def event_out(ev: Event) -> Iterator[str]:
        if fmt == "jsonl":
            yield json.dumps(event_json(ev)) + "\n"
        elif fmt == "text" and (line := event_line(ev)):
            yield line + "\n"

    try:
        if fmt == "csv":
            yield csv_header()
        events = hist.events()
        i = 0
        ticks = hist.ticks()
        if fmt == "text":  # the matrix as the watch printed it: compacted answers shown again
            ticks = _filled(ticks, hist.compacted_runs(), hist.nodes())
        for tick in ticks:
            # events print where they happened: before the first tick that ended after them
            while i < len(events) and events[i].mono_ns <= tick.started_ns:
                yield from event_out(events[i])
                i += 1
            if fmt == "jsonl":
                yield json.dumps(tick_json(tick)) + "\n"
            elif fmt == "csv":
                yield csv_rows(tick)
            else:
                grading.feed(tick)
                yield from (line + "\n" for line in formatter.feed(tick, grading))
        for ev in events[i:]:
            yield from event_out(ev)
        if fmt == "jsonl":
            for op in hist.operations():
                yield json.dumps(operation_json(op)) + "\n"
    finally:
        hist.close()


class RunDirError(Exception):
    """A file or run directory that cannot be read as asked: printable, naming it."""


def check_linearizability(
    names: Sequence[str],
    fmt: Literal["auto", "jepsen-log", "edn", "jsonl"],
    model: str,
    deadline_s: float,
    failed_cas: FailedCas,
) -> Linearizability:
    """The `linearizability` command's check: Jepsen logs, EDN, JSON lines and run directories (or
    their history.sqlite) of a register workload read into one history of operations (each file's
    keys its own when there are several) and checked key by key. Raises RunDirError."""
    from quorumwatch.analysis.checkers import Linearizable

    ops: list[RegOp] = []
    for name in names:
        if Path(name).is_dir() or name.endswith(".sqlite"):
            got = _register_operations(name)
        else:
            got = _foreign_operations(name, fmt, model)
        if len(names) > 1:
            # each file its own history: keys do not mix across files
            got = [dataclasses.replace(op, key=f"{name}:{op.key}" if op.key else name) for op in got]
        ops += got
    return Linearizable(deadline_s, failed_cas).check_ops(ops)


def _foreign_operations(name: str, fmt: str, model: str) -> list[RegOp]:
    """A Jepsen log, EDN or JSON-lines history's operations (`fmt` auto: told by its first lines)."""
    from quorumwatch.analysis.histories import HistoryError as ForeignError
    from quorumwatch.analysis.histories import detect, read_history

    try:
        with open(name, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError as exc:
        raise RunDirError(f"{name}: cannot read: {exc.strerror or exc}") from None
    kind = detect(lines[:50]) if fmt == "auto" else fmt
    if kind is None:
        raise RunDirError(f"{name}: not a history quorumwatch reads (give --format jepsen-log, edn or jsonl)")
    try:
        return read_history(lines, kind, model, name)  # type: ignore[arg-type]
    except ForeignError as exc:
        raise RunDirError(str(exc)) from None


def _register_operations(name: str) -> list[RegOp]:
    """A recorded run's operations, when its workload is a register, as the checker reads them."""
    from quorumwatch.analysis.harm import register_ops
    from quorumwatch.store import resolve_run_dir

    try:
        path = Path(name)
        hist = HistoryFile.open(path if path.is_file() else resolve_run_dir(path) / HISTORY_FILE)
    except HistoryError as exc:
        raise RunDirError(str(exc)) from None
    try:
        kind = hist.meta().get("workload_kind")
        if kind != WorkloadKind.REGISTER:
            what = "no workload ran" if kind is None else f"its workload is {kind!r}"
            raise RunDirError(f"{name}: {what}, not a register")
        return register_ops(list(hist.operations()))
    except HistoryError as exc:
        raise RunDirError(str(exc)) from None
    finally:
        hist.close()


def _write(path: Path, text: str) -> None:
    """Whole or not at all: a reader never sees half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return str(get_plotlyjs())


def _logs_section(run_dir: Path, ticks: Sequence[Tick]) -> dict[str, Any]:
    """What the nodes' own logs say, next to what the probes saw."""
    import datetime as dt

    from quorumwatch._serial import iso
    from quorumwatch.config import ConfigError
    from quorumwatch.logs.joined import detection_lags, disproved_ticks, regroup
    from quorumwatch.logs.reader import LogError
    from quorumwatch.logs.scan import resolve_inputs, run_logs
    from quorumwatch.offsets import CLOCKS_FILE, ClockError, load_for_logs
    from quorumwatch.report.logs import files_json
    from quorumwatch.report.results import overlap_json

    try:
        files = resolve_inputs([], run_dir)
        tz = dt.datetime.now().astimezone().tzinfo or dt.UTC
        offsets: dict[str, float] = {}
        skew = 0.0
        if (run_dir / CLOCKS_FILE).is_file():
            offsets, skew = load_for_logs(run_dir / CLOCKS_FILE)
        r = run_logs(files, None, tz=tz, year=None, skew_s=skew, offsets_s=offsets)
    except (ConfigError, LogError, ClockError) as exc:
        return {"error": str(exc)}
    f = regroup(r.forensics, ticks, round(skew * 1e9))  # a sharded cluster's logs, judged per group
    lags = detection_lags(f, ticks)
    disproved = disproved_ticks(f, ticks)
    values = [d.lag_s for d in lags if d.lag_s is not None]
    return {
        "verdict": f.verdict,
        "silent_nodes": list(f.silent),
        "clock_offsets_s": {n: round(v, 6) for n, v in sorted(offsets.items())},
        "skew_s": round(skew, 6),
        "files": files_json(r),
        "overlaps": [overlap_json(o) for o in f.overlaps],
        "detection_lags": [
            {"node": d.node, "change": d.change, "logged_at": iso(d.log_ns),
             "seen_at": None if d.seen_ns is None else iso(d.seen_ns),
             "lag_s": None if d.lag_s is None else round(d.lag_s, 6)}
            for d in lags
        ],
        "detection_lag_max_s": round(max(values), 6) if values else None,
        "disproved_ticks": len(disproved),
        "disproved_tick_indexes": disproved,
    }  # fmt: skip
