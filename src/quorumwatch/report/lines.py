"""The one-line-per-tick output users' scripts grep for.

    2026/11/27 01:20:00.514593 quorum matrix: [L F X]

The formatter is a small state machine fed ticks, shared by `watch` (live) and `history`
(replay from the store), so both print exactly the same lines.
"""

from __future__ import annotations

import datetime as dt
import shlex
from dataclasses import dataclass, field
from typing import Any, Protocol

from quorumwatch._serial import stamp
from quorumwatch.model import Event, Observation, Role, Tick


def matrix(observations: tuple[Observation, ...] | list[Observation]) -> str:
    return "[" + " ".join(o.role.letter for o in observations) + "]"


def _leadership(o: Observation) -> str:
    if o.role is Role.UNKNOWN:
        return "unknown"
    return "true" if o.role is Role.LEADER else "false"


def _describe(o: Observation) -> str:
    parts = [o.role.value]
    if o.epoch is not None:
        parts.append(f"epoch {o.epoch}")
    if o.role is Role.UNKNOWN and o.reason is not None:
        parts.append(o.reason.value + (f": {o.detail}" if o.detail else ""))
    return ", ".join(parts)


@dataclass
class _NodeState:
    leadership: str
    since_wall_ns: int


class TickFormatter(Protocol):
    """Turns ticks into output lines and counts what it saw (text lines, JSON lines)."""

    ticks: int
    multi_leader_ticks: int

    def feed(self, tick: Tick) -> list[str]: ...


@dataclass
class LineFormatter:
    """Feed ticks in order; get the lines to print for each."""

    changes_only: bool = False
    tz: dt.tzinfo | None = None
    multi_leader_ticks: int = 0
    ticks: int = 0
    _state: dict[str, _NodeState] = field(default_factory=dict)

    def feed(self, tick: Tick) -> list[str]:
        ts = stamp(tick.wall_ns, self.tz)
        out: list[str] = []
        for o in tick.observations:
            now = _leadership(o)
            prev = self._state.get(o.node)
            if prev is None:
                out.append(f"{ts} {o.node} is leader initially: {now} ({_describe(o)})")
                self._state[o.node] = _NodeState(now, tick.wall_ns)
            elif prev.leadership != now:
                held = (tick.wall_ns - prev.since_wall_ns) / 1e9
                out.append(
                    f"{ts} {o.node} is leader changed, current: {now} ({_describe(o)}; "
                    f"was {prev.leadership} for {held:.3f} s since {stamp(prev.since_wall_ns, self.tz)})"
                )
                self._state[o.node] = _NodeState(now, tick.wall_ns)
        leaders = tick.leaders
        if len(leaders) > 1:
            self.multi_leader_ticks += 1
            who = ", ".join(f"{o.node} (epoch {o.epoch})" if o.epoch is not None else o.node for o in leaders)
            out.append(f"{ts} more than 1 leader appear at this tick, cnt={len(leaders)}: {who}")
        elif not leaders and len(tick.observations) > 1:
            unknown = sum(1 for o in tick.observations if o.role is Role.UNKNOWN)
            note = f" ({unknown} of {len(tick.observations)} nodes unknown)" if unknown else ""
            out.append(f"{ts} no leader at this tick{note}")
        if not self.changes_only:
            out.append(f"{ts} quorum matrix: {matrix(tick.observations)}")
        self.ticks += 1
        return out


def _target(data: dict[str, Any]) -> str:
    target = data.get("target")
    nodes = ", ".join(str(n) for n in data.get("nodes") or [])
    if target is None or target == nodes or target == [nodes]:
        return nodes
    return f"{target} → {nodes}"


def event_line(ev: Event, tz: dt.tzinfo | None = None) -> str | None:
    """The line an experiment prints for an event (fault commands, trials, steady state)."""
    ts = stamp(ev.wall_ns, tz)
    d = ev.data
    if ev.kind == "cmd":
        argv = shlex.join(str(a) for a in d.get("argv", []))
        line = f"{ts} running cmd: '{argv}'" + (f" on {ev.node}" if ev.node else "")
        if not d.get("ok", True):
            err = str(d.get("stderr") or d.get("stdout") or "").strip().splitlines()
            line += f" -> exit {d.get('rc')}" + (f": {err[-1]}" if err else "")
        return line
    if ev.kind == "fault.inject":
        return f"{ts} trial {d.get('trial')}: inject {d.get('description')} (target {_target(d)})"
    if ev.kind == "fault.heal":
        return f"{ts} healed: {d.get('description')}"
    if ev.kind == "fault.heal_failed":
        errors = d.get("errors") or ["?"]
        return f"{ts} HEAL FAILED for fault {d.get('fault')}: {errors[0]}"
    if ev.kind == "fault.error":
        return f"{ts} fault error: {d.get('error')}"
    if ev.kind == "trial.start":
        return f"{ts} trial {d.get('trial')}/{d.get('of')} starts"
    if ev.kind == "trial.end":
        state = "back" if d.get("converged") else "NOT back"
        return f"{ts} trial {d.get('trial')} ends: steady state {state}"
    if ev.kind == "steady":
        if d.get("reached"):
            return f"{ts} steady state reached ({d.get('phase')})"
        return f"{ts} steady state NOT reached ({d.get('phase')}); last matrix [{d.get('last')}]"
    if ev.kind == "note":
        return f"{ts} {d.get('text')}"
    return None
