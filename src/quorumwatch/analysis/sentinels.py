"""The sentinels' view against the nodes' own roles (pure): what state each tick was in, and the
windows of disagreement a run recorded (`SentinelView` events, written when the view changes).

Redis Sentinel decides who is master; each node says what it thinks it is. They part ways in a
failover (the sentinels have switched, the old master has not heard) and in a split (a minority
sentinel still names the old master): a client asking a sentinel may be sent to a master the
other clients no longer use.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from quorumwatch.model import Event, SentinelView

STATES = ("agree", "disagree", "masterless", "two_masters", "unknown")


def sentinel_state(named: Mapping[str, str | None], masters: Sequence[str]) -> str:
    """The state of one tick: what the sentinels that answered name, against who says master."""
    names = {n for n in named.values() if n is not None}
    if not names:
        return "unknown"
    if len(names) > 1:
        return "disagree"
    (master,) = names
    if master not in masters:
        return "masterless"
    return "agree" if len(masters) == 1 else "two_masters"


@dataclass(frozen=True, slots=True)
class SentinelWindow:
    state: str
    start: int
    end: int
    named: dict[str, str | None]
    masters: tuple[str, ...]

    @property
    def duration_ns(self) -> int:
        return self.end - self.start


def sentinel_windows(events: Sequence[Event], end_ns: int) -> list[SentinelWindow]:
    """Each recorded view lasting until the next (the last until `end_ns`, the observations' end)."""
    views = [(e.mono_ns, e.body) for e in events if e.kind == SentinelView.KIND]
    kept = [(t, b) for t, b in views if isinstance(b, SentinelView)]
    out = []
    for k, (t, b) in enumerate(kept):
        until = kept[k + 1][0] if k + 1 < len(kept) else max(end_ns, t)
        out.append(SentinelWindow(b.state, t, until, dict(b.named), b.masters))
    return out
