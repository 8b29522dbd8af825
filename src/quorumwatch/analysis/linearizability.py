"""Linearizability of registers and key-value maps, key by key (pure): could some one order of the
operations, each taking effect at an instant inside its [call, return], have produced every answer?

Two checks over the same history, chosen per key:
- **unique values** (every value written at most once, no compare-and-set: our own register
  workload): the write each read saw is known, and Gibbons & Korach's zone test decides in
  O(n log n) — each value's writes and reads form a cluster whose "zone" must not overlap another's;
- **search** otherwise (CAS, repeated values, histories from elsewhere): Wing & Gong's search with
  Lowe's memo of (linearized set, state), the algorithm of Porcupine and Knossos, under a deadline
  shared by all keys (smallest first, so one hard key cannot starve the others) and a memo bound;
  running out gives `unknown` for that key, never `linearizable`.

Unknown outcomes (a timeout) may take effect at any later time, or never: their return is at the end
of the history. A failed CAS says the value was not the expected one at some instant of its window.
A failed or unknown read says nothing and is left out.
"""

from __future__ import annotations

import bisect
import enum
import time
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

INF = 1 << 62
"""The return time of an operation whose outcome is unknown: after everything."""

Kind = Literal["read", "write", "cas"]


class Status(enum.StrEnum):
    OK = "ok"
    FAIL = "fail"
    UNKNOWN = "unknown"


class KeyVerdict(enum.StrEnum):
    LINEARIZABLE = "linearizable"
    VIOLATED = "violated"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class RegOp:
    """One operation on one key. `value`: written (write), read (read; None: never written), new
    value (cas); `expect`: the value a cas expected."""

    index: int
    """Its place in the history as read (names it in explanations)."""
    key: str
    kind: Kind
    status: Status
    call: int
    ret: int | None
    """None: never answered (unknown)."""
    value: Hashable | None = None
    expect: Hashable | None = None
    process: str | None = None
    node: str | None = None
    where: str | None = None
    """Where it was read from (`FILE:LINE` of its invocation), for histories from elsewhere."""

    def describe(self) -> str:
        what = {
            "read": f"read {self.value!r}",
            "write": f"write {self.value!r}",
            "cas": f"cas {self.expect!r}->{self.value!r}",
        }[self.kind]
        return f"{what} ({self.status})"


@dataclass(frozen=True)
class Violation:
    """Why a key is not linearizable: the first operation no order explains, what was possible."""

    op: RegOp
    reason: str
    prefix: tuple[int, ...] = ()
    """Indexes of the longest run of operations found linearizable, in the order found."""
    possible: tuple[Hashable | None, ...] = ()
    """Values the key could hold where the explanation stops."""
    stale_by: tuple[RegOp, ...] = ()
    """Acknowledged writes that had replaced the value read before the read began."""


@dataclass(frozen=True)
class KeyResult:
    key: str
    verdict: KeyVerdict
    ops: int
    method: Literal["unique-values", "search", "none"]
    violation: Violation | None = None
    reason: str | None = None
    """Why `unknown` (deadline, memo bound)."""
    stale_reads: tuple[tuple[RegOp, RegOp], ...] = ()
    """Every read (unique values) whose value an acknowledged write had replaced before it began,
    with that write."""


@dataclass(frozen=True)
class Linearizability:
    keys: tuple[KeyResult, ...]
    elapsed_s: float = 0.0

    @property
    def verdict(self) -> KeyVerdict:
        """Violated if any key is; unknown if any key is, or if no operation was examined."""
        verdicts = {k.verdict for k in self.keys if k.ops}
        if KeyVerdict.VIOLATED in verdicts:
            return KeyVerdict.VIOLATED
        if KeyVerdict.UNKNOWN in verdicts or not verdicts:
            return KeyVerdict.UNKNOWN
        return KeyVerdict.LINEARIZABLE


