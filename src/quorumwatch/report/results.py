"""`results.json`: the analysis as data for CI (contract in docs/results.md, versioned)."""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from quorumwatch._serial import iso, rounded
from quorumwatch.analysis import Analysis, Overlap
from quorumwatch.analysis import linearizability as lin
from quorumwatch.analysis.failover import FIGURES
from quorumwatch.analysis.harm import Counts, HarmReport, LostWrite, register_op
from quorumwatch.model import Operation
from quorumwatch.report.schema import Results

RESULTS_VERSION = 3
LISTED = 20
"""Lost writes, duplicates and stale acknowledgements listed in full, at most (all are counted)."""
LISTED_POSSIBLE = 10_000
"""Possible overlaps listed in `dual_leaders`, at most: the longest (all are counted and summed in
`possible_overlaps`). A month of watching with a few timeouts an hour leaves hundreds of thousands,
each a timeout beside the leader; listing them all made results.json 125 MB and its analysis 1.2 GB
(docs/benchmarks.md). Certain overlaps are always all listed."""


def overlap_json(o: Overlap, offset_ns: int = 0) -> dict[str, Any]:
    """One overlap as results.json and `logs --json` show it (offset: monotonic → wall clock)."""
    return {
        "nodes": list(o.nodes), "epochs": list(o.epochs), "start": iso(o.start + offset_ns),
        "end": iso(o.end + offset_ns), "duration_s": round(o.duration_ns / 1e9, 6), "certain": o.certain,
        "kind": o.kind, "group": getattr(o, "group", None),
    }  # fmt: skip


def results(
    a: Analysis,
    wall_offset_ns: int,
    meta: dict[str, Any] | None = None,
    logs: dict[str, Any] | None = None,
    retention: dict[str, Any] | None = None,
) -> Results:
    """The typed results.json of an analysis (validated against the contract as it is built).
    Monotonic times become wall-clock ISO times via the run's measured offset. `retention`: what
    a `watch --retain` deleted (its multi-leader ticks are counted in with the kept ones)."""
    data = _results(a, wall_offset_ns, meta)
    if a.sentinels:
        data["sentinels"] = sentinels_json(a, wall_offset_ns)
    if logs is not None:
        data["logs"] = logs
    if retention is not None:
        data["retention"] = retention
        data["multi_leader_ticks"] += retention["dropped"]["multi_leader_ticks"]
    return Results.model_validate(data)


def sentinels_json(a: Analysis, wall_offset_ns: int) -> dict[str, Any]:
    by_state: dict[str, float] = {}
    for w in a.sentinels:
        by_state[w.state] = by_state.get(w.state, 0.0) + w.duration_ns / 1e9
    apart = [w for w in a.sentinels if w.state != "agree"]
    return {
        "by_state_s": {k: round(v, 6) for k, v in by_state.items()},
        "windows": [
            {
                "state": w.state, "start": iso(w.start + wall_offset_ns), "end": iso(w.end + wall_offset_ns),
                "duration_s": round(w.duration_ns / 1e9, 6), "named": w.named, "masters": list(w.masters),
            }
            for w in apart[:LISTED]
        ],
        "count": len(apart),
    }  # fmt: skip


def _results(a: Analysis, wall_offset_ns: int, meta: dict[str, Any] | None = None) -> dict[str, Any]:

    def at(mono: int | None) -> str | None:
        return None if mono is None else iso(mono + wall_offset_ns)

    s = 1e-9
    return {
        "version": RESULTS_VERSION,
        "verdict": a.verdict,
        "meta": meta or {},
        "dual_leaders": [overlap_json(o, wall_offset_ns) for o in _listed(a.overlaps)],
        "possible_overlaps": _possible_summary(a.overlaps),
        "artifact_ticks": len(a.artifact_ticks),
        "artifact_tick_indexes": list(a.artifact_ticks),
        "multi_leader_ticks": a.multi_leader_ticks,
        "leaderless": [
            {
                "start": at(w.start), "end": at(w.end),
                "duration_s": round(w.duration_ns * s, 6), "certain": w.certain, "group": w.group,
            }
            for w in a.leaderless
        ],
        "trials": [
            {
                "trial": t.window.trial, "fault": t.window.fault, "target": t.window.target,
                "nodes": list(t.window.nodes),
                "injected_at": at(t.window.injected_ns), "healed_at": at(t.window.healed_ns),
                "old_leader": t.old_leader, "new_leader": t.new_leader,
                **{name: rounded(getattr(t, name)) for name in FIGURES},
                "old_leader_last_seen_s": rounded(t.old_leader_last_seen_s),
                "max_lateness_s": t.max_lateness_s, "skipped_ticks": t.skipped_ticks, "group": t.group,
            }
            for t in a.trials
        ],
        "summary": a.summary(),
        "advice": a.advice,
        "groups": list(a.groups),
        "harm_group": a.harm_group,
        "observed": {"start": at(a.span[0]), "end": at(a.span[1]), "max_rtt_s": round(a.max_rtt_ns * s, 6)},
        "harm": a.harm.harm,
        "harm_reason": a.harm.reason,
        "workload": workload_json(a.harm, [t.window.injected_ns for t in a.trials], wall_offset_ns),
    }  # fmt: skip


