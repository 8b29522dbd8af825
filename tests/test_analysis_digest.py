"""The one-pass digest against the batch definition (every node's observations sorted by send)."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from quorumwatch.analysis.digest import _sorted, digest
from quorumwatch.model import Observation, Role, Tick
from tests.test_analysis_props import SETTINGS, Truth, histories

MS = 1_000_000


@SETTINGS
@given(histories())
def test_streamed_digest_equals_the_sorted_definition(h: tuple[Truth, list[Tick]]) -> None:
    _, ticks = h
    assert digest(ticks) == _sorted(ticks)


@SETTINGS
@given(histories(), st.randoms(use_true_random=False))
def test_ticks_out_of_send_order_fall_back_to_sorting(
    h: tuple[Truth, list[Tick]], rng: random.Random
) -> None:
    _, ticks = h
    shuffled = ticks[:]
    rng.shuffle(shuffled)
    d = digest(shuffled)
    assert d.per_node == _sorted(shuffled).per_node
    # the same intervals as the ordered history: the definition sorts each node's answers by send
    by_node = {n.node: n for n in digest(ticks).per_node}
    assert {n.node: n for n in d.per_node} == by_node


def _obs(node: str, k: int, send_ms: int, role: Role, epoch: int | None = 1) -> Observation:
    s = send_ms * MS
    return Observation(node, k, s, s + 2 * MS, 0, role, epoch)


def test_open_first_segment_starts_at_the_first_send_of_any_node() -> None:
    # n2 is probed 1 ms before n1 in the first tick: n1's open first leadership starts there too
    ticks = [
        Tick(0, 0, 0, 0, (_obs("n1", 0, 10, Role.LEADER), _obs("n2", 0, 9, Role.FOLLOWER))),
        Tick(1, 0, 0, 0, (_obs("n1", 1, 110, Role.FOLLOWER), _obs("n2", 1, 109, Role.FOLLOWER))),
    ]
    d = digest(ticks)
    assert d.span == (9 * MS, 112 * MS)
    n1 = next(n for n in d.per_node if n.node == "n1")
    assert [(iv.start, iv.open_start) for iv in n1.possible] == [(9 * MS, True)]
    assert d == _sorted(ticks)


def test_only_ticks_with_two_leaders_are_kept_and_only_their_leader_answers() -> None:
    ticks = [
        Tick(0, 0, 0, 0, (_obs("a", 0, 0, Role.LEADER), _obs("b", 0, 0, Role.FOLLOWER))),
        Tick(1, 0, 1, 0, (_obs("a", 1, 100, Role.LEADER), _obs("b", 1, 100, Role.LEADER, 2),
                          _obs("c", 1, 100, Role.FOLLOWER))),
    ]  # fmt: skip
    d = digest(ticks)
    assert [t.index for t in d.multi_leader] == [1]
    assert [o.node for o in d.multi_leader[0].observations] == ["a", "b"]
    assert list(d.starts) == [0, 1]
    assert (d.observations, d.max_rtt_ns) == (5, 2 * MS)


def test_nothing_observed() -> None:
    d = digest([Tick(0, 0, 0, 0, ())])
    assert (d.per_node, d.span, d.observations, list(d.starts)) == ((), (0, 0), 0, [0])