def check(
    ops: Iterable[RegOp],
    *,
    deadline_s: float = 60.0,
    max_states: int = 2_000_000,
    clock: Callable[[], float] = time.monotonic,
) -> Linearizability:
    """Every key of a history, smallest first, under one deadline (seconds from now)."""
    start = clock()
    until = start + deadline_s
    by_key: dict[str, list[RegOp]] = {}
    for op in ops:
        by_key.setdefault(op.key, []).append(op)
    results = []
    for key in sorted(by_key, key=lambda k: (len(by_key[k]), k)):
        results.append(check_key(key, by_key[key], until=until, max_states=max_states, clock=clock))
    results.sort(key=lambda r: r.key)
    return Linearizability(tuple(results), clock() - start)


def _relevant(ops: Sequence[RegOp]) -> list[RegOp]:
    """What constrains the order: failed and unknown reads say nothing, failed writes did not happen."""
    out = []
    for op in ops:
        if op.kind == "read" and op.status is not Status.OK:
            continue
        if op.kind == "write" and op.status is Status.FAIL:
            continue
        if op.ret is None and op.status is Status.OK:
            raise ValueError(f"operation {op.index} is ok but has no return time")
        out.append(op)
    return out


def check_key(
    key: str,
    ops: Sequence[RegOp],
    *,
    until: float,
    max_states: int = 2_000_000,
    clock: Callable[[], float] = time.monotonic,
) -> KeyResult:
    kept = _relevant(ops)
    if not kept:
        return KeyResult(key, KeyVerdict.UNKNOWN, 0, "none", reason="no operation that constrains the order")
    if _unique(kept):
        return _zones(key, kept)
    return _search(key, kept, until, max_states, clock)


def _unique(ops: Sequence[RegOp]) -> bool:
    writes = [op.value for op in ops if op.kind == "write"]
    return (
        all(op.kind != "cas" for op in ops)
        and None not in writes
        and len(set(writes)) == len(writes)
        and all(isinstance(v, Hashable) for v in writes)
    )


def _ret(op: RegOp) -> int:
    return INF if op.ret is None else op.ret


# --- unique values: Gibbons & Korach's zones -------------------------------------------------------


@dataclass
class _Cluster:
    value: Hashable | None
    write: RegOp | None
    reads: list[RegOp] = field(default_factory=list)

    def ops(self) -> list[RegOp]:
        return ([self.write] if self.write is not None else []) + self.reads

    def zone(self) -> tuple[int, int, bool]:
        """(low, high, forward): a forward zone [min return, max call] is a stretch in which the
        value must be the register's; a backward one is where all its operations overlap."""
        f = -INF if self.write is None else min(_ret(op) for op in self.ops())
        s = max(op.call for op in self.ops())
        return (f, s, True) if f < s else (s, f, False)


