"""Analysis: pure functions from a history (ticks, events) to verdicts and failover metrics."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from quorumwatch.analysis import harm as harm_checks
from quorumwatch.analysis.digest import digest
from quorumwatch.analysis.failover import FaultWindow, TrialMetrics, summary, trial_metrics
from quorumwatch.analysis.harm import HarmReport
from quorumwatch.analysis.intervals import Interval, NodeIntervals
from quorumwatch.analysis.verdicts import Overlap, Window, artifact_ticks, combine, leaderless, overlaps
from quorumwatch.model import (
    HARM_EXIT,
    Event,
    FailOn,
    FaultHealed,
    FaultInjected,
    FinalRead,
    Harm,
    Operation,
    Tick,
    Verdict,
)

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


def faults_from_events(events: Sequence[Event]) -> list[FaultWindow]:
    """Each injected fault with when it was healed (None: never)."""
    healed: dict[int, int] = {}
    injected: list[tuple[int, FaultInjected]] = []
    for e in events:
        match e.body:
            case FaultHealed(fault=fid):
                healed[fid] = e.mono_ns
            case FaultInjected() as body:
                injected.append((e.mono_ns, body))
    return [FaultWindow(b.kind, b.target, b.nodes, at, healed.get(b.fault), b.trial) for at, b in injected]


def analyze(
    ticks: Sequence[Tick],
    events: Sequence[Event] = (),
    *,
    interval_s: float | None = None,
    deadline_s: float | None = None,
    workload: str | None = None,
    operations: Sequence[Operation] = (),
    final_read: FinalRead | None = None,
    recorded: Sequence[Overlap] = (),
) -> Analysis:
    """Verdicts, metrics and harm for a history. Pure: same input, same output.

    `ticks` is read in one pass, and again only in the windows of faults (a lazy sequence over a
    stored history, `store.StoredTicks`, is never held whole).

    `workload` is the workload kind (`set`, `unique-ids`) when one ran, with its operations and
    the final read of the set. `recorded`: overlap pieces a `watch --retain` kept from the ticks it
    deleted (joined with what the ticks still held show)."""
    d = digest(ticks)
    if not d.observations and not recorded:
        harm = harm_checks.check(workload, operations, final_read, (), ())
        nothing = "no observation was recorded"
        return Analysis(Verdict.INCONCLUSIVE, (), (), 0, (), (), (), (0, 0), 0, nothing, harm)
    per_node, span, max_rtt = list(d.per_node), d.span, d.max_rtt_ns
    found = combine(overlaps(per_node), recorded)
    by_name = {n.node: n for n in per_node}
    artifacts = artifact_ticks(d.multi_leader, by_name)
    multi = len(d.multi_leader)
    kinds = {o.kind for o in found}
    verdict = Verdict.strongest(kinds)
    faults = faults_from_events(events)
    trials = []
    for i, f in enumerate(faults):
        until = faults[i + 1].injected_ns if i + 1 < len(faults) else span[1]
        trials.append(trial_metrics(f, per_node, ticks, until, d.starts))
    advice = None
    if not d.answered and not recorded:
        # every answer unknown (refused, timed out, garbage): no node was heard say who led
        verdict = Verdict.INCONCLUSIVE
        advice = f"no node answered: all {d.observations} observations were unknown"
    elif verdict is Verdict.POSSIBLE:
        worst = max(o.duration_ns for o in found if not o.certain)
        advice = (
            f"the longest overlap that cannot be ruled out is {worst / 1e6:.0f} ms; to tighten it, "
            f"probe more often (interval {interval_s or 0:g} s now) and keep answers fast "
            f"(deadline {deadline_s or 0:g} s, largest round trip {max_rtt / 1e6:.1f} ms)"
        )
    return Analysis(
        verdict, tuple(found), tuple(artifacts), multi, tuple(leaderless(per_node, span)), tuple(trials),
        tuple(per_node), span, max_rtt, advice,
        harm_checks.check(workload, operations, final_read, found, per_node),
    )  # fmt: skip


__all__ = [
    "FAIL_ON",
    "HARM_EXIT",
    "Analysis",
    "HarmReport",
    "Interval",
    "Overlap",
    "Verdict",
    "Window",
    "analyze",
    "exit_code",
]