def _listed(overlaps: Sequence[Overlap]) -> list[Overlap]:
    """Every certain overlap and the longest `LISTED_POSSIBLE` possible ones, in time order."""
    possible = [o for o in overlaps if not o.certain]
    if len(possible) <= LISTED_POSSIBLE:
        return list(overlaps)
    kept = {id(o) for o in heapq.nlargest(LISTED_POSSIBLE, possible, key=lambda o: o.duration_ns)}
    return [o for o in overlaps if o.certain or id(o) in kept]


def _possible_summary(overlaps: Sequence[Overlap]) -> dict[str, Any]:
    durations = [o.duration_ns for o in overlaps if not o.certain]
    return {
        "count": len(durations),
        "listed": min(len(durations), LISTED_POSSIBLE),
        "total_s": round(sum(durations) / 1e9, 6),
        "longest_s": round(max(durations) / 1e9, 6) if durations else None,
    }


def _counts(c: Counts) -> dict[str, int]:
    return {"sent": c.sent, "ok": c.ok, "fail": c.fail, "unknown": c.unknown}


def lost_by_node(
    h: HarmReport, since_fault: Callable[[int], float | None], wall_offset_ns: int
) -> dict[str, Any]:
    """Per node that acknowledged lost writes: how many of its acknowledged, as what, when, and
    (for a node acting alone) which node led next."""
    acked = {n: c.ok for n, c in h.per_node}
    groups: dict[str, list[LostWrite]] = defaultdict(list)
    for lw in h.lost_attributed:
        groups[lw.op.node].append(lw)
    out = {}
    for node, lws in sorted(groups.items()):
        since = [t for t in (since_fault(lw.op.recv_ns) for lw in lws) if t is not None]
        nxt = min((lw for lw in lws if lw.successor_start is not None), key=_successor_start, default=None)
        start = None if nxt is None else nxt.successor_start
        out[node] = {
            "count": len(lws),
            "acknowledged": acked.get(node, len(lws)),
            "served_as": dict(Counter(lw.served_as for lw in lws).most_common()),
            "epochs": sorted({lw.epoch for lw in lws if lw.epoch is not None}),
            "since_fault_s": {"min": min(since), "max": max(since)} if since else None,
            "successor": None if nxt is None else nxt.successor,
            "successor_at": None if start is None else iso(start + wall_offset_ns),
            "successor_since_fault_s": None if start is None else since_fault(start),
        }
    return out


def _successor_start(lw: LostWrite) -> int:
    return lw.successor_start or 0


def workload_json(h: HarmReport, injections: list[int], wall_offset_ns: int) -> dict[str, Any] | None:
    """The `workload` section: counts, lost writes, duplicates, stale acknowledgements, windows."""
    if h.kind is None:
        return None
    injections = sorted(injections)

    def since_fault(t: int) -> float | None:
        before = [i for i in injections if i <= t]
        return round((t - before[-1]) / 1e9, 6) if before else None

    def op(o: Operation) -> dict[str, Any]:
        return {
            "value": o.value, "node": o.node, "epoch": o.epoch, "sent_at": iso(o.send_ns + wall_offset_ns),
            "acknowledged_at": iso(o.recv_ns + wall_offset_ns), "since_fault_s": since_fault(o.recv_ns),
        }  # fmt: skip

    lost_since = [t for t in (since_fault(o.recv_ns) for o in h.lost) if t is not None]
    read = h.final_read
    return {
        "kind": h.kind,
        "total": _counts(h.total),
        "per_node": {n: _counts(c) for n, c in h.per_node},
        "checked": h.checked,
        "final_read": None if read is None else {
            "node": read.node, "at": iso(read.send_ns + wall_offset_ns), "ok": read.values is not None,
            "elements": None if read.values is None else len(read.values), "detail": read.detail,
        },
        "lost": {
            "count": len(h.lost),
            "first": [op(o) for o in h.lost[:LISTED]],
            "since_fault_s": {"min": min(lost_since), "max": max(lost_since)} if lost_since else None,
            "by_node": lost_by_node(h, since_fault, wall_offset_ns),
        },
        "failed_but_present": len(h.failed_but_present),
        "duplicates": {
            "count": len(h.duplicates),
            "first": [
                {"value": d.value, "operations": [op(o) for o in d.ops]} for d in h.duplicates[:LISTED]
            ],
        },
        "stale_acknowledgements": {
            "count": len(h.stale),
            "first": [
                {**op(st.op), "newer_leader": st.newer_node, "newer_epoch": st.newer_epoch}
                for st in h.stale[:LISTED]
            ],
        },
        "dual_leader_windows": [
            {
                "start": iso(w.overlap.start + wall_offset_ns), "end": iso(w.overlap.end + wall_offset_ns),
                "kind": w.overlap.kind,
                "nodes": [
                    {"node": sd.node, "epoch": sd.epoch, "stale": sd.stale, **_counts(sd.counts)}
                    for sd in w.sides
                ],
            }
            for w in h.windows
        ],
        "linearizability": None if h.linearizability is None else _linearizability(h, op, wall_offset_ns),
    }  # fmt: skip


