"""Linearizability of registers and key-value maps, key by key (pure): could some one order of the
operations, each taking effect at an instant inside its [call, return], have produced every answer?

Two checks over the same history, chosen per key:
- **unique values** (every value written at most once, no compare-and-set: our own register
  workload): the write each read saw is known, and Gibbons & Korach's zone test decides in
  O(n log n) — each value's writes and reads form a cluster whose "zone" must not overlap another's;
- **search** otherwise (CAS, repeated values, histories from elsewhere): Lowe's just-in-time
  linearization (an operation placed only when a return forces it) with a memo of (event, value,
  pending operations), tested against Wing & Gong's search with Lowe's memo (Porcupine's and
  Knossos's algorithm), under a deadline shared by all keys (smallest first, so one hard key cannot
  starve the others) and a memo bound; running out gives `unknown` for that key, never
  `linearizable`.

Unknown outcomes (a timeout) may take effect at any later time, or never: their return is at the end
of the history. A failed CAS says the value was not the expected one at some instant of its window.
A failed or unknown read says nothing and is left out.
"""

from __future__ import annotations

import bisect
import enum
import time
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, replace
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
    failed_cas_matters: bool = False
    """Violated only because a failed cas is taken to mean the value differed: with failed cas left
    out (Knossos's reading: a failed operation cannot influence the state) the key is linearizable."""


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


FailedCas = Literal["compared", "ignored"]


def check(
    ops: Iterable[RegOp],
    *,
    deadline_s: float = 60.0,
    max_states: int = 2_000_000,
    clock: Callable[[], float] = time.monotonic,
    failed_cas: FailedCas = "compared",
    recheck: bool = False,
) -> Linearizability:
    """Every key of a history, smallest first, under one deadline (seconds from now).

    `failed_cas`: `compared` — a failed cas found another value (Porcupine's reading, and what
    Jepsen's etcd client records); `ignored` — it did nothing and says nothing (Knossos's). With
    `recheck`, a key violated under `compared` that holds failed cas is checked again without them,
    and marked when only they make it violated."""
    start = clock()
    until = start + deadline_s
    by_key: dict[str, list[RegOp]] = {}
    for op in ops:
        if failed_cas == "ignored" and op.kind == "cas" and op.status is Status.FAIL:
            continue
        by_key.setdefault(op.key, []).append(op)
    results = []
    for key in sorted(by_key, key=lambda k: (len(by_key[k]), k)):
        got = check_key(key, by_key[key], until=until, max_states=max_states, clock=clock)
        if recheck and got.verdict is KeyVerdict.VIOLATED:
            rest = [op for op in by_key[key] if not (op.kind == "cas" and op.status is Status.FAIL)]
            if len(rest) < len(by_key[key]):
                again = check_key(key, rest, until=until, max_states=max_states, clock=clock)
                if again.verdict is KeyVerdict.LINEARIZABLE:
                    got = replace(got, failed_cas_matters=True)
        results.append(got)
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
    split = _split_cas(kept)
    if split is not None:
        # every value written once, by writes and compare-and-sets alike: each acknowledged cas
        # read its expected value and wrote its new one at one instant. Apart (a read and a write
        # in the same window) the history is easier to linearize, so a violation found apart is a
        # violation of the whole; only a linearizable verdict needs the search.
        apart = _zones(key, split)
        if apart.verdict is KeyVerdict.VIOLATED and apart.violation is not None:
            v = apart.violation
            if v.op.process == _CAS_READ:  # name the cas itself, not its read half
                original = next(op for op in kept if op.index == v.op.index and op.kind == "cas")
                v = replace(v, op=original, reason=f"the compare of cas op {original.index}: {v.reason}")
            reads = tuple((r, w) for r, w in apart.stale_reads if r.process != _CAS_READ)
            return KeyResult(key, KeyVerdict.VIOLATED, len(kept), "unique-values", v, stale_reads=reads)
    return _jit(key, kept, until, max_states, clock)


_CAS_READ = "\x00cas-read"
"""Marks the read half of a split compare-and-set (its process), so it is not listed as a read."""


