"""Checkers: pure functions from one `History` to a typed finding, and `compose` to run several.

As in Jepsen, the history is plain data and a checker reads it without side effects, so checkers
plug in and combine: `analyze` is `compose(VERDICTS, FAILOVER, HARM)` over a run's history; the
`linearizability` command runs `Linearizable` over foreign histories that hold only operations.
What several checkers derive from the same ticks (each node's leadership intervals, the overlaps)
is worked out once per history, on first use.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Generic, Protocol, TypeVar, cast

from quorumwatch.analysis import harm as harm_checks
from quorumwatch.analysis import linearizability as lin
from quorumwatch.analysis.compaction import CompactedRun
from quorumwatch.analysis.digest import Digest, digest
from quorumwatch.analysis.failover import FaultWindow, TrialMetrics, trial_metrics
from quorumwatch.analysis.harm import HarmReport
from quorumwatch.analysis.verdicts import Overlap, Window, artifact_ticks, combine, leaderless, overlaps
from quorumwatch.model import (
    Event,
    FaultHealed,
    FaultInjected,
    FinalRead,
    Operation,
    Tick,
    Verdict,
    WorkloadKind,
)

F = TypeVar("F")
F_co = TypeVar("F_co", covariant=True)


@dataclass(frozen=True)
class RunMeta:
    """What a run says of itself that the checkers read (the rest of its meta is display)."""

    interval_s: float = 0.0
    deadline_s: float = 0.0
    workload: WorkloadKind | None = None
    """The workload that ran, if any: how its operations are judged."""
    workload_slot: int | None = None
    """A sharded cluster's workload writes one slot (Redis Cluster: its keys share a hash tag):
    its harm is judged against the leaders of the group holding that slot."""


@dataclass(frozen=True)
class History:
    """One run as the checkers read it: ticks, events, operations, the final read of a set
    workload, and its meta. `recorded`: overlap pieces a `watch --retain` kept from ticks it
    deleted. `ticks` may be a lazy sequence over a stored history (`store.StoredTicks`): it is read
    in one pass, and again only in the windows of faults."""

    ticks: Sequence[Tick] = ()
    events: Sequence[Event] = ()
    operations: Sequence[Operation] = ()
    final_read: FinalRead | None = None
    meta: RunMeta = field(default_factory=RunMeta)
    recorded: Sequence[Overlap] = ()
    compacted: Sequence[CompactedRun] = ()
    """What a compacted history dropped from runs of identical answers (`analysis.compaction`)."""
    deleted_answers: int = 0
    """Answers (not unknown) of ticks a `watch --retain` deleted after grading them live: what
    was found in them is in `recorded`, so a history whose ticks are all gone was still examined."""

    @cached_property
    def digest(self) -> Digest:
        """Each node's intervals, the span, the round trips: one pass over the ticks."""
        return digest(self.ticks, self.compacted)

    @cached_property
    def overlaps(self) -> tuple[Overlap, ...]:
        """Every overlap of two nodes' leaderships, the recorded pieces joined in."""
        return tuple(combine(overlaps(list(self.digest.per_node)), self.recorded))

    @property
    def observed(self) -> bool:
        """Whether there is anything to judge leadership by."""
        return bool(self.digest.observations or self.recorded or self.deleted_answers)


class Checker(Protocol[F_co]):
    """History in, typed finding out; pure. `name` keys its finding in a composition."""

    @property
    def name(self) -> str: ...

    def check(self, history: History) -> F_co: ...


@dataclass(frozen=True)
class FunctionChecker(Generic[F]):
    """A checker made of a pure function."""

    name: str
    function: Callable[[History], F]

    def check(self, history: History) -> F:
        return self.function(history)


class Findings:
    """What composed checkers found, each under its checker: `findings[VERDICTS]` is typed as
    that checker's finding."""

    def __init__(self, found: dict[str, object]) -> None:
        self._found = found

    def __getitem__(self, checker: Checker[F]) -> F:
        return cast(F, self._found[checker.name])

    def __contains__(self, checker: object) -> bool:
        return getattr(checker, "name", None) in self._found

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._found)


@dataclass(frozen=True)
class Composed:
    """Several checkers over one history (each finding under its checker's name)."""

    checkers: tuple[Checker[Any], ...]
    name: str = "composed"

    def check(self, history: History) -> Findings:
        return Findings({c.name: c.check(history) for c in self.checkers})


