"""`quorumwatch linearizability` output: the checker's result as text lines and as JSON."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from quorumwatch.analysis.linearizability import KeyResult, KeyVerdict, Linearizability, RegOp


def _op_json(op: RegOp) -> dict[str, Any]:
    return {
        "index": op.index, "key": op.key, "f": op.kind, "status": str(op.status), "value": op.value,
        "expect": op.expect, "call": op.call, "return": op.ret, "process": op.process, "node": op.node,
        "where": op.where,
    }  # fmt: skip


def key_json(k: KeyResult) -> dict[str, Any]:
    out: dict[str, Any] = {"key": k.key, "verdict": str(k.verdict), "operations": k.ops, "method": k.method}
    if k.reason:
        out["reason"] = k.reason
    if k.violation is not None:
        v = k.violation
        out["violation"] = {
            "op": _op_json(v.op), "reason": v.reason,
            "linearizable_prefix": {"operations": len(v.prefix), "last": list(v.prefix[-20:])},
            "possible_values": list(v.possible), "stale_by": [_op_json(w) for w in v.stale_by],
        }  # fmt: skip
    if k.stale_reads:
        out["stale_reads"] = len(k.stale_reads)
    if k.failed_cas_matters:
        out["failed_cas_matters"] = True
    return out


def to_json(r: Linearizability) -> dict[str, Any]:
    counts = {v: sum(k.verdict is v for k in r.keys) for v in KeyVerdict}
    return {
        "version": 1,
        "verdict": str(r.verdict),
        "keys": {str(v): n for v, n in counts.items()},
        "operations": sum(k.ops for k in r.keys),
        "elapsed_s": round(r.elapsed_s, 6),
        "results": [key_json(k) for k in r.keys],
    }


def render(r: Linearizability, echo: Callable[[str], None]) -> None:
    counts = {v: sum(k.verdict is v for k in r.keys) for v in KeyVerdict}
    said = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
    total = sum(k.ops for k in r.keys)
    echo(f"verdict: {r.verdict} ({total:,} operations, {len(r.keys)} key(s): {said or 'none'})")
    if not any(k.ops for k in r.keys):
        echo("no operation constrains an order (every read failed or timed out): nothing was examined")
    for k in r.keys:
        if k.verdict is KeyVerdict.VIOLATED and k.violation is not None:
            v = k.violation
            echo(f"  key {k.key or '(the register)'}: not linearizable ({k.method}, {k.ops:,} operations)")
            at = v.op.where or f"op {v.op.index}"
            by = f" by process {v.op.process}" if v.op.process else f" via {v.op.node}" if v.op.node else ""
            echo(f"    first operation no order explains: {at}, {v.op.describe()}{by}")
            echo(f"    why: {v.reason}")
            if v.possible:
                echo(f"    values possible there: {', '.join(repr(x) for x in v.possible)}")
            echo(f"    linearizable before it: {len(v.prefix):,} operation(s)")
            if k.failed_cas_matters:
                echo(
                    '    note: only because a failed cas is read as "the value differed"; with failed cas '
                    "ignored (Knossos's reading, --failed-cas ignored) this key is linearizable"
                )
        elif k.verdict is KeyVerdict.UNKNOWN:
            echo(f"  key {k.key or '(the register)'}: unknown ({k.reason})")


__all__ = ["key_json", "render", "to_json"]