def _split_cas(ops: Sequence[RegOp]) -> list[RegOp] | None:
    """The history with each cas as a write of its new value (and, when acknowledged, a read of the
    expected one in the same window); None unless every value is written at most once. A failed cas
    (the value was not the expected one) is left out: a weaker history, still sound for violations."""
    written = [op.value for op in ops if op.kind in ("write", "cas") and op.status is not Status.FAIL]
    if (
        None in written
        or len(set(written)) != len(written)
        or not all(isinstance(v, Hashable) for v in written)
    ):
        return None
    out: list[RegOp] = []
    for op in ops:
        if op.kind != "cas":
            out.append(op)
        elif op.status is not Status.FAIL:
            out.append(
                RegOp(
                    op.index,
                    op.key,
                    "write",
                    op.status,
                    op.call,
                    op.ret,
                    op.value,
                    None,
                    op.process,
                    op.node,
                    op.where,
                )
            )
            if op.status is Status.OK:
                out.append(
                    RegOp(
                        op.index,
                        op.key,
                        "read",
                        op.status,
                        op.call,
                        op.ret,
                        op.expect,
                        None,
                        _CAS_READ,
                        op.node,
                        op.where,
                    )
                )
    return out


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


def _zones(key: str, ops: list[RegOp]) -> KeyResult:
    """Per value, the cluster of its write and its reads: f = the earliest return, s = the latest
    call. Where f < s the value must be the register's throughout [f, s] (a forward zone); else all
    the cluster's operations overlap in [s, f] (a backward zone). Linearizable iff no two forward
    zones overlap and no backward zone lies inside a forward one (Gibbons & Korach)."""
    writes: dict[Hashable | None, RegOp] = {op.value: op for op in ops if op.kind == "write"}
    first_ret: dict[Hashable | None, int] = {}
    last_call: dict[Hashable | None, int] = {}
    for op in ops:
        if op.kind != "read":
            continue
        v, ret = op.value, op.ret if op.ret is not None else INF
        w = writes.get(v)
        if v is not None and w is None:
            why = f"read {v!r}, a value no write wrote"
            return KeyResult(key, KeyVerdict.VIOLATED, len(ops), "unique-values", Violation(op, why))
        if w is not None and ret < w.call:
            why = f"read {v!r} before the write of it began (at op {w.index})"
            return KeyResult(key, KeyVerdict.VIOLATED, len(ops), "unique-values", Violation(op, why))
        if ret < first_ret.get(v, INF):
            first_ret[v] = ret
        if op.call > last_call.get(v, -INF):
            last_call[v] = op.call
    for v, w in writes.items():
        # an unknown write nobody read may never have happened
        if v not in last_call and w.status is not Status.OK:
            continue
        ret = w.ret if w.ret is not None else INF
        first_ret[v] = min(first_ret.get(v, INF), ret)
        last_call[v] = max(last_call.get(v, -INF), w.call)
    if None in last_call:
        first_ret[None] = -INF  # the initial value: written before everything
    forward: list[tuple[int, int, Hashable | None]] = []
    backward: list[tuple[int, int, Hashable | None]] = []
    for v, f in first_ret.items():
        s_ = last_call[v]
        (forward if f < s_ else backward).append((f, s_, v) if f < s_ else (s_, f, v))
    forward.sort(key=lambda z: z[0])
    conflict: tuple[Hashable | None, Hashable | None] | None = None
    reach: tuple[int, Hashable | None] | None = None  # the furthest-reaching forward zone so far
    for lo, hi, v in forward:
        if reach is not None and lo < reach[0]:
            conflict = (reach[1], v)
            break
        if reach is None or hi > reach[0]:
            reach = (hi, v)
    if conflict is None:
        lows = [z[0] for z in forward]
        for lo, hi, v in backward:
            i = bisect.bisect_left(lows, lo) - 1
            if i >= 0 and forward[i][1] > hi:
                conflict = (forward[i][2], v)
                break
    stale = _stale_reads(ops, writes) if conflict is not None else []
    if conflict is None:
        return KeyResult(key, KeyVerdict.LINEARIZABLE, len(ops), "unique-values")
    if stale:
        read, write = min(stale, key=lambda rw: (rw[0].call, rw[0].index))
        reason = (
            f"read {read.value!r} after write {write.value!r} (op {write.index}) had been acknowledged, "
            f"and the write of {read.value!r} had completed before it began"
        )
        culprit, by = read, tuple(w for r, w in stale if r is read)
    else:
        a, b = conflict
        cluster = [op for op in ops if op.value in (a, b) and op.kind in ("read", "write")]
        culprit = max(cluster, key=lambda op: (op.call, op.index))
        reason = f"no order of the writes of {a!r} and {b!r} explains the reads of both"
        by = ()
    before = sorted((op for op in ops if _ret(op) < culprit.call), key=lambda op: (_ret(op), op.index))
    v = Violation(culprit, reason, tuple(op.index for op in before), _possible_at(culprit, ops), by)
    return KeyResult(key, KeyVerdict.VIOLATED, len(ops), "unique-values", v, stale_reads=tuple(stale))


