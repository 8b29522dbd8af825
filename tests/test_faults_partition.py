"""Which packets each partition mode drops (pure)."""

from __future__ import annotations

import itertools

import pytest

from quorumwatch.faults.base import FaultError
from quorumwatch.faults.partition import cut_pairs

N3 = ["n1", "n2", "n3"]
N5 = ["n1", "n2", "n3", "n4", "n5"]


def sees(pairs: set[tuple[str, str]], nodes: list[str], a: str) -> set[str]:
    return {b for b in nodes if (a, b) not in pairs and (b, a) not in pairs}


def test_isolate_cuts_the_target_from_everyone_both_ways() -> None:
    pairs = cut_pairs("isolate", N3, ["n2"])
    assert pairs == {("n2", "n1"), ("n1", "n2"), ("n2", "n3"), ("n3", "n2")}


def test_one_way_partitions() -> None:
    assert cut_pairs("isolate", N3, ["n2"], direction="inbound") == {("n1", "n2"), ("n3", "n2")}
    assert cut_pairs("isolate", N3, ["n2"], direction="outbound") == {("n2", "n1"), ("n2", "n3")}


@pytest.mark.parametrize("nodes", [N3, N5])
def test_halves_put_the_target_in_the_minority(nodes: list[str]) -> None:
    pairs = cut_pairs("halves", nodes, ["n3"])
    minority = sees(pairs, nodes, "n3")
    assert len(minority) == len(nodes) // 2
    majority = set(nodes) - minority
    for a, b in itertools.product(minority, majority):
        assert (a, b) in pairs and (b, a) in pairs
    for a, b in itertools.combinations(majority, 2):
        assert (a, b) not in pairs


@pytest.mark.parametrize("n", [4, 5, 6, 7])
def test_majority_ring_every_node_sees_a_distinct_majority(n: int) -> None:
    nodes = [f"n{i}" for i in range(1, n + 1)]
    pairs = cut_pairs("majority-ring", nodes, [])
    views = [frozenset(sees(pairs, nodes, a)) for a in nodes]
    assert all(len(v) > n // 2 for v in views)
    assert len(set(views)) == n
    assert all((b, a) in pairs for a, b in pairs)  # symmetric


def test_bridge_node_sees_both_sides_which_do_not_see_each_other() -> None:
    pairs = cut_pairs("bridge", N5, ["n3"])
    assert sees(pairs, N5, "n3") == set(N5)
    assert sees(pairs, N5, "n1") == {"n1", "n2", "n3"}
    assert sees(pairs, N5, "n5") == {"n3", "n4", "n5"}


def test_explicit_groups_and_errors() -> None:
    pairs = cut_pairs("groups", N5, [], [["n1", "n2"], ["n3"], ["n4", "n5"]])
    assert sees(pairs, N5, "n3") == {"n3"}
    assert sees(pairs, N5, "n1") == {"n1", "n2"}
    with pytest.raises(FaultError, match="unknown nodes: n9"):
        cut_pairs("groups", N5, [], [["n9"], ["n1"]])
    with pytest.raises(FaultError, match="overlap"):
        cut_pairs("groups", N5, [], [["n1"], ["n1", "n2"]])
    with pytest.raises(FaultError, match="at least 4"):
        cut_pairs("majority-ring", N3, [])
    with pytest.raises(FaultError, match="one side"):
        cut_pairs("isolate", N3, N3)
