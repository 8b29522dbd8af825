"""Orchestration of a recorded run: open its directory, read the history, collect the nodes' logs,
analyse (the pure layers below) and write results.json. The only place these layers meet."""

from __future__ import annotations

import gc
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from quorumwatch.analysis import Analysis, Overlap, analyze
from quorumwatch.model import Tick
from quorumwatch.report.results import results
from quorumwatch.report.schema import Results
from quorumwatch.store import HISTORY_FILE, Dropped, HistoryFile

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
    a = analyze(
        ticks, events, interval_s=interval, deadline_s=deadline, workload=meta.get("workload_kind"),
        operations=operations, final_read=reads[-1] if reads else None, recorded=recorded,
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
    from quorumwatch.logs.joined import detection_lags, disproved_ticks
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
    f = r.forensics
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
