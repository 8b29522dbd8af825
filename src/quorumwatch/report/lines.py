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
from quorumwatch.analysis.online import Change, LiveGrading
from quorumwatch.model import (
    CommandRun,
    Event,
    FaultFailed,
    FaultHealed,
    FaultInjected,
    HealFailed,
    Note,
    Observation,
    Role,
    SteadyChecked,
    Tick,
    TrialEnded,
    TrialStarted,
)


def matrix(observations: tuple[Observation, ...] | list[Observation]) -> str:
    """`[L F X]`, a letter per node; a sharded cluster's per group: `0-5460 [L F O] 5461-10922 [O L F]`
    (each node's role in that group: `O` where it neither leads nor follows it)."""
    return " ".join(
        ("" if g is None else f"{g} ") + "[" + " ".join(o.role.letter for o in seen) + "]"
        for g, seen in _per_group(observations)
    )


def _per_group(
    observations: tuple[Observation, ...] | list[Observation],
) -> list[tuple[str | None, tuple[Observation, ...] | list[Observation]]]:
    """A tick's answers as one implicit group, or a sharded cluster's seen per group."""
    if not any(o.groups for o in observations):
        return [(None, observations)]
    from quorumwatch.analysis.groups import per_group

    return list(per_group(observations))


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
    led = [g.group for g in o.groups if g.role is Role.LEADER]
    if led:
        parts.append(f"leads {' '.join(led)}")
    return ", ".join(parts)


@dataclass
class _NodeState:
    leadership: str
    since_wall_ns: int


class TickFormatter(Protocol):
    """Turns ticks into output lines and counts what it saw (text lines, JSON lines)."""

    @property
    def ticks(self) -> int: ...

    @property
    def multi_leader_ticks(self) -> int: ...

    def feed(self, tick: Tick, grading: LiveGrading | None = None) -> list[str]: ...

    """The lines of one tick; `grading`, already fed this tick by its owner (the session), adds
    the findings that started or ended at it."""


@dataclass
class LineFormatter:
    """Feed ticks in order; get the lines to print for each."""

    changes_only: bool = False
    tz: dt.tzinfo | None = None
    multi_leader_ticks: int = 0
    ticks: int = 0
    graded: bool = True
    """Also print the live grading's lines (certain / possible dual leader, and its end)."""
    _state: dict[str, _NodeState] = field(default_factory=dict)

    def feed(self, tick: Tick, grading: LiveGrading | None = None) -> list[str]:
        out: list[str] = []  # stamped at the end, only when there is a line to print
        for o in tick.observations:
            now = _leadership(o)
            prev = self._state.get(o.node)
            if prev is None:
                out.append(f"{o.node} is leader initially: {now} ({_describe(o)})")
                self._state[o.node] = _NodeState(now, tick.wall_ns)
            elif prev.leadership != now:
                held = (tick.wall_ns - prev.since_wall_ns) / 1e9
                out.append(
                    f"{o.node} is leader changed, current: {now} ({_describe(o)}; "
                    f"was {prev.leadership} for {held:.3f} s since {stamp(prev.since_wall_ns, self.tz)})"
                )
                self._state[o.node] = _NodeState(now, tick.wall_ns)
        multi = False
        for group, observations in _per_group(tick.observations):
            of = f" of {group}" if group is not None else ""
            leaders = [o for o in observations if o.role is Role.LEADER]
            if len(leaders) > 1:
                multi = True
                who = ", ".join(
                    f"{o.node} (epoch {o.epoch})" if o.epoch is not None else o.node for o in leaders
                )
                out.append(f"more than 1 leader{of} appear at this tick, cnt={len(leaders)}: {who}")
            elif not leaders and len(observations) > 1:
                unknown = sum(1 for o in observations if o.role is Role.UNKNOWN)
                note = f" ({unknown} of {len(observations)} nodes unknown)" if unknown else ""
                out.append(f"no leader{of} at this tick{note}")
        self.multi_leader_ticks += multi
        if self.graded and grading is not None:
            out += [f"{graded_line(c, grading.offset_ns, self.tz)}" for c in grading.changes]
        if not self.changes_only:
            out.append(f"quorum matrix: {matrix(tick.observations)}")
        self.ticks += 1
        if out:  # a quiet tick (most of them with --changes-only) formats no time
            ts = stamp(tick.wall_ns, self.tz)
            out = [f"{ts} {line}" for line in out]
        return out


def graded_line(c: Change, wall_offset_ns: int, tz: dt.tzinfo | None = None) -> str:
    """A graded finding as `watch` prints it the moment the evidence allows:

    dual leader (certain since 12:00:01.123456, 0.400 s so far): n1 (epoch 5), n3 (epoch 6)
    dual leader n1 + n3 ended after 0.620 s
    """
    a, b = c.nodes
    ea, eb = c.epochs
    who = f"{a} (epoch {ea}), {b} (epoch {eb})" if ea is not None or eb is not None else f"{a}, {b}"
    if c.group is not None:
        who += f" in group {c.group}"
    since = stamp(c.start + wall_offset_ns, tz)[11:]
    took = (c.end - c.start) / 1e9
    name = {"violation": "violation: two leaders in the same epoch", "dual_leader": "dual leader"}.get(
        c.kind, "possible dual leader"
    )
    if c.what == "started":
        if c.certain:
            return f"{name} (certain since {since}, {took:.3f} s so far): {who}"
        return f"{name} (since {since}, not proven): {who}"
    where = f" in group {c.group}" if c.group is not None else ""
    if c.certain:
        return f"{name} {a} + {b}{where} ended after {took:.3f} s"
    return f"{name} {a} + {b}{where} over after {took:.3f} s (never proven)"


def _target(target: Any, nodes: tuple[str, ...]) -> str:
    shown = ", ".join(nodes)
    if target is None or target == shown or target == [shown]:
        return shown
    return f"{target} → {shown}"


def event_line(ev: Event, tz: dt.tzinfo | None = None) -> str | None:
    """The line an experiment prints for an event (fault commands, trials, steady state)."""
    ts = stamp(ev.wall_ns, tz)
    match ev.body:
        case CommandRun() as c:
            line = f"{ts} running cmd: '{shlex.join(c.argv)}'" + (f" on {ev.node}" if ev.node else "")
            if not c.ok:
                err = (c.stderr or c.stdout).strip().splitlines()
                line += f" -> exit {c.rc}" + (f": {err[-1]}" if err else "")
            return line
        case FaultInjected() as f:
            return f"{ts} trial {f.trial}: inject {f.description} (target {_target(f.target, f.nodes)})"
        case FaultHealed() as h:
            return f"{ts} healed: {h.description}"
        case HealFailed() as hf:
            return f"{ts} HEAL FAILED for fault {hf.fault}: {(hf.errors or ('?',))[0]}"
        case FaultFailed() as ff:
            return f"{ts} fault error: {ff.error}"
        case TrialStarted() as t:
            return f"{ts} trial {t.trial}/{t.of} starts"
        case TrialEnded() as te:
            return f"{ts} trial {te.trial} ends: steady state {'back' if te.converged else 'NOT back'}"
        case SteadyChecked(reached=True) as st:
            return f"{ts} steady state reached ({st.phase})"
        case SteadyChecked() as st:
            return f"{ts} steady state NOT reached ({st.phase}); last matrix [{st.last}]"
        case Note() as n:
            return f"{ts} {n.text}"
    return None
