"""Checkers over literal histories: each is a pure function of a `History`, they compose, a new
one plugs in beside the standard ones, and what they share is derived from the ticks once."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import overload

import pytest

from quorumwatch.analysis import FAILOVER, HARM, STANDARD, VERDICTS, History, RunMeta, analyze, compose
from quorumwatch.analysis.checkers import FunctionChecker, Linearizable
from quorumwatch.analysis.linearizability import KeyVerdict
from quorumwatch.model import (
    Harm,
    Operation,
    OperationKind,
    Outcome,
    OverlapKind,
    Tick,
    Verdict,
    WorkloadKind,
)
from tests.test_analysis import MS, history
from tests.test_analysis_harm import reg


class CountingTicks(Sequence[Tick]):
    """Ticks that count how often they are walked whole."""

    def __init__(self, ticks: list[Tick]) -> None:
        self.ticks, self.walks = ticks, 0

    def __len__(self) -> int:
        return len(self.ticks)

    @overload
    def __getitem__(self, i: int) -> Tick: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[Tick]: ...
    def __getitem__(self, i: int | slice) -> Tick | Sequence[Tick]:
        return self.ticks[i]

    def __iter__(self) -> Iterator[Tick]:
        self.walks += 1
        return iter(self.ticks)


STALE = history({"a": "LLLLLFF", "b": "FFLLLLL"}, {"a": [1] * 7, "b": [2] * 7})


def test_standard_checkers_composed_are_what_analyze_reports() -> None:
    h = History(STALE, meta=RunMeta(interval_s=0.1, deadline_s=0.08))
    found = STANDARD.check(h)
    a = analyze(h)
    assert found.names == ("verdicts", "failover", "harm")
    v = found[VERDICTS]
    assert v.verdict is Verdict.DUAL_LEADER == a.verdict
    assert [o.kind for o in v.overlaps if o.certain] == [OverlapKind.DUAL_LEADER]
    assert v.overlaps == a.overlaps and found[FAILOVER] == a.trials == ()
    assert found[HARM].harm is Harm.NOT_MEASURED  # no workload ran: never "none"


def test_the_ticks_are_digested_once_for_every_checker() -> None:
    ticks = CountingTicks(STALE)
    h = History(ticks)
    STANDARD.check(h)
    analyze(h)
    assert ticks.walks == 1


def test_a_new_checker_plugs_in_beside_the_standard_ones() -> None:
    """A user's own checker (here: the longest certain overlap) reads the same history."""

    def longest(h: History) -> int:
        return max((o.duration_ns for o in h.overlaps if o.certain), default=0)

    LONGEST = FunctionChecker("longest_certain_ns", longest)
    both = compose(VERDICTS, LONGEST)
    found = both.check(History(STALE))
    assert found[LONGEST] == 200 * MS - 10 * MS  # b certain from 210 ms, a until 400 ms
    assert found[VERDICTS].verdict is Verdict.DUAL_LEADER
    assert LONGEST in found and HARM not in found
    calm = both.check(History(history({"a": "LLLL", "b": "FFFF"})))
    assert calm[LONGEST] == 0 and calm[VERDICTS].verdict is Verdict.OK


def test_names_must_differ() -> None:
    with pytest.raises(ValueError, match="distinct names: verdicts, verdicts"):
        compose(VERDICTS, VERDICTS)


def test_nothing_observed_is_inconclusive_for_verdicts_and_harm_alike() -> None:
    ops = [Operation(0, OperationKind.ADD, "a", 0, 1, 0, Outcome.OK, "0")]
    found = STANDARD.check(History((), operations=ops, meta=RunMeta(workload=WorkloadKind.SET)))
    assert found[VERDICTS].verdict is Verdict.INCONCLUSIVE
    assert found[VERDICTS].advice == "no observation was recorded"
    assert found[HARM].harm is Harm.NOT_MEASURED and "no final read" in found[HARM].reason


def test_linearizability_reads_a_history_of_operations_only() -> None:
    """A foreign history has no ticks: the linearizability checker needs none."""
    ops = [
        reg(0, "a", "write", "k", "1", (0, 10)),
        reg(1, "b", "write", "k", "2", (20, 30)),
        reg(2, "a", "read", "k", "1", (40, 50)),  # 2 was acknowledged before this read began
    ]
    stale = Linearizable(deadline_s=10).check(History(operations=ops))
    assert stale.verdict is KeyVerdict.VIOLATED
    fresh = Linearizable(deadline_s=10).check(
        History(operations=[*ops[:2], reg(2, "a", "read", "k", "2", (40, 50))])
    )
    assert fresh.verdict is KeyVerdict.LINEARIZABLE