def compose(*checkers: Checker[Any]) -> Composed:
    """One checker of several; their names must differ (each keys its finding)."""
    names = [c.name for c in checkers]
    if len(set(names)) != len(names):
        raise ValueError(f"checkers need distinct names: {', '.join(names)}")
    return Composed(tuple(checkers))


# ---- the standard checkers ----


@dataclass(frozen=True)
class Verdicts:
    """Who led when: the verdict, the overlaps behind it, what a naive detector would have
    mistaken for split brain, and the windows without a leader."""

    verdict: Verdict
    overlaps: tuple[Overlap, ...]
    artifact_ticks: tuple[int, ...]
    multi_leader_ticks: int
    leaderless: tuple[Window, ...]
    advice: str | None


def verdicts(h: History) -> Verdicts:
    """The verdict of the ticks; `inconclusive` (never a pass) when nothing said who led."""
    d = h.digest
    if not h.observed:
        return Verdicts(Verdict.INCONCLUSIVE, (), (), 0, (), "no observation was recorded")
    found = h.overlaps
    per_node = list(d.per_node)
    artifacts = tuple(artifact_ticks(d.multi_leader, {n.node: n for n in per_node}))
    verdict = Verdict.strongest(o.kind for o in found)
    advice = None
    if not d.answered and not h.recorded and not h.deleted_answers:
        # every answer unknown (refused, timed out, garbage): no node was heard say who led
        verdict = Verdict.INCONCLUSIVE
        advice = f"no node answered: all {d.observations} observations were unknown"
    elif verdict is Verdict.POSSIBLE:
        worst = max(o.duration_ns for o in found if not o.certain)
        advice = (
            f"the longest overlap that cannot be ruled out is {worst / 1e6:.0f} ms; to tighten it, "
            f"probe more often (interval {h.meta.interval_s:g} s now) and keep answers fast "
            f"(deadline {h.meta.deadline_s:g} s, largest round trip {d.max_rtt_ns / 1e6:.1f} ms)"
        )
    return Verdicts(
        verdict,
        found,
        artifacts,
        len(d.multi_leader) + d.multi_leader_extra,
        tuple(leaderless(per_node, d.span)),
        advice,
    )


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


def failover(h: History) -> tuple[TrialMetrics, ...]:
    """Per injected fault: time to a new leader, leaderless time, stale leadership, convergence."""
    d = h.digest
    if not d.observations:
        return ()
    per_node = list(d.per_node)
    faults = faults_from_events(h.events)
    trials = []
    for i, f in enumerate(faults):
        until = faults[i + 1].injected_ns if i + 1 < len(faults) else d.span[1]
        trials.append(trial_metrics(f, per_node, h.ticks, until, d.starts))
    return tuple(trials)


def harm(h: History) -> HarmReport:
    """What the workload's operations show: lost writes, duplicate IDs, stale acknowledgements
    and stale reads, each against who led when."""
    return harm_checks.check(h.meta.workload, h.operations, h.final_read, h.overlaps, h.digest.per_node)


@dataclass(frozen=True)
class Linearizable:
    """The register operations of a history, checked for linearizability key by key (no ticks
    needed: a foreign history is only operations)."""

    deadline_s: float = 60.0
    failed_cas: lin.FailedCas = "compared"
    name: str = "linearizability"

    def check(self, history: History) -> lin.Linearizability:
        return self.check_ops(harm_checks.register_ops(history.operations))

    def check_ops(self, ops: Sequence[lin.RegOp]) -> lin.Linearizability:
        """The same over register operations as a foreign history gives them (`histories`)."""
        recheck = self.failed_cas == "compared"
        return lin.check(ops, deadline_s=self.deadline_s, failed_cas=self.failed_cas, recheck=recheck)


VERDICTS: Checker[Verdicts] = FunctionChecker("verdicts", verdicts)
FAILOVER: Checker[tuple[TrialMetrics, ...]] = FunctionChecker("failover", failover)
HARM: Checker[HarmReport] = FunctionChecker("harm", harm)
STANDARD = compose(VERDICTS, FAILOVER, HARM)
"""What every run is judged by."""