def _linearizability(h: HarmReport, op: Any, offset: int) -> dict[str, Any]:
    """The register check: key verdicts, the first violations and undecided keys, stale reads by node."""
    assert h.linearizability is not None
    result = h.linearizability

    def reg(o: lin.RegOp) -> dict[str, Any]:
        return {
            "index": o.index, "kind": o.kind, "key": o.key, "value": _text(o.value),
            "expect": _text(o.expect), "node": o.node, "outcome": o.status.value,
            "sent_at": iso(o.call + offset), "returned_at": None if o.ret is None else iso(o.ret + offset),
        }  # fmt: skip

    def written(o: Operation | None) -> dict[str, Any] | None:
        r = None if o is None else register_op(o)
        return None if r is None else reg(r)

    counts = {v.value: 0 for v in lin.KeyVerdict}
    for k in result.keys:
        counts[k.verdict.value] += 1
    violated = [k for k in result.keys if k.violation is not None]
    undecided = [k for k in result.keys if k.verdict is lin.KeyVerdict.UNKNOWN]
    by_node: dict[str, dict[str, Any]] = {}
    reads = dict(h.reads_by_node)
    for s in h.stale_reads:
        d = by_node.setdefault(
            s.read.node, {"count": 0, "served_as": Counter[str](), "epochs": set(), "ages": []}
        )
        d["count"] += 1
        d["served_as"][s.served_as] += 1
        if s.epoch is not None:
            d["epochs"].add(s.epoch)
        if s.overwritten_s is not None:
            d["ages"].append(s.overwritten_s)
    return {
        "verdict": result.verdict.value,
        "elapsed_s": round(result.elapsed_s, 6),
        "reads": h.reads,
        "keys": {"checked": len(result.keys), **counts},
        "violations": [
            {
                "key": k.key, "operations": k.ops, "method": k.method, "operation": reg(k.violation.op),
                "reason": k.violation.reason, "prefix_operations": len(k.violation.prefix),
                "possible_values": [_text(v) for v in k.violation.possible],
                "stale_by": [reg(w) for w in k.violation.stale_by[:LISTED]],
            }
            for k in violated[:LISTED]
            if k.violation is not None
        ],
        "undecided": [{"key": k.key, "operations": k.ops, "reason": k.reason} for k in undecided[:LISTED]],
        "stale_reads": {
            "count": len(h.stale_reads),
            "by_node": {
                n: {
                    "count": d["count"], "reads": reads.get(n, 0),
                    "served_as": dict(d["served_as"].most_common()), "epochs": sorted(d["epochs"]),
                    "overwritten_s": {"min": round(min(d["ages"]), 6), "max": round(max(d["ages"]), 6)}
                    if d["ages"] else None,
                }
                for n, d in sorted(by_node.items())
            },
            "first": [
                {
                    **{k: v for k, v in op(s.read).items() if k != "acknowledged_at"}, "key": s.read.key,
                    "returned_at": iso(s.read.recv_ns + offset), "served_as": s.served_as,
                    "certain": s.certain, "newer_leader": s.newer_node, "newer_epoch": s.newer_epoch,
                    "older_leader": s.older_node, "older_epoch": s.older_epoch,
                    "overwritten_by": written(s.overwritten_by),
                    "overwritten_s": None if s.overwritten_s is None else round(s.overwritten_s, 6),
                }
                for s in h.stale_reads[:LISTED]
            ],
        },
    }  # fmt: skip


def _text(v: object) -> str | None:
    return None if v is None else str(v)