def _zones(key: str, ops: list[RegOp]) -> KeyResult:
    clusters: dict[Hashable | None, _Cluster] = {None: _Cluster(None, None)}
    for op in ops:
        if op.kind == "write":
            clusters[op.value] = _Cluster(op.value, op)
    writes_by_value = {op.value: op for op in ops if op.kind == "write"}
    for op in ops:
        if op.kind != "read":
            continue
        c = clusters.get(op.value)
        if c is None:
            v = Violation(op, f"read {op.value!r}, a value no write wrote", ())
            return KeyResult(key, KeyVerdict.VIOLATED, len(ops), "unique-values", v)
        w = c.write
        if w is not None and _ret(op) < w.call:
            v = Violation(op, f"read {op.value!r} before the write of it began (at op {w.index})")
            return KeyResult(key, KeyVerdict.VIOLATED, len(ops), "unique-values", v)
        c.reads.append(op)
    # an unknown write nobody read may never have happened; the initial value's cluster counts only
    # where something read it
    live = [c for c in clusters.values() if c.reads or (c.write is not None and c.write.status is Status.OK)]
    stale = _stale_reads(ops, writes_by_value)
    zones = [(c, *c.zone()) for c in live]
    forward = sorted(((lo, hi, c) for c, lo, hi, fwd in zones if fwd), key=lambda z: z[0])
    conflict: tuple[_Cluster, _Cluster] | None = None
    reach: tuple[int, _Cluster] | None = None  # the furthest-reaching forward zone so far
    for lo, hi, c in forward:
        if reach is not None and lo < reach[0]:
            conflict = (reach[1], c)
            break
        if reach is None or hi > reach[0]:
            reach = (hi, c)
    if conflict is None:
        lows = [z[0] for z in forward]
        for c, lo, hi, fwd in zones:
            if fwd:
                continue
            i = bisect.bisect_left(lows, lo) - 1
            if i >= 0 and forward[i][1] > hi:
                conflict = (forward[i][2], c)
                break
    if conflict is None and not stale:
        return KeyResult(key, KeyVerdict.LINEARIZABLE, len(ops), "unique-values")
    if stale:
        read, write = min(stale, key=lambda rw: (rw[0].call, rw[0].index))
        reason = (
            f"read {read.value!r} after write {write.value!r} (op {write.index}) had been acknowledged, "
            f"and the write of {read.value!r} had completed before it began"
        )
        culprit, by = read, tuple(w for r, w in stale if r is read)
    else:
        assert conflict is not None
        a, b = conflict
        culprit = max(a.ops() + b.ops(), key=lambda op: (op.call, op.index))
        reason = f"no order of the writes of {a.value!r} and {b.value!r} explains the reads of both"
        by = ()
    before = sorted((op for op in ops if _ret(op) < culprit.call), key=lambda op: (_ret(op), op.index))
    v = Violation(culprit, reason, tuple(op.index for op in before), _possible_at(culprit, ops), by)
    return KeyResult(key, KeyVerdict.VIOLATED, len(ops), "unique-values", v, stale_reads=tuple(stale))


def _stale_reads(ops: list[RegOp], writes_by_value: dict[Hashable, RegOp]) -> list[tuple[RegOp, RegOp]]:
    """Reads whose value an acknowledged write certainly replaced before the read began: the write of
    the value read completed before that write began, and that write completed before the read."""
    acked = sorted(
        (op for op in ops if op.kind == "write" and op.status is Status.OK), key=lambda op: op.call
    )
    calls = [op.call for op in acked]
    # suffix minimum of returns: the earliest-finishing acknowledged write that began after a time
    best: list[RegOp | None] = [None] * (len(acked) + 1)
    for i in range(len(acked) - 1, -1, -1):
        nxt = best[i + 1]
        best[i] = acked[i] if nxt is None or _ret(acked[i]) <= _ret(nxt) else nxt
    out = []
    for op in ops:
        if op.kind != "read":
            continue
        w = writes_by_value.get(op.value)
        after = -INF if w is None else _ret(w)  # the initial value is replaced by any write
        i = bisect.bisect_right(calls, after)
        cand = best[i] if i < len(best) else None
        if cand is not None and cand.value != op.value and _ret(cand) < op.call:
            out.append((op, cand))
    return out


def _possible_at(read: RegOp, ops: list[RegOp]) -> tuple[Hashable | None, ...]:
    """Values a read could have returned: written before it ended and not certainly replaced by an
    acknowledged write that completed before it began."""
    writes = [op for op in ops if op.kind == "write"]
    acked = [w for w in writes if w.status is Status.OK]
    out: list[Hashable | None] = []
    if not any(_ret(w) < read.call for w in acked):
        out.append(None)
    for w in writes:
        if w.call < _ret(read) and not any(
            x is not w and _ret(w) < x.call and _ret(x) < read.call for x in acked
        ):
            out.append(w.value)
    return tuple(out)


# --- search: Wing & Gong with Lowe's memo (Porcupine, Knossos) ------------------------------------


