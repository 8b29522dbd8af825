"""Machine output of a history: one JSON object per tick and per event (`--format jsonl`, for log
shippers and scripts), or one CSV row per observation (`--format csv`, for spreadsheets)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

from quorumwatch._serial import iso
from quorumwatch.analysis.online import Change, LiveGrading
from quorumwatch.model import Event, Observation, Operation, Tick

CSV_COLUMNS = ("tick", "time", "node", "role", "epoch", "leader", "rtt_s", "reason", "detail")


def observation_json(o: Observation) -> dict[str, Any]:
    return {
        "node": o.node, "role": o.role.value, "epoch": o.epoch, "leader": o.leader,
        "rtt_s": round(o.rtt_ns / 1e9, 6), "reason": o.reason.value if o.reason else None, "detail": o.detail,
    }  # fmt: skip


def tick_json(t: Tick, cluster: str | None = None) -> dict[str, Any]:
    """A tick as `watch --format jsonl` and `history --format jsonl` write it. `leaders` counts the
    nodes that said leader at this tick: the naive count, not a verdict (the analysis grades it)."""
    out: dict[str, Any] = {"type": "tick"}
    if cluster is not None:
        out["cluster"] = cluster
    out |= {
        "index": t.index, "time": iso(t.wall_ns), "lateness_s": round(t.lateness_ns / 1e9, 6),
        "matrix": "".join(o.role.letter for o in t.observations),
        "leaders": [o.node for o in t.leaders], "nodes": [observation_json(o) for o in t.observations],
    }  # fmt: skip
    return out


def event_json(e: Event, cluster: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "event"}
    if cluster is not None:
        out["cluster"] = cluster
    return out | {"time": iso(e.wall_ns), "kind": e.kind, "node": e.node, "data": e.data}


def operation_json(o: Operation) -> dict[str, Any]:
    """A workload operation as `history --format jsonl` writes it: its window in monotonic ns (the
    order `quorumwatch linearizability` checks), its wall time for display (`model.operation_from_json`
    reads it back)."""
    return {
        "type": "operation", "index": o.index, "kind": o.kind, "key": o.key, "node": o.node,
        "send_ns": o.send_ns, "recv_ns": o.recv_ns, "time": iso(o.wall_ns), "outcome": o.outcome.value,
        "value": o.value, "expect": o.expect, "epoch": o.epoch, "detail": o.detail,
    }  # fmt: skip


def finding_json(c: Change, wall_offset_ns: int, cluster: str | None = None) -> dict[str, Any]:
    """A graded finding that started or ended, as `watch --format jsonl` writes it."""
    out: dict[str, Any] = {"type": "finding"}
    if cluster is not None:
        out["cluster"] = cluster
    return out | {
        "event": c.what, "kind": c.kind, "certain": c.certain, "nodes": list(c.nodes),
        "epochs": list(c.epochs),
        "start": iso(c.start + wall_offset_ns), "end": iso(c.end + wall_offset_ns),
        "duration_s": round((c.end - c.start) / 1e9, 6),
        **({"group": c.group} if c.group is not None else {}),
    }  # fmt: skip


@dataclass
class JsonlFormatter:
    """`watch --format jsonl`: a tick in, one JSON line out, plus one per graded finding that starts
    or ends (the same interface as LineFormatter)."""

    cluster: str | None = None
    ticks: int = 0
    multi_leader_ticks: int = 0

    def feed(self, tick: Tick, grading: LiveGrading | None = None) -> list[str]:
        self.ticks += 1
        self.multi_leader_ticks += len(tick.leaders) > 1
        out = [json.dumps(tick_json(tick, self.cluster))]
        if grading is not None:
            out += [json.dumps(finding_json(c, grading.offset_ns, self.cluster)) for c in grading.changes]
        return out


def csv_header() -> str:
    return _row(CSV_COLUMNS)


def csv_rows(t: Tick) -> str:
    """One row per observation of the tick (events have no place in a table of observations)."""
    return "".join(
        _row((t.index, iso(t.wall_ns), o.node, o.role.value, _blank(o.epoch), o.leader or "",
              f"{o.rtt_ns / 1e9:.6f}", o.reason.value if o.reason else "", o.detail or ""))
        for o in t.observations
    )  # fmt: skip


def _blank(v: int | None) -> str:
    return "" if v is None else str(v)


def _row(values: tuple[object, ...]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(values)
    return buf.getvalue()


__all__ = [
    "CSV_COLUMNS",
    "JsonlFormatter",
    "csv_header",
    "csv_rows",
    "event_json",
    "finding_json",
    "observation_json",
    "tick_json",
]
