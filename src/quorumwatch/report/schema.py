"""The typed contract of `results.json` (version 3): pydantic models, from which the file is written
and `docs/results.schema.json` is generated. Field meanings: docs/results.md."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from quorumwatch.model import Harm, Verdict

Time = str
"""ISO-8601 UTC with microseconds (`2026-11-27T02:19:46.342335Z`)."""
OverlapKind = Literal["possible", "dual_leader", "violation"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Meta(_Model):
    cluster: str | None = None
    probe: str | None = None
    interval_s: float = 0.0
    deadline_s: float = 0.0
    ticks: int = 0
    workload_client: str | None = None
    workload_rate: float | None = None


class OverlapOut(_Model):
    """Two nodes' leaderships overlapping: proven (`certain`) or not ruled out."""

    nodes: list[str] = Field(min_length=2, max_length=2)
    epochs: list[int | None] = Field(min_length=2, max_length=2)
    start: Time
    end: Time
    duration_s: float = Field(ge=0)
    certain: bool
    kind: OverlapKind
    group: str | None = None
    """The group both nodes led (a sharded cluster: a Redis Cluster slot range); null: the one
    implicit group of a cluster without groups."""


class PossibleOverlaps(_Model):
    """Every possible overlap counted, listed or not."""

    count: int = Field(ge=0)
    listed: int = Field(ge=0)
    """How many of them `dual_leaders` lists (the longest)."""
    total_s: float = Field(ge=0)
    longest_s: float | None


class LeaderlessOut(_Model):
    start: Time | None
    end: Time | None
    duration_s: float = Field(ge=0)
    certain: bool
    group: str | None = None


class TrialOut(_Model):
    trial: int | None
    fault: str
    target: Any
    nodes: list[str]
    injected_at: Time | None
    healed_at: Time | None
    old_leader: str | None
    new_leader: str | None
    time_to_new_leader_s: float | None
    leaderless_s: float | None
    stale_leader_s: float | None
    converged_after_heal_s: float | None
    old_leader_last_seen_s: float | None
    max_lateness_s: float = Field(0.0, ge=0)
    """How late the trial's latest tick began (the machine's own disturbance, not the cluster's)."""
    skipped_ticks: int = Field(0, ge=0)
    """Ticks the engine skipped inside the trial: it fell behind (a stalled machine). A trial with
    skipped ticks was disturbed; its figures are less exact."""
    group: str | None = None
    """The group these figures are about (the groups the fault's nodes led when it began)."""


class Spread(_Model):
    """Nearest-rank percentiles of one failover figure over the trials that had it."""

    min: float
    p50: float
    p90: float
    p99: float
    max: float
    n: int = Field(ge=1)


class Summary(_Model):
    trials: int = Field(ge=0)
    time_to_new_leader_s: Spread | None
    leaderless_s: Spread | None
    stale_leader_s: Spread | None
    converged_after_heal_s: Spread | None


class Observed(_Model):
    start: Time | None
    end: Time | None
    max_rtt_s: float = Field(ge=0)


class Counts(_Model):
    sent: int = Field(ge=0)
    ok: int = Field(ge=0)
    fail: int = Field(ge=0)
    unknown: int = Field(ge=0)


class FinalReadOut(_Model):
    node: str
    at: Time
    ok: bool
    elements: int | None
    detail: str | None


class OperationOut(_Model):
    value: str | None
    node: str
    epoch: int | None
    sent_at: Time
    acknowledged_at: Time
    since_fault_s: float | None


class StaleOut(OperationOut):
    newer_leader: str
    newer_epoch: int | None


class Range(_Model):
    min: float
    max: float


LostAs = Literal["alone", "beside another leader", "stale leader", "leader", "not leader"]
"""What the probes said of the node when it acknowledged a write that was then lost (see
`analysis.harm.LostWrite`): `alone` is a node acting alone after losing its lease."""


class LostByNode(_Model):
    count: int = Field(ge=0)
    """Writes this node acknowledged that the final read lacks."""
    acknowledged: int = Field(ge=0)
    """All writes it acknowledged (the denominator)."""
    served_as: dict[LostAs, int]
    epochs: list[int]
    since_fault_s: Range | None
    """When it acknowledged them, after the fault that had begun last."""
    successor: str | None
    """`alone`: the next node that led (certainly), without these writes."""
    successor_at: Time | None
    successor_since_fault_s: float | None


