"""Target resolution at injection time (pure)."""

from __future__ import annotations

import random

import pytest

from quorumwatch.faults.base import FaultError
from quorumwatch.faults.targets import resolve
from quorumwatch.model import Role

NODES = ["n1", "n2", "n3", "n4", "n5"]
L, F, X = Role.LEADER, Role.FOLLOWER, Role.UNKNOWN


def roles(*letters: Role) -> dict[str, Role]:
    return dict(zip(NODES, letters, strict=True))


def test_names_and_lists() -> None:
    rng = random.Random(1)
    assert resolve("n3", NODES, {}, rng) == ["n3"]
    assert resolve(["n1", "n4"], NODES, {}, rng) == ["n1", "n4"]
    assert resolve(None, NODES, {}, rng) == NODES
    with pytest.raises(FaultError, match="unknown target nodes: n9"):
        resolve(["n9"], NODES, {}, rng)


def test_leader_needs_exactly_one() -> None:
    rng = random.Random(1)
    assert resolve("leader", NODES, roles(F, F, L, F, X), rng) == ["n3"]
    with pytest.raises(FaultError, match=r"exactly one leader.*\[L F L F X\]"):
        resolve("leader", NODES, roles(L, F, L, F, X), rng)
    with pytest.raises(FaultError, match="exactly one leader"):
        resolve("leader", NODES, roles(X, X, X, X, X), rng)


def test_follower_is_never_the_leader_or_unknown() -> None:
    seen = {resolve("follower", NODES, roles(L, F, X, F, X), random.Random(s))[0] for s in range(50)}
    assert seen == {"n2", "n4"}


def test_minority_and_majority_sizes_include_the_leader() -> None:
    r = roles(F, F, F, L, F)
    for seed in range(20):
        minority = resolve("minority", NODES, r, random.Random(seed))
        majority = resolve("majority", NODES, r, random.Random(seed))
        assert len(minority) == 2 and "n4" in minority
        assert len(majority) == 3 and "n4" in majority


def test_seeded_choice_is_reproducible() -> None:
    a = [resolve("random", NODES, {}, random.Random(7)) for _ in range(3)]
    b = [resolve("random", NODES, {}, random.Random(7)) for _ in range(3)]
    assert a == b


def test_unknown_role_word() -> None:
    with pytest.raises(FaultError, match="unknown target 'king'"):
        resolve("king", NODES, {}, random.Random(1))
