"""`results.json`: the analysis as data for CI (contract in docs/results.md, versioned)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from quorumwatch.analysis import Analysis, Overlap
from quorumwatch.analysis.failover import FIGURES

RESULTS_VERSION = 1


def iso(wall_ns: int) -> str:
    """ISO-8601 UTC with microseconds."""
    secs, ns = divmod(wall_ns, 1_000_000_000)
    t = dt.datetime.fromtimestamp(secs, tz=dt.UTC).replace(microsecond=ns // 1000)
    return t.isoformat().replace("+00:00", "Z")


def overlap_json(o: Overlap, offset_ns: int = 0) -> dict[str, Any]:
    """One overlap as results.json and `logs --json` show it (offset: monotonic → wall clock)."""
    return {
        "nodes": list(o.nodes), "epochs": list(o.epochs), "start": iso(o.start + offset_ns),
        "end": iso(o.end + offset_ns), "duration_s": round(o.duration_ns / 1e9, 6), "certain": o.certain,
        "kind": o.kind,
    }  # fmt: skip


def results(a: Analysis, wall_offset_ns: int, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """Monotonic times become wall-clock ISO times via the run's measured offset."""

    def at(mono: int | None) -> str | None:
        return None if mono is None else iso(mono + wall_offset_ns)

    s = 1e-9
    return {
        "version": RESULTS_VERSION,
        "verdict": a.verdict,
        "meta": meta or {},
        "dual_leaders": [overlap_json(o, wall_offset_ns) for o in a.overlaps],
        "artifact_ticks": len(a.artifact_ticks),
        "artifact_tick_indexes": list(a.artifact_ticks),
        "multi_leader_ticks": a.multi_leader_ticks,
        "leaderless": [
            {
                "start": at(w.start), "end": at(w.end),
                "duration_s": round(w.duration_ns * s, 6), "certain": w.certain,
            }
            for w in a.leaderless
        ],
        "trials": [
            {
                "trial": t.window.trial, "fault": t.window.fault, "target": t.window.target,
                "nodes": list(t.window.nodes),
                "injected_at": at(t.window.injected_ns), "healed_at": at(t.window.healed_ns),
                "old_leader": t.old_leader, "new_leader": t.new_leader,
                **{name: _round(getattr(t, name)) for name in FIGURES},
                "old_leader_last_seen_s": _round(t.old_leader_last_seen_s),
            }
            for t in a.trials
        ],
        "summary": a.summary(),
        "advice": a.advice,
        "observed": {"start": at(a.span[0]), "end": at(a.span[1]), "max_rtt_s": round(a.max_rtt_ns * s, 6)},
    }  # fmt: skip


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 6)
