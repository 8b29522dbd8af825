"""Analysis: pure checkers from a `History` (ticks, events, operations) to verdicts, failover
metrics and harm (`checkers`), and `analyze`, the standard ones composed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from quorumwatch.analysis.checkers import (
    FAILOVER,
    HARM,
    STANDARD,
    VERDICTS,
    Checker,
    History,
    RunMeta,
    compose,
    faults_from_events,
)
from quorumwatch.analysis.failover import TrialMetrics, summary
from quorumwatch.analysis.harm import HarmReport
from quorumwatch.analysis.intervals import Interval, NodeIntervals
from quorumwatch.analysis.verdicts import Overlap, Window
from quorumwatch.model import HARM_EXIT, FailOn, Harm, Verdict

_FAILS_AT: dict[FailOn, set[Verdict]] = {
    FailOn.POSSIBLE: {Verdict.POSSIBLE, Verdict.DUAL_LEADER, Verdict.VIOLATION},
    FailOn.DUAL_LEADER: {Verdict.DUAL_LEADER, Verdict.VIOLATION},
    FailOn.VIOLATION: {Verdict.VIOLATION},
    FailOn.HARM: set(),
}
FAIL_ON = tuple(f.value for f in FailOn)
"""`--fail-on` levels, lowest first."""


def exit_code(verdict: Verdict | str, harm: Harm | str, fail_on: FailOn | str = FailOn.POSSIBLE) -> int:
    """The exit code of `run`/`watch`/`analyze`: harm (6) first, then the verdict's code if it is
    at or above `fail_on` (possible < dual-leader < violation < harm), else 0."""
    verdict, harm = Verdict(verdict), Harm(harm)
    if harm.harmful:
        return HARM_EXIT
    if verdict is Verdict.INCONCLUSIVE:
        return verdict.exit_code  # never a pass: nothing was examined
    return verdict.exit_code if verdict in _FAILS_AT[FailOn(fail_on)] else 0


@dataclass(frozen=True)
class Analysis:
    verdict: Verdict
    overlaps: tuple[Overlap, ...]
    artifact_ticks: tuple[int, ...]
    multi_leader_ticks: int
    leaderless: tuple[Window, ...]
    trials: tuple[TrialMetrics, ...]
    intervals: tuple[NodeIntervals, ...]
    span: tuple[int, int]
    max_rtt_ns: int
    advice: str | None
    harm: HarmReport

    def summary(self) -> dict[str, Any]:
        return summary(self.trials)


def analyze(history: History) -> Analysis:
    """Verdicts, metrics and harm of a history (`STANDARD`: the verdicts, failover and harm
    checkers composed). Pure: same input, same output. A lazy `history.ticks` over a stored
    history (`store.StoredTicks`) is never held whole."""
    found = STANDARD.check(history)
    v, harm = found[VERDICTS], found[HARM]
    d = history.digest
    return Analysis(
        v.verdict, v.overlaps, v.artifact_ticks, v.multi_leader_ticks, v.leaderless, found[FAILOVER],
        d.per_node, d.span, d.max_rtt_ns, v.advice, harm,
    )  # fmt: skip


__all__ = [
    "FAILOVER",
    "FAIL_ON",
    "HARM",
    "HARM_EXIT",
    "STANDARD",
    "VERDICTS",
    "Analysis",
    "Checker",
    "HarmReport",
    "History",
    "Interval",
    "Overlap",
    "RunMeta",
    "Verdict",
    "Window",
    "analyze",
    "compose",
    "exit_code",
    "faults_from_events",
]
