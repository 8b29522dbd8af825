"""Certain and possible leadership intervals of one node, from its observations (pure).

An answer "leader" was true at some instant inside its [send, receive] window.

- *Certain*: two leader answers in the same epoch, with no definite non-leader answer between them,
  bracket one continuous leadership (a node cannot lead the same term twice), so the node was
  certainly leader from the first answer's receive to the last answer's send. Without epochs
  (e.g. Redis) only directly consecutive leader answers are joined, and unknown answers break runs.
- *Possible*: the node may have led at any time between two definite non-leader answers that
  enclose leader or unknown answers: from the earlier one's send to the later one's receive.
  Unknown answers are "possibly anything": a run of them is a possible leadership too.

Times are monotonic nanoseconds. Open ends (no bounding answer) are marked and extend to the edge
of what was observed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from quorumwatch.model import Observation, Role


class Answered(Protocol):
    """What the intervals read of an answer (an `Observation`, or a stored row: `digest.Answer`)."""

    @property
    def role(self) -> Role: ...
    @property
    def epoch(self) -> int | None: ...
    @property
    def send_ns(self) -> int: ...
    @property
    def recv_ns(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Interval:
    node: str
    start: int
    end: int
    epochs: tuple[int, ...]
    """Epochs claimed inside; one for certain intervals (empty when the probe has no epochs)."""
    certain: bool
    open_start: bool = False
    open_end: bool = False

    @property
    def epoch(self) -> int | None:
        return self.epochs[0] if len(self.epochs) == 1 else None

    @property
    def duration_ns(self) -> int:
        return max(0, self.end - self.start)


@dataclass(frozen=True, slots=True)
class NodeIntervals:
    node: str
    certain: tuple[Interval, ...]
    possible: tuple[Interval, ...]


def _definite_non_leader(o: Observation) -> bool:
    return o.role is not Role.LEADER and o.role is not Role.UNKNOWN


class NodeTracker:
    """The interval logic of one node, one observation at a time (observations in send order).

    `feed` returns the intervals an observation closes; `finish` those still open when the
    observations end. Only the open run and the open segment are kept, so memory does not grow
    with time; `node_intervals` (batch) is this tracker run over a whole history."""

    __slots__ = (
        "last_send", "lo", "node", "run_epoch", "run_first_recv", "run_last_send", "run_len", "seg_epochs",
        "seg_has", "seg_start",
    )  # fmt: skip

    def __init__(self, node: str, lo: int) -> None:
        self.node = node
        self.lo = lo
        """Where an interval open at the start begins (the first send of the whole history)."""
        self.seg_start: int | None = None  # send of the last definite non-leader answer; None: open
        self.seg_has = False
        self.seg_epochs: set[int] = set()
        self.run_epoch: int | None = None
        self.run_first_recv = 0
        self.run_last_send = 0
        self.run_len = 0
        self.last_send = lo

    def _close_run(self, out: list[Interval]) -> None:
        if self.run_len >= 2 and self.run_first_recv < self.run_last_send:
            epochs = () if self.run_epoch is None else (self.run_epoch,)
            out.append(Interval(self.node, self.run_first_recv, self.run_last_send, epochs, True))
        self.run_len = 0

    def feed(self, o: Answered) -> list[Interval]:
        out: list[Interval] = []
        self.last_send = o.send_ns
        if o.role is Role.LEADER:
            self.seg_has = True
            if o.epoch is not None:
                self.seg_epochs.add(o.epoch)
            if self.run_len and o.epoch == self.run_epoch:
                self.run_last_send = o.send_ns
                self.run_len += 1
            else:
                self._close_run(out)
                self.run_epoch, self.run_first_recv, self.run_last_send, self.run_len = (
                    o.epoch, o.recv_ns, o.send_ns, 1
                )  # fmt: skip
        elif o.role is Role.UNKNOWN:
            self.seg_has = True
            if self.run_len and self.run_epoch is None:
                self._close_run(out)  # without epochs an unseen step-down and re-election cannot be ruled out
        else:
            self._close_run(out)
            if self.seg_has:
                start = self.lo if self.seg_start is None else self.seg_start
                epochs = tuple(sorted(self.seg_epochs))
                out.append(
                    Interval(self.node, start, o.recv_ns, epochs, False, open_start=self.seg_start is None)
                )
            self.seg_start, self.seg_has = o.send_ns, False
            if self.seg_epochs:  # a follower's every answer would otherwise make a set to collect
                self.seg_epochs = set()
        return out

    def finish(self, hi: int) -> list[Interval]:
        """The intervals still open when the observations end at `hi` (the last receive)."""
        out: list[Interval] = []
        self._close_run(out)
        if self.seg_has:
            start = self.lo if self.seg_start is None else self.seg_start
            out.append(
                Interval(self.node, start, hi, tuple(sorted(self.seg_epochs)), False,
                         open_start=self.seg_start is None, open_end=True)
            )  # fmt: skip
        return out

    @property
    def certain_so_far(self) -> Interval | None:
        """The open run of leader answers, when it already proves a leadership."""
        if self.run_len >= 2 and self.run_first_recv < self.run_last_send:
            epochs = () if self.run_epoch is None else (self.run_epoch,)
            return Interval(self.node, self.run_first_recv, self.run_last_send, epochs, True)
        return None

    @property
    def possible_so_far(self) -> Interval | None:
        """The open possible leadership as far as it is sure to reach: its last answer's send (the
        answer that closes it is sent, and received, later)."""
        start = self.possible_since
        if start is None:
            return None
        return Interval(self.node, start, self.last_send, tuple(sorted(self.seg_epochs)), False,
                        open_start=self.seg_start is None, open_end=True)  # fmt: skip

    @property
    def possible_since(self) -> int | None:
        """Where the open possible leadership began, if one is open."""
        if not self.seg_has:
            return None
        return self.lo if self.seg_start is None else self.seg_start

    @property
    def future_start(self) -> int | None:
        """No interval this node closes from now on starts before this (None: it may reach back to
        the open segment's start, which is this value when set)."""
        return self.seg_start


def node_intervals(node: str, observations: Sequence[Observation], span: tuple[int, int]) -> NodeIntervals:
    """Intervals of one node; `observations` sorted by send time; `span` bounds open ends."""
    tracker = NodeTracker(node, span[0])
    found = [iv for o in observations for iv in tracker.feed(o)]
    found += tracker.finish(span[1])
    return NodeIntervals(
        node, tuple(iv for iv in found if iv.certain), tuple(iv for iv in found if not iv.certain)
    )


def group_by_node(observations: Iterable[Observation]) -> dict[str, list[Observation]]:
    out: dict[str, list[Observation]] = {}
    for o in observations:
        out.setdefault(o.node, []).append(o)
    for obs in out.values():
        obs.sort(key=lambda o: o.send_ns)
    return out


def containing(intervals: Sequence[Interval], t0: int, t1: int) -> Interval | None:
    """The interval that contains the window [t0, t1], if any (intervals sorted, disjoint)."""
    for iv in intervals:
        if iv.start <= t0 and t1 <= iv.end:
            return iv
    return None
