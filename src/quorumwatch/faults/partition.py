"""Which packets a partition drops, as directed (from, to) node pairs (pure).

Modes follow Jepsen's nemeses: isolate the targets; halves (the targets on the minority side);
majority-ring (every node sees a majority, no two see the same one); bridge (two halves joined by
one node that sees both); explicit groups.
"""

from __future__ import annotations

from collections.abc import Sequence

from quorumwatch.faults.base import FaultError

Pair = tuple[str, str]


def groups_for(
    mode: str, nodes: Sequence[str], targets: Sequence[str], groups: Sequence[Sequence[str]] | None
) -> list[list[str]]:
    n = len(nodes)
    if mode == "isolate":
        first = [x for x in nodes if x in targets]
        return [first, [x for x in nodes if x not in targets]]
    if mode == "halves":
        size = n // 2
        minority = [x for x in nodes if x in targets][:size]
        minority += [x for x in nodes if x not in minority][: size - len(minority)]
        return [minority, [x for x in nodes if x not in minority]]
    if mode == "groups":
        if not groups:
            raise FaultError("partition mode 'groups' needs groups: [[n1], [n2, n3]]")
        flat = [x for g in groups for x in g]
        unknown = [x for x in flat if x not in nodes]
        if unknown:
            raise FaultError(f"partition groups name unknown nodes: {', '.join(unknown)}")
        if len(set(flat)) != len(flat):
            raise FaultError("partition groups overlap")
        return [list(g) for g in groups]
    raise FaultError(f"no groups for partition mode {mode!r}")


def cut_pairs(
    mode: str,
    nodes: Sequence[str],
    targets: Sequence[str],
    groups: Sequence[Sequence[str]] | None = None,
    direction: str = "both",
) -> set[Pair]:
    """Directed pairs (src, dst): packets from src to dst are dropped."""
    n = len(nodes)
    both: set[Pair] = set()
    if mode == "majority-ring":
        if n < 4:
            raise FaultError("partition mode 'majority-ring' needs at least 4 nodes")
        reach = (n // 2 + 1) // 2  # ring neighbours on each side: with itself, each sees a majority
        for i, a in enumerate(nodes):
            for j, b in enumerate(nodes):
                d = min((i - j) % n, (j - i) % n)
                if a != b and d > reach:
                    both.add((a, b))
        return both
    if mode == "bridge":
        if n < 3:
            raise FaultError("partition mode 'bridge' needs at least 3 nodes")
        bridge = targets[0] if targets else nodes[n // 2]
        others = [x for x in nodes if x != bridge]
        half = len(others) // 2
        side_a, side_b = others[:half], others[half:]
        return {(a, b) for a in side_a for b in side_b} | {(b, a) for a in side_a for b in side_b}
    gs = groups_for(mode, nodes, targets, groups)
    if sum(1 for g in gs if g) < 2:
        raise FaultError(f"partition '{mode}' leaves everything on one side")
    first = set(gs[0])
    for gi, g in enumerate(gs):
        for hi, h in enumerate(gs):
            if gi == hi:
                continue
            for a in g:
                for b in h:
                    if (
                        direction == "both"
                        or (direction == "inbound" and b in first)
                        or (direction == "outbound" and a in first)
                    ):
                        both.add((a, b))
    return both
