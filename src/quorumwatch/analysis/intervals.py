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

from quorumwatch.model import Observation, Role


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


def node_intervals(node: str, observations: Sequence[Observation], span: tuple[int, int]) -> NodeIntervals:
    """Intervals of one node; `observations` sorted by send time; `span` bounds open ends."""
    certain: list[Interval] = []
    possible: list[Interval] = []
    lo, hi = span

    # possible: segments of leader/unknown answers between definite non-leader answers
    seg_start: int | None = None  # send of the last definite non-leader answer; None: open
    seg_has = False
    seg_epochs: set[int] = set()
    # certain: runs of leader answers in one epoch
    run_epoch: int | None = None
    run_first_recv = 0
    run_last_send = 0
    run_len = 0

    def close_run() -> None:
        nonlocal run_len
        if run_len >= 2 and run_first_recv < run_last_send:
            epochs = () if run_epoch is None else (run_epoch,)
            certain.append(Interval(node, run_first_recv, run_last_send, epochs, True))
        run_len = 0

    for o in observations:
        if o.role is Role.LEADER:
            seg_has = True
            if o.epoch is not None:
                seg_epochs.add(o.epoch)
            if run_len and o.epoch == run_epoch:
                run_last_send = o.send_ns
                run_len += 1
            else:
                close_run()
                run_epoch, run_first_recv, run_last_send, run_len = o.epoch, o.recv_ns, o.send_ns, 1
        elif o.role is Role.UNKNOWN:
            seg_has = True
            if run_len and run_epoch is None:
                close_run()  # without epochs an unseen step-down and re-election cannot be ruled out
        else:
            close_run()
            if seg_has:
                start = lo if seg_start is None else seg_start
                possible.append(
                    Interval(
                        node, start, o.recv_ns, tuple(sorted(seg_epochs)), False, open_start=seg_start is None
                    )
                )
            seg_start, seg_has, seg_epochs = o.send_ns, False, set()
    close_run()
    if seg_has:
        start = lo if seg_start is None else seg_start
        possible.append(
            Interval(
                node, start, hi, tuple(sorted(seg_epochs)), False, open_start=seg_start is None, open_end=True
            )
        )
    return NodeIntervals(node, tuple(certain), tuple(possible))


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