def _stale_reads(
    ops: list[RegOp], writes_by_value: dict[Hashable | None, RegOp]
) -> list[tuple[RegOp, RegOp]]:
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
    """Values a read could have returned: written before it ended and not certainly replaced, i.e.
    not completed before an acknowledged write began that completed before the read began (one
    pass: only the latest start among the writes completed before the read matters)."""
    writes = [op for op in ops if op.kind == "write"]
    done = [w.call for w in writes if w.status is Status.OK and _ret(w) < read.call]
    latest = max(done, default=-INF)
    out: list[Hashable | None] = [] if done else [None]
    out += [w.value for w in writes if w.call < _ret(read) and _ret(w) >= latest]
    return tuple(out)


# --- search: Wing & Gong with Lowe's memo (Porcupine, Knossos) ------------------------------------


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

    # a read (or a failed cas) that fits the state now is placed now, for good: it changes nothing,
    # so any order placing it later could place it here instead (it has been called, and what
    # returned before its call is placed already). Backing up goes past it without trying it later.
    keeps = [op.kind == "read" or (op.kind == "cas" and op.status is Status.FAIL) for op in ops]
    # the model, inlined for speed: 0 read, 1 write, 2 cas (ok or unknown), 3 failed cas
    code = [
        0 if op.kind == "read" else 1 if op.kind == "write" else 3 if op.status is Status.FAIL else 2
        for op in ops
    ]
    # values as small integers: the memo's key is then one integer (state << n | placed set)
    ids: dict[Hashable | None, int] = {None: 0}
    val = [ids.setdefault(op.value, len(ids)) for op in ops]
    exp = [ids.setdefault(op.expect, len(ids)) for op in ops]
    names = list(ids)
    ent_op = [e[2] for e in entries]
    ent_ret = [e[1] == 1 for e in entries]
    state = 0
    linearized = 0
    stack: list[tuple[int, int]] = []
    seen: set[int] = set()
    best_depth, best_block = -1, -1
    best_states: list[int] = []
    best_order: tuple[int, ...] = ()
    entry = first
    steps = 0
    while entry != -1:
        steps += 1
        if steps & 0x3FF == 0 and clock() > until:
            why = "the deadline ran out before the search ended"
            return KeyResult(key, KeyVerdict.UNKNOWN, n, "search", reason=why)
        i = ent_op[entry]
        if not ent_ret[entry]:
            k = code[i]
            if k == 1:
                ok, new = True, val[i]
            elif k == 0:
                ok, new = state == val[i], state
            elif k == 2:
                ok, new = state == exp[i], val[i]
            else:
                ok, new = state != exp[i], state
            if ok:
                bits = linearized | (1 << i)
                memo = new << n | bits
                if memo not in seen:
                    if len(seen) >= max_states:
                        why = f"more than {max_states:,} states explored"
                        return KeyResult(key, KeyVerdict.UNKNOWN, n, "search", reason=why)
                    seen.add(memo)
                    stack.append((entry, state))
                    state, linearized = new, bits
                    unlink(entry)
                    unlink(ret_at[i])
                    entry = first
                    continue
            entry = nxt[entry]
            continue
        if ops[i].ret is None:
            break  # every answered operation is placed; the unknown ones may never have happened
        # this operation returned before any order placed it: back up
        if len(stack) > best_depth:
            best_depth, best_block, best_states = len(stack), i, [state]
            best_order = tuple(ent_op[e] for e, _ in stack)
        elif len(stack) == best_depth and state not in best_states:
            best_states.append(state)
        while True:
            if not stack:
                blocked = ops[best_block]
                v = Violation(
                    blocked,
                    f"{blocked.describe()} (op {blocked.index}) fits no order of the operations before it",
                    tuple(ops[j].index for j in best_order),
                    tuple(names[x] for x in best_states),
                )
                return KeyResult(key, KeyVerdict.VIOLATED, n, "search", v)
            entry, state = stack.pop()
            i = ent_op[entry]
            linearized &= ~(1 << i)
            relink(ret_at[i])
            relink(entry)
            if not keeps[i]:
                break
        entry = nxt[entry]
    return KeyResult(key, KeyVerdict.LINEARIZABLE, n, "search")


