"""Analysis: pure checkers from a `History` (ticks, events, operations) to verdicts, failover
metrics and harm (`checkers`), and `analyze`, the standard ones composed."""

from __future__ import annotations

import dataclasses
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
from quorumwatch.analysis.groups import Projected, group_of_slot
from quorumwatch.analysis.harm import HarmReport
from quorumwatch.analysis.intervals import Interval, NodeIntervals
from quorumwatch.analysis.sentinels import SentinelWindow, sentinel_windows
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
    groups: tuple[str, ...] = ()
    """A sharded cluster's groups, each judged on its own (overlaps, leaderless windows and trials
    carry theirs); () for a cluster with one implicit group."""
    harm_group: str | None = None
    """The group the workload's operations were judged against (its `intervals`)."""
    sentinels: tuple[SentinelWindow, ...] = ()
    """Redis Sentinel's view against the nodes' roles, as recorded (analysis/sentinels.py)."""

    def summary(self) -> dict[str, Any]:
        return summary(self.trials)


LEADERSHIP = compose(VERDICTS, FAILOVER)


def analyze(history: History) -> Analysis:
    """Verdicts, metrics and harm of a history (`STANDARD`: the verdicts, failover and harm
    checkers composed). Pure: same input, same output. A lazy `history.ticks` over a stored
    history (`store.StoredTicks`) is never held whole. A sharded cluster's history (observations
    with groups) is judged group by group (`analysis.groups`), and its findings joined."""
    d = history.digest
    views = tuple(sentinel_windows(history.events, d.span[1]))
    if d.groups:
        return dataclasses.replace(_analyze_groups(history, d.groups), sentinels=views)
    found = STANDARD.check(history)
    v, harm = found[VERDICTS], found[HARM]
    return Analysis(
        v.verdict, v.overlaps, v.artifact_ticks, v.multi_leader_ticks, v.leaderless, found[FAILOVER],
        d.per_node, d.span, d.max_rtt_ns, v.advice, harm, sentinels=views,
    )  # fmt: skip


def _analyze_groups(history: History, names: tuple[str, ...]) -> Analysis:
    """Each group's leadership checked on the history projected onto it; the verdict the strongest
    of theirs. Harm is judged against the group the workload wrote (`RunMeta.workload_slot`), else
    against the nodes' own overall answers. A fault's trials are those of the groups its nodes
    led when it began (all groups when they led none)."""
    seen = []
    for g in names:
        projected = dataclasses.replace(history, ticks=Projected(history.ticks, g))
        seen.append((g, projected, LEADERSHIP.check(projected)))
    slot = history.meta.workload_slot
    harm_group = group_of_slot(names, slot) if slot is not None else None
    judged = next((h for g, h, _ in seen if g == harm_group), history)
    harm = HARM.check(judged)
    overlaps = sorted(
        (dataclasses.replace(o, group=g) for g, _, f in seen for o in f[VERDICTS].overlaps),
        key=lambda o: (o.start, o.group or ""),
    )
    leaderless = sorted(
        (dataclasses.replace(w, group=g) for g, _, f in seen for w in f[VERDICTS].leaderless),
        key=lambda w: (w.start, w.group or ""),
    )
    trials: list[TrialMetrics] = []
    per_fault = zip(
        *(tuple(dataclasses.replace(t, group=g) for t in f[FAILOVER]) for g, _, f in seen), strict=True
    )
    for of_fault in per_fault:
        led = [t for t in of_fault if t.old_leader is not None and t.old_leader in t.window.nodes]
        trials.extend(led or of_fault)
    verdicts = [f[VERDICTS] for _, _, f in seen]
    verdict = Verdict.strongest(v.verdict for v in verdicts)
    if all(v.verdict is Verdict.INCONCLUSIVE for v in verdicts):
        verdict = Verdict.INCONCLUSIVE
    advice = next((v.advice for v in verdicts if v.verdict is verdict and v.advice), None)
    d = history.digest
    return Analysis(
        verdict, tuple(overlaps), tuple(sorted({t for v in verdicts for t in v.artifact_ticks})),
        sum(v.multi_leader_ticks for v in verdicts), tuple(leaderless), tuple(trials),
        judged.digest.per_node, d.span, d.max_rtt_ns, advice, harm, names, harm_group,
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