class Lost(_Model):
    count: int = Field(ge=0)
    first: list[OperationOut]
    since_fault_s: Range | None
    by_node: dict[str, LostByNode] = Field(default_factory=dict)


class DuplicateOut(_Model):
    value: str | None
    operations: list[OperationOut]


class Duplicates(_Model):
    count: int = Field(ge=0)
    first: list[DuplicateOut]


class StaleAcks(_Model):
    count: int = Field(ge=0)
    first: list[StaleOut]


class SideOut(Counts):
    node: str
    epoch: int | None
    stale: bool


class HarmWindowOut(_Model):
    start: Time
    end: Time
    kind: OverlapKind
    nodes: list[SideOut]


class RegisterOpOut(_Model):
    index: int
    kind: Literal["read", "write", "cas"]
    key: str
    value: str | None
    """Written, set (cas) or read (`null`: the key held nothing)."""
    expect: str | None
    node: str | None
    outcome: Literal["ok", "fail", "unknown"]
    sent_at: Time
    returned_at: Time | None
    """`null` for an unknown outcome (it may take effect at any later time)."""


class ViolationOut(_Model):
    key: str
    operations: int = Field(ge=0)
    method: Literal["unique-values", "search", "none"]
    operation: RegisterOpOut
    """The first operation no order of the key's history explains."""
    reason: str
    prefix_operations: int = Field(ge=0)
    """Operations of the longest prefix still found linearizable."""
    possible_values: list[str | None]
    """What the key could hold at that point."""
    stale_by: list[RegisterOpOut]
    """Acknowledged writes that had replaced the value read before the read began."""


class UndecidedOut(_Model):
    key: str
    operations: int = Field(ge=0)
    reason: str | None


class KeyCounts(_Model):
    checked: int = Field(ge=0)
    linearizable: int = Field(ge=0)
    violated: int = Field(ge=0)
    unknown: int = Field(ge=0)


class StaleReadOut(_Model):
    key: str | None
    value: str | None
    node: str
    epoch: int | None
    sent_at: Time
    returned_at: Time
    since_fault_s: float | None
    served_as: Literal["stale leader", "newer leader", "leader", "not leader"]
    certain: bool
    newer_leader: str | None
    newer_epoch: int | None
    older_leader: str | None
    """`newer leader`: the older leader that acknowledged the write this read missed."""
    older_epoch: int | None
    overwritten_by: RegisterOpOut | None
    overwritten_s: float | None


class StaleByNode(_Model):
    count: int = Field(ge=0)
    reads: int = Field(ge=0)
    """Reads that node answered with a value."""
    served_as: dict[Literal["stale leader", "newer leader", "leader", "not leader"], int]
    """How many of its stale reads it served as what."""
    epochs: list[int]
    overwritten_s: Range | None


class StaleReads(_Model):
    count: int = Field(ge=0)
    by_node: dict[str, StaleByNode]
    first: list[StaleReadOut]


class LinearizabilityOut(_Model):
    verdict: Literal["linearizable", "violated", "unknown"]
    elapsed_s: float = Field(ge=0)
    reads: int = Field(ge=0)
    keys: KeyCounts
    violations: list[ViolationOut]
    undecided: list[UndecidedOut]
    stale_reads: StaleReads


class WorkloadOut(_Model):
    kind: Literal["set", "unique-ids", "register"]
    total: Counts
    per_node: dict[str, Counts]
    checked: int = Field(ge=0)
    final_read: FinalReadOut | None
    lost: Lost
    failed_but_present: int = Field(ge=0)
    duplicates: Duplicates
    stale_acknowledgements: StaleAcks
    dual_leader_windows: list[HarmWindowOut]
    linearizability: LinearizabilityOut | None
    """`register` workloads only."""


class RelayDelayOut(_Model):
    """How much later an envelope's time is than the application's own (records with both)."""

    records: int = Field(ge=1)
    min_s: float
    median_s: float
    max_s: float


class LogFileOut(_Model):
    path: str
    node: str | None
    envelopes: list[str] = Field(default_factory=list)
    """What was peeled off each line, outermost first (`cri`, `syslog`, `docker-json`, ...)."""
    format: str | None
    """The application's format inside the envelopes; `plain` for messages timed by an envelope."""
    pack: str | None
    lines: int = Field(ge=0)
    records: int = Field(ge=0)
    leadership_events: int = Field(ge=0)
    unexamined_lines: int = Field(ge=0)
    """Lines a rule's backtracking pattern could not finish within its time budget."""
    split_into_nodes: bool = False
    """The file's records went to the nodes its lines name (a merged or compose log)."""
    relay_delay: RelayDelayOut | None = None