def _jit(key: str, ops: list[RegOp], until: float, max_states: int, clock: Callable[[], float]) -> KeyResult:
    """Lowe's just-in-time linearization: an operation is placed only when its return forces it, or
    just before a forced one that needs it. Walking the calls and returns in time order, a
    configuration is (next event, value, operations called and not placed); at a return whose
    operation is not placed, some pending operations are placed one by one, that one last. An
    operation of unknown outcome never returns: it is placed only where it helps another, else it
    never happened. The memo holds the configurations tried; a read or failed cas that fits the
    value is placed at once (it changes nothing, so placing it later is never better)."""
    n = len(ops)
    events = sorted(
        [(op.call, 0, i) for i, op in enumerate(ops)]
        + [(op.ret, 1, i) for i, op in enumerate(ops) if op.ret is not None]
    )
    size = len(events)
    ids: dict[Hashable | None, int] = {None: 0}
    val = [ids.setdefault(op.value, len(ids)) for op in ops]
    exp = [ids.setdefault(op.expect, len(ids)) for op in ops]
    names = list(ids)
    code = [
        0 if op.kind == "read" else 1 if op.kind == "write" else 3 if op.status is Status.FAIL else 2
        for op in ops
    ]
    keeps = [c in (0, 3) for c in code]

    def step(state: int, k: int) -> int:
        """The value after placing op k, or -1 where it cannot be placed."""
        c = code[k]
        if c == 1:
            return val[k]
        if c == 0:
            return state if state == val[k] else -1
        if c == 2:
            return val[k] if state == exp[k] else -1
        return state if state != exp[k] else -1

    width = len(ids)
    seen: set[int] = set()
    # frames: (event index, value, pending, the op that must be placed, choices left, placed so far)
    frames: list[tuple[int, int, int, int, list[int]]] = []
    path: list[int] = []
    best_i, best_block = -1, -1
    best_states: list[int] = [0]
    best_path: tuple[int, ...] = ()
    i, state, pending = 0, 0, 0
    loops = 0
    while True:
        # walk on through calls and the returns of operations already placed
        while i < size:
            _, is_ret, j = events[i]
            if not is_ret:
                pending |= 1 << j
            elif pending >> j & 1:
                break
            i += 1
        if i == size:
            return KeyResult(key, KeyVerdict.LINEARIZABLE, n, "search")
        loops += 1
        if loops & 0x3FF == 0 and clock() > until:
            why = "the deadline ran out before the search ended"
            return KeyResult(key, KeyVerdict.UNKNOWN, n, "search", reason=why)
        j = events[i][2]
        memo = (pending * size + i) * width + state
        choices: list[int] = []
        if memo not in seen:
            if len(seen) >= max_states:
                why = f"more than {max_states:,} states explored"
                return KeyResult(key, KeyVerdict.UNKNOWN, n, "search", reason=why)
            seen.add(memo)
            bits = pending
            while bits:
                low = bits & -bits
                k = low.bit_length() - 1
                bits ^= low
                if step(state, k) >= 0:
                    if keeps[k]:
                        choices = [k]  # placing it now is as good as any later
                        break
                    choices.append(k)
            if i > best_i:
                best_i, best_block, best_states, best_path = i, j, [state], tuple(path)
            elif i == best_i and state not in best_states:
                best_states.append(state)
        frames.append((i, state, pending, j, choices))
        path.append(-1)
        # take the next choice, backing up where none is left
        while True:
            fi, fstate, fpending, fj, left = frames[-1]
            path.pop()
            if left:
                k = left.pop()
                path.append(k)
                state, pending = step(fstate, k), fpending & ~(1 << k)
                i = fi + 1 if k == fj else fi
                break
            frames.pop()
            if not frames:
                blocked = ops[best_block]
                v = Violation(
                    blocked,
                    f"{blocked.describe()} (op {blocked.index}) fits no order of the operations before it",
                    tuple(ops[x].index for x in best_path if x >= 0),
                    tuple(names[s_] for s_ in best_states),
                )
                return KeyResult(key, KeyVerdict.VIOLATED, n, "search", v)


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