def _step(state: Hashable | None, op: RegOp) -> tuple[bool, Hashable | None]:
    if op.kind == "write":
        return True, op.value
    if op.kind == "read":
        return state == op.value, state
    if op.status is Status.FAIL:  # the value was not the expected one
        return state != op.expect, state
    return (True, op.value) if state == op.expect else (False, state)


def _search(
    key: str, ops: list[RegOp], until: float, max_states: int, clock: Callable[[], float]
) -> KeyResult:
    n = len(ops)
    # entries in time order, calls before returns at equal times (concurrent: the permissive
    # reading); an unknown outcome returns at the end. A doubly linked list, cut and restored in
    # reverse order as the search goes down and back up (Lowe).
    entries = sorted(
        [(op.call, 0, i) for i, op in enumerate(ops)] + [(_ret(op), 1, i) for i, op in enumerate(ops)]
    )
    size = len(entries)
    nxt = [p + 1 if p + 1 < size else -1 for p in range(size)]
    prv = [p - 1 for p in range(size)]
    ret_at = [0] * n
    for pos, (_, is_ret, i) in enumerate(entries):
        if is_ret:
            ret_at[i] = pos
    first = 0

    def unlink(p: int) -> None:
        nonlocal first
        a, b = prv[p], nxt[p]
        if a >= 0:
            nxt[a] = b
        else:
            first = b
        if b >= 0:
            prv[b] = a

    def relink(p: int) -> None:
        nonlocal first
        a, b = prv[p], nxt[p]
        if a >= 0:
            nxt[a] = p
        else:
            first = p
        if b >= 0:
            prv[b] = p

    state: Hashable | None = None
    linearized = 0
    stack: list[tuple[int, Hashable | None]] = []
    order: list[int] = []
    seen: set[tuple[int, Hashable | None]] = set()
    best_depth, best_block = -1, -1
    best_states: list[Hashable | None] = []
    best_order: tuple[int, ...] = ()
    entry = first
    steps = 0
    while entry != -1:
        steps += 1
        if steps & 0x3FF == 0 and clock() > until:
            why = "the deadline ran out before the search ended"
            return KeyResult(key, KeyVerdict.UNKNOWN, n, "search", reason=why)
        _, is_ret, i = entries[entry]
        if not is_ret:
            ok, new = _step(state, ops[i])
            bits = linearized | (1 << i)
            if ok and (bits, new) not in seen:
                if len(seen) >= max_states:
                    why = f"more than {max_states:,} states explored"
                    return KeyResult(key, KeyVerdict.UNKNOWN, n, "search", reason=why)
                seen.add((bits, new))
                stack.append((entry, state))
                order.append(i)
                state, linearized = new, bits
                unlink(entry)
                unlink(ret_at[i])
                entry = first
            else:
                entry = nxt[entry]
            continue
        if _ret(ops[i]) == INF:
            break  # every answered operation is placed; the unknown ones may never have happened
        # this operation returned before any order placed it: back up
        if len(stack) > best_depth:
            best_depth, best_block, best_states, best_order = len(stack), i, [state], tuple(order)
        elif len(stack) == best_depth and state not in best_states:
            best_states.append(state)
        if not stack:
            blocked = ops[best_block]
            v = Violation(
                blocked,
                f"{blocked.describe()} (op {blocked.index}) fits no order of the operations before it",
                tuple(ops[j].index for j in best_order),
                tuple(best_states),
            )
            return KeyResult(key, KeyVerdict.VIOLATED, n, "search", v)
        entry, state = stack.pop()
        i = entries[entry][2]
        order.pop()
        linearized &= ~(1 << i)
        relink(ret_at[i])
        relink(entry)
        entry = nxt[entry]
    return KeyResult(key, KeyVerdict.LINEARIZABLE, n, "search")


__all__ = [
    "INF",
    "KeyResult",
    "KeyVerdict",
    "Linearizability",
    "RegOp",
    "Status",
    "Violation",
    "check",
    "check_key",
]
