"""Resolving a fault's target — names, or a role at the moment of injection — to nodes (pure)."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

from quorumwatch.faults.base import FaultError
from quorumwatch.faults.specs import ROLE_TARGETS, FaultTarget, NodesTarget, RoleTarget
from quorumwatch.model import Role


def resolve(
    target: FaultTarget | str | Sequence[str] | None,
    nodes: Sequence[str],
    roles: Mapping[str, Role],
    rng: random.Random,
) -> list[str]:
    """Nodes a fault hits. `roles` is the latest tick; role targets need a definite answer. A
    bare string or list is read as a scenario file spells it."""
    if isinstance(target, str):
        if target in nodes:
            return [target]
        if target not in ROLE_TARGETS:
            raise FaultError(f"unknown target {target!r}: a node name or one of {', '.join(ROLE_TARGETS)}")
        target = RoleTarget(role=target)
    elif target is None:
        target = RoleTarget(role="all")
    elif not isinstance(target, RoleTarget | NodesTarget):
        target = NodesTarget(nodes=list(target))
    if isinstance(target, NodesTarget):
        unknown = [t for t in target.nodes if t not in nodes]
        if unknown:
            raise FaultError(f"unknown target nodes: {', '.join(unknown)}")
        return list(target.nodes)
    return _by_role(target.role, nodes, roles, rng)


def _by_role(target: str, nodes: Sequence[str], roles: Mapping[str, Role], rng: random.Random) -> list[str]:
    if target == "all":
        return list(nodes)
    n = len(nodes)
    if target == "leader":
        leaders = [x for x in nodes if roles.get(x) is Role.LEADER]
        if len(leaders) != 1:
            seen = " ".join(roles[x].letter if x in roles else "?" for x in nodes)
            raise FaultError(f"target 'leader' needs exactly one leader at injection time; saw [{seen}]")
        return leaders
    if target == "follower":
        followers = [x for x in nodes if roles.get(x) is Role.FOLLOWER]
        if not followers:
            raise FaultError("target 'follower': no node answered follower at injection time")
        return [rng.choice(followers)]
    if target == "random":
        return [rng.choice(list(nodes))]
    if target == "minority":
        return _leader_first(nodes, roles, rng, (n - 1) // 2 or 1)
    if target == "majority":
        return _leader_first(nodes, roles, rng, n // 2 + 1)
    raise FaultError(f"unknown target {target!r}: a node name or one of {', '.join(ROLE_TARGETS)}")


def _leader_first(
    nodes: Sequence[str], roles: Mapping[str, Role], rng: random.Random, size: int
) -> list[str]:
    """A random set of `size` nodes that includes the current leader when there is one: cutting
    off the leader's side is the interesting case."""
    leaders = [x for x in nodes if roles.get(x) is Role.LEADER]
    rest = [x for x in nodes if x not in leaders]
    rng.shuffle(rest)
    chosen = (leaders[:1] + rest)[:size]
    return sorted(chosen, key=list(nodes).index)
