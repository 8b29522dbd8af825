"""The overlap sweep finds what comparing every pair of nodes' intervals finds: the same pieces, in
the same order within each pair, so the merged findings are the same."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from hypothesis import given
from hypothesis import strategies as st

from quorumwatch.analysis.digest import digest
from quorumwatch.analysis.intervals import Interval, NodeIntervals
from quorumwatch.analysis.verdicts import Overlap, _merge, _subtract, intersection, overlaps
from quorumwatch.model import Tick
from tests.test_analysis_props import SETTINGS, Truth, histories


def pairwise(a: Sequence[Interval], b: Sequence[Interval]) -> list[Overlap]:
    """The definition: every interval of `a` against every interval of `b`."""
    return [p for x in a for y in b if (p := intersection(x, y)) is not None]


def reference(per_node: Sequence[NodeIntervals]) -> list[Overlap]:
    found: list[Overlap] = []
    for a, b in itertools.combinations(sorted(per_node, key=lambda n: n.node), 2):
        certain = pairwise(a.certain, b.certain)
        found += certain + _subtract(pairwise(a.possible, b.possible), certain)
    return _merge(found)


@SETTINGS
@given(histories())
def test_the_sweep_finds_what_every_pair_finds(h: tuple[Truth, list[Tick]]) -> None:
    per_node = list(digest(h[1]).per_node)
    assert overlaps(per_node) == reference(per_node)


SPANS = st.lists(st.tuples(st.integers(0, 60), st.integers(0, 30)), max_size=8)


@SETTINGS
@given(st.lists(SPANS, min_size=2, max_size=5), st.booleans())
def test_the_sweep_on_any_sorted_intervals(spans: list[list[tuple[int, int]]], certain: bool) -> None:
    """Touching, nested, equal and empty intervals included (a node's possible intervals share the
    window of the answer between them, so they can overlap one another)."""
    per_node = []
    for n, node_spans in enumerate(spans):
        ivs = tuple(
            Interval(f"n{n}", s, s + d, (n % 3,) if n % 3 else (), certain) for s, d in sorted(node_spans)
        )  # fmt: skip
        per_node.append(NodeIntervals(f"n{n}", ivs if certain else (), () if certain else ivs))
    assert overlaps(per_node) == reference(per_node)


def naive_subtract(overlaps: list[Overlap], cover: list[Overlap]) -> list[Overlap]:
    """The definition: each overlap cut by every cover piece in turn."""
    out = []
    for o in overlaps:
        pieces = [(o.start, o.end)]
        for c in cover:
            pieces = [
                p for lo, hi in pieces for p in ((lo, min(hi, c.start)), (max(lo, c.end), hi)) if p[0] < p[1]
            ]
        out += [Overlap(o.nodes, o.epochs, lo, hi, False) for lo, hi in pieces if lo < hi]
    return out


PIECES = st.lists(st.tuples(st.integers(0, 100), st.integers(-2, 30)), max_size=12)


@SETTINGS
@given(PIECES, PIECES)
def test_subtracting_cover_pieces_is_the_definition(
    spans: list[tuple[int, int]], cover: list[tuple[int, int]]
) -> None:
    """Possible pieces (nested, touching, empty ones included) cut by disjoint certain pieces."""
    possible = [Overlap(("a", "b"), (1, None), s, s + d, False) for s, d in spans]
    certain, at = [], 0
    for s, d in sorted(cover):  # certain pieces of one pair never overlap one another
        lo = max(s, at)
        if d > 0:
            certain.append(Overlap(("a", "b"), (1, 2), lo, lo + d, True))
            at = lo + d
    assert _subtract(possible, certain) == naive_subtract(possible, certain)