class DetectionLagOut(_Model):
    node: str
    change: Literal["became leader", "stopped leading"]
    logged_at: Time
    seen_at: Time | None
    lag_s: float | None


class LogsOut(_Model):
    """What the nodes' own logs say, next to what the probes saw."""

    verdict: Verdict
    silent_nodes: list[str]
    clock_offsets_s: dict[str, float]
    skew_s: float
    files: list[LogFileOut]
    overlaps: list[OverlapOut]
    detection_lags: list[DetectionLagOut]
    detection_lag_max_s: float | None
    disproved_ticks: int = Field(ge=0)
    disproved_tick_indexes: list[int]


class LogsErrorOut(_Model):
    """The run collected logs that could not be read: why."""

    error: str


class DroppedOut(_Model):
    """What the deleted ticks held, counted before they went."""

    ticks: int = Field(ge=0)
    observations: int = Field(ge=0)
    unknown: int = Field(ge=0)
    multi_leader_ticks: int = Field(ge=0)
    first: Time | None
    last: Time | None
    """Start of the first and of the last deleted tick."""


class RetentionOut(_Model):
    """A `watch --retain` deleted its oldest ticks: dual-leader findings and the counts above cover
    the whole watch; artifact ticks, leaderless windows and failover only the ticks kept."""

    retain_s: float | None
    dropped: DroppedOut
    recorded_findings: int = Field(ge=0)
    """Overlap pieces recorded as they became final, joined with what the kept ticks show."""
    kept_from: Time | None


SentinelState = Literal["agree", "disagree", "masterless", "two_masters", "unknown"]


class SentinelWindowOut(_Model):
    state: SentinelState
    start: Time
    end: Time
    duration_s: float = Field(ge=0)
    named: dict[str, str | None]
    """Sentinel → the node it named (null: no answer)."""
    masters: list[str]
    """The nodes that said master."""


class SentinelsOut(_Model):
    """The sentinels' view against the nodes' own roles (recorded when it changed)."""

    by_state_s: dict[SentinelState, float]
    """Seconds spent in each state."""
    windows: list[SentinelWindowOut]
    """Every stretch not in `agree`, in order (the first 20)."""
    count: int = Field(ge=0)
    """Stretches not in `agree`, listed or not."""


class Results(_Model):
    """`results.json`, version 3."""

    version: Literal[3]
    verdict: Verdict
    meta: Meta
    dual_leaders: list[OverlapOut]
    possible_overlaps: PossibleOverlaps
    artifact_ticks: int = Field(ge=0)
    artifact_tick_indexes: list[int]
    multi_leader_ticks: int = Field(ge=0)
    leaderless: list[LeaderlessOut]
    trials: list[TrialOut]
    summary: Summary
    advice: str | None
    groups: list[str] = Field(default_factory=list)
    """A sharded cluster's groups, each judged on its own; empty for one implicit group."""
    harm_group: str | None = None
    """The group whose leaders the workload's operations were judged against."""
    observed: Observed
    harm: Harm
    harm_reason: str
    workload: WorkloadOut | None
    logs: LogsOut | LogsErrorOut | None = None
    """Absent (not null) when the run collected no logs."""
    retention: RetentionOut | None = None
    sentinels: SentinelsOut | None = None
    """Redis with `sentinels` in the cluster file: what they named against the nodes' roles."""
    """Absent (not null) when every tick was kept."""

    def _absent(self) -> set[str] | None:
        absent = {name for name in ("logs", "retention", "sentinels") if getattr(self, name) is None}
        return absent or None

    def to_json(self) -> str:
        """The file's text: `logs`, `retention` and `sentinels` left out when there were none, every
        other null kept."""
        return self.model_dump_json(indent=2, exclude=self._absent()) + "\n"

    def data(self) -> dict[str, Any]:
        """The same as plain JSON data (what `analyze --json` prints)."""
        return self.model_dump(mode="json", exclude=self._absent())


def json_schema() -> dict[str, Any]:
    """The JSON Schema shipped as docs/results.schema.json (a test keeps the file equal to this)."""
    schema = Results.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def schema_text() -> str:
    """docs/results.schema.json's exact text."""
    import json

    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


__all__ = ["Results", "json_schema", "schema_text"]
