"""Leadership per group: a sharded cluster's history seen one group at a time (pure).

A grouped observation (`Observation.groups`) gives the node's role in each group it leads or
follows (a Redis Cluster master leads its slot ranges, a replica follows its master's). Projected
onto one group, a history is an ordinary one: the node's role and epoch in that group, `observer`
where a definite answer does not name the group (it neither leads nor follows it), `unknown` where
the answer itself was unknown (a timeout never becomes a follower). Every checker then runs per
group unchanged; a history without groups is never projected.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import overload

from quorumwatch.model import Observation, Role, Tick

_RANGE = re.compile(r"(\d+)(?:-(\d+))?")


def group_key(name: str) -> tuple[int, int | str]:
    """Slot ranges in numeric order (`5461-10922` after `0-5460`), other names after, by name."""
    m = _RANGE.fullmatch(name.split(",", 1)[0])
    return (0, int(m[1])) if m else (1, name)


def named_groups(observations: Iterable[Observation]) -> tuple[str, ...]:
    """The groups these observations name, in `group_key` order; () when none does."""
    return tuple(sorted({g.group for o in observations for g in o.groups}, key=group_key))


def group_names(ticks: Sequence[Tick]) -> tuple[str, ...]:
    """Every group any observation names, in `group_key` order; () for an ungrouped history."""
    return named_groups(o for tick in ticks for o in tick.observations)


def per_group(observations: Sequence[Observation]) -> list[tuple[str, tuple[Observation, ...]]]:
    """A sharded cluster's answers of one tick seen in each group they name."""
    return [(g, tuple(project_observation(o, g) for o in observations)) for g in named_groups(observations)]


def group_holding(tick: Tick, slot: int) -> str | None:
    """The group of this tick's answers whose ranges hold `slot` (a workload's keys)."""
    return group_of_slot(named_groups(tick.observations), slot)


def group_of_slot(names: Sequence[str], slot: int) -> str | None:
    """The group whose ranges (`0-5460`, `100`, `0-10,20-30`) hold `slot`, if any."""
    for name in names:
        for part in name.split(","):
            m = _RANGE.fullmatch(part)
            if m and int(m[1]) <= slot <= int(m[2] or m[1]):
                return name
    return None


def project_observation(o: Observation, group: str) -> Observation:
    if o.role is Role.UNKNOWN:
        return dataclasses.replace(o, groups=(), leader=None)
    for g in o.groups:
        if g.group == group:
            return dataclasses.replace(o, role=g.role, epoch=g.epoch, groups=(), leader=None)
    return dataclasses.replace(o, role=Role.OBSERVER, epoch=None, groups=(), leader=None, detail=None)


def project_tick(tick: Tick, group: str) -> Tick:
    return dataclasses.replace(
        tick, observations=tuple(project_observation(o, group) for o in tick.observations)
    )


class Projected(Sequence[Tick]):
    """`ticks` seen in one group, lazily: a stored history's ticks stay unread until asked for."""

    def __init__(self, ticks: Sequence[Tick], group: str) -> None:
        self._ticks = ticks
        self.group = group

    def __len__(self) -> int:
        return len(self._ticks)

    @overload
    def __getitem__(self, i: int) -> Tick: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[Tick]: ...
    def __getitem__(self, i: int | slice) -> Tick | Sequence[Tick]:
        if isinstance(i, slice):
            return [project_tick(t, self.group) for t in self._ticks[i]]
        return project_tick(self._ticks[i], self.group)

    def __iter__(self) -> Iterator[Tick]:
        for t in self._ticks:
            yield project_tick(t, self.group)
