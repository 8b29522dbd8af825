"""`quorumwatch logs` output: the scan's result as text lines and as JSON."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from quorumwatch._serial import iso, stamp
from quorumwatch.logs.forensics import Forensics, RoleEvent
from quorumwatch.logs.reader import FileStats
from quorumwatch.logs.scan import LogRun
from quorumwatch.report.results import overlap_json


def to_json(r: LogRun, context_s: float, show_all: bool) -> dict[str, Any]:
    f = r.forensics
    return {
        "version": 1,
        "verdict": f.verdict,
        "intervals": [
            {"node": iv.node, "epoch": iv.epoch, "start": iso(iv.start), "end": iso(iv.end),
             "duration_s": round((iv.end - iv.start) / 1e9, 6),
             "open_start": iv.open_start, "open_end": iv.open_end,
             "possible_start": iso(iv.maybe[0]), "possible_end": iso(iv.maybe[1])}
            for iv in f.intervals
        ],
        "overlaps": [overlap_json(o) for o in f.overlaps],
        "anomalies": [_iso_anomaly(a) for a in f.anomalies],
        "leaderless": [
            {"start": iso(lo), "end": iso(hi), "duration_s": round((hi - lo) / 1e9, 6)} for lo, hi in f.gaps
        ],
        "timeline": [_event_json(e) for e in timeline(f, context_s, show_all)],
        "files": files_json(r),
        "silent_nodes": list(f.silent),
        "unparsed_lines": {
            "count": sum(s.without_timestamp for s in r.stats),
            "examples": [f"{s.path}: {x}" for s in r.stats for x in s.examples][:10],
        },
    }  # fmt: skip


def files_json(r: LogRun) -> list[dict[str, Any]]:
    """Per file: what was read and what it said (so nothing counts as examined silently)."""
    return [
        {"path": s.path, "node": r.nodes.get(s.path), "envelopes": list(s.envelopes), "format": s.format,
         "pack": r.packs.get(s.path), "lines": s.lines, "records": s.records, "leadership_events": s.events,
         "unexamined_lines": s.unexamined, "split_into_nodes": s.split, "relay_delay": relay_delay(s)}
        for s in r.stats
    ]  # fmt: skip


def relay_delay(s: FileStats) -> dict[str, Any] | None:
    """How much later the envelope's time is than the application's own, over the records that
    carry both (seconds); None where no record does."""
    d = sorted(s.relay_delays)
    if not d:
        return None
    return {"records": len(d), "min_s": round(d[0] / 1e9, 6), "median_s": round(d[len(d) // 2] / 1e9, 6),
            "max_s": round(d[-1] / 1e9, 6)}  # fmt: skip


def _iso_anomaly(a: dict[str, Any]) -> dict[str, Any]:
    out = dict(a)
    if "starts" in out:
        out["starts"] = [iso(t) for t in out["starts"]]
    for k in ("from", "to"):
        if k in out:
            out[k] = {**out[k], "at": iso(out[k]["at"])}
    return out


def _event_json(e: RoleEvent) -> dict[str, Any]:
    return {
        "time": iso(e.ts_ns),
        "node": e.node,
        "event": e.kind,
        "epoch": e.epoch,
        "file": e.file,
        "line": e.line,
        "message": e.message[:300],
    }


def timeline(f: Forensics, context_s: float, show_all: bool) -> list[RoleEvent]:
    """Role events of all nodes in one order; by default only around overlaps."""
    if show_all:
        return list(f.events)
    ctx = round(context_s * 1e9)
    windows = [(o.start - ctx, o.end + ctx) for o in f.overlaps]
    return [e for e in f.events if any(lo <= e.ts_ns <= hi for lo, hi in windows)]


def timeline_lines(f: Forensics) -> list[str]:
    """Every role event of every node in time order, one line each: `TIME NODE EVENT [epoch N]
    FILE:LINE MESSAGE` (the format contrib/lnav/quorumwatch.json reads)."""
    return [
        f"{stamp(e.ts_ns)} {e.node} {e.kind}"
        + (f" epoch={e.epoch}" if e.epoch is not None else "")
        + f" {e.file}:{e.line} {e.message}"
        for e in f.events
    ]


def _epochs(epochs: tuple[int | None, int | None]) -> str:
    """` (epochs 3 / 4)`; nothing where neither side's log names one; `?` for the side that does not."""
    if epochs == (None, None):
        return ""
    a, b = ("?" if e is None else str(e) for e in epochs)
    return f" (epochs {a} / {b})"


def render(r: LogRun, context_s: float, show_all: bool, echo: Callable[[str], None]) -> None:
    f = r.forensics
    echo(f"verdict: {f.verdict}")
    if unread := r.unexamined():
        echo("some lines were not examined: a rule's pattern ran past its time budget on them")
        for line in unread:
            echo(f"  {line}")
    if f.verdict == "inconclusive" and unread and f.intervals:
        echo("no overlap in what was read, but the lines above may have said who led: not ok")
    elif f.verdict == "inconclusive":
        echo("no file gave a leadership event: nothing here says who led")
        for line in r.silent_files():
            echo(f"  {line}")
        return
    if f.silent:
        echo(
            "silent nodes (no leadership event in their logs; nothing is known of them): "
            + ", ".join(f.silent)
        )
        for line in r.silent_files():
            echo(f"  {line}")
    echo("leader intervals:")
    for iv in f.intervals:
        start = stamp(iv.start) + (" (already leading where its log begins)" if iv.open_start else "")
        end = stamp(iv.end) + (" (still leading where its log ends)" if iv.open_end else "")
        echo(
            f"  {iv.node:<8} epoch {iv.epoch if iv.epoch is not None else '?':<6} {start} → {end} "
            f"({(iv.end - iv.start) / 1e9:.3f} s)"
        )
    if f.overlaps:
        echo("overlaps:")
        for o in f.overlaps:
            echo(
                f"  {o.kind:<11} {' + '.join(o.nodes)}{_epochs(o.epochs)} "
                f"{stamp(o.start)} → {stamp(o.end)} ({o.duration_ns / 1e9:.3f} s)"
            )
    for a in f.anomalies:
        if a["kind"] == "duplicate_epoch":
            echo(f"anomaly: epoch {a['epoch']} claimed by {', '.join(a['nodes'])}")
        else:
            frm, to = a["from"], a["to"]
            echo(
                f"anomaly: epoch went backwards: {frm['node']} epoch {frm['epoch']} at {stamp(frm['at'])}, "
                f"then {to['node']} epoch {to['epoch']} at {stamp(to['at'])}"
            )
    for lo, hi in f.gaps:
        echo(f"leaderless: {stamp(lo)} → {stamp(hi)} ({(hi - lo) / 1e9:.3f} s)")
    events = timeline(f, context_s, show_all)
    if events:
        echo("timeline:" if show_all else f"timeline (±{context_s:g} s around overlaps):")
        for e in events:
            echo(f"  {stamp(e.ts_ns)} {e.node:<8} {e.kind:<15} {e.message[:140]}")
    unparsed = sum(s.without_timestamp for s in r.stats)
    examples = [f"  {s.path}: {x}" for s in r.stats for x in s.examples[:2]]
    if unparsed:
        said = f"{unparsed} lines without a timestamp (continuations attach to the record before them"
        echo(said + ("), e.g.:" if examples else "; all are continuations or file headers)"))
        for line in examples:
            echo(line)
    for s in r.stats:
        if s.format is None and s.lines:
            echo(f"note: {s.path}: no known log format recognised; skipped")


__all__ = ["files_json", "render", "timeline", "timeline_lines", "to_json"]
