"""The vocabulary of quorumwatch as plain, frozen data.

Everything that crosses a boundary (probe → engine → store → report/analysis) is one of these
records. They carry no behaviour beyond small derived properties, so histories can be written as
literals in tests and analysed by pure functions.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar


class Role(enum.Enum):
    """What a node said it is. UNKNOWN means we could not tell — never a guess."""

    LEADER = "leader"
    FOLLOWER = "follower"
    CANDIDATE = "candidate"
    OBSERVER = "observer"
    UNKNOWN = "unknown"

    @property
    def letter(self) -> str:
        return _LETTERS[self]


_LETTERS = {
    Role.LEADER: "L",
    Role.FOLLOWER: "F",
    Role.CANDIDATE: "C",
    Role.OBSERVER: "O",
    Role.UNKNOWN: "X",
}


class Verdict(enum.StrEnum):
    """The strongest finding of an analysis (of probes or of logs), with its exit code and words.

    A str, so it is written to JSON and compared as the plain value (`"dual_leader"`)."""

    OK = "ok"
    POSSIBLE = "possible"
    DUAL_LEADER = "dual_leader"
    VIOLATION = "violation"
    INCONCLUSIVE = "inconclusive"
    """Nothing examined could say who led (no observation, no leadership line): never a pass."""

    @property
    def exit_code(self) -> int:
        """The one meaning of exit codes 0, 1, 3, 4, 5 across every command (6 is harm, 2 usage)."""
        return _VERDICT_EXIT[self]

    @property
    def display(self) -> str:
        """The verdict in plain words, for terminals, reports and test failures."""
        return _VERDICT_WORDS[self]

    @property
    def style(self) -> str:
        """Rich style: red for a proven double leader, yellow for what needs a look, green for ok."""
        return _VERDICT_STYLE[self]

    @classmethod
    def strongest(cls, kinds: Iterable[str]) -> Verdict:
        """The verdict of a set of overlap kinds: violation > dual_leader > possible > ok."""
        found = set(kinds)
        return next((v for v in (cls.VIOLATION, cls.DUAL_LEADER, cls.POSSIBLE) if v.value in found), cls.OK)


_VERDICT_EXIT = {
    Verdict.OK: 0, Verdict.INCONCLUSIVE: 1, Verdict.DUAL_LEADER: 3, Verdict.VIOLATION: 4, Verdict.POSSIBLE: 5,
}  # fmt: skip
_VERDICT_WORDS = {
    Verdict.OK: "one leader at a time: no overlap of leaderships was possible",
    Verdict.POSSIBLE: "two leaders may have overlapped: the evidence can neither prove nor rule it out",
    Verdict.DUAL_LEADER: "two leaders at once, proven",
    Verdict.VIOLATION: "two leaders in the same epoch, proven: the election's own guarantee broke",
    Verdict.INCONCLUSIVE: "inconclusive: nothing examined said who led",
}
_VERDICT_STYLE = {
    Verdict.OK: "bold green", Verdict.POSSIBLE: "bold yellow", Verdict.DUAL_LEADER: "bold red",
    Verdict.VIOLATION: "bold red", Verdict.INCONCLUSIVE: "bold yellow",
}  # fmt: skip


class Harm(enum.StrEnum):
    """What the workload shows the double leader did to acknowledged operations."""

    NONE_OBSERVED = "none_observed"
    DATA_LOSS = "data_loss"
    DUPLICATES = "duplicates"
    STALE_READS = "stale_reads"
    """Reads answered with values already overwritten, or any other history no order explains."""
    NOT_MEASURED = "not_measured"
    """No workload ran, or its result could not be read back: nothing is claimed."""

    @property
    def harmful(self) -> bool:
        return self in (Harm.DATA_LOSS, Harm.DUPLICATES, Harm.STALE_READS)

    @property
    def style(self) -> str:
        return "bold red" if self.harmful else "bold green" if self is Harm.NONE_OBSERVED else "yellow"


class FailOn(enum.StrEnum):
    """`--fail-on`: the lowest finding that fails a run; findings below it exit 0, harm always 6."""

    POSSIBLE = "possible"
    DUAL_LEADER = "dual-leader"
    VIOLATION = "violation"
    HARM = "harm"


HARM_EXIT = 6
"""Exit code of a run whose workload shows data loss, duplicates or stale reads: ahead of the
verdict's."""


class Reason(enum.Enum):
    """Why an answer is unknown. Kept coarse so users can count and compare them."""

    TIMEOUT = "timeout"
    REFUSED = "refused"
    RESET = "reset"
    UNREACHABLE = "unreachable"
    CLOSED = "closed"
    GARBAGE = "garbage"
    HTTP_STATUS = "http-status"
    COMMAND = "command-failed"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class GroupRole:
    """A node's role in one group of a sharded cluster (a Redis Cluster slot range, a Raft group
    per shard): each group has its own leader and epoch."""

    group: str
    role: Role
    epoch: int | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """What one probe learned from one node, before the engine stamps it with times."""

    role: Role
    epoch: int | None = None
    leader: str | None = None
    """The leader this node believes in (an id or address as the node names it), if it says."""
    reason: Reason | None = None
    detail: str | None = None
    """For unknown answers: a short, printable excerpt of what went wrong; for a candidate, why it
    is not serving (a Patroni primary whose PostgreSQL is stopping)."""
    self_id: str | None = None
    """The node's own id as the cluster names it (etcd member id), to match `leader` against."""
    groups: tuple[GroupRole, ...] = ()
    """A sharded cluster: the node's role in each group it leads or follows (a group it does not
    name, it neither leads nor follows). Empty: the cluster has one implicit group, `role`."""

    @staticmethod
    def unknown(reason: Reason, detail: str | None = None) -> Answer:
        return Answer(Role.UNKNOWN, reason=reason, detail=detail)


@dataclass(frozen=True, slots=True)
class Observation:
    """One node's answer at one tick, with the window it describes.

    The role held at *some instant* inside [send_ns, recv_ns] (monotonic ns); analysis must respect
    that window. wall_ns is the wall-clock time at send, for display and log alignment only.
    """

    node: str
    tick: int
    send_ns: int
    recv_ns: int
    wall_ns: int
    role: Role
    epoch: int | None = None
    leader: str | None = None
    reason: Reason | None = None
    detail: str | None = None
    self_id: str | None = None
    groups: tuple[GroupRole, ...] = ()
    """Per group role and epoch (sharded clusters); empty: one implicit group."""

    @property
    def rtt_ns(self) -> int:
        return self.recv_ns - self.send_ns


@dataclass(frozen=True, slots=True)
class Tick:
    """One round of probes: every node asked once, concurrently."""

    index: int
    scheduled_ns: int
    """t0 + index·interval on the monotonic clock."""
    started_ns: int
    wall_ns: int
    observations: tuple[Observation, ...]

    @property
    def lateness_ns(self) -> int:
        return self.started_ns - self.scheduled_ns

    @property
    def leaders(self) -> tuple[Observation, ...]:
        return tuple(o for o in self.observations if o.role is Role.LEADER)

    @property
    def agreed_leader(self) -> str | None:
        """The one leader, when exactly one node says leader and every other follows or observes."""
        leaders = self.leaders
        if len(leaders) != 1 or any(
            o.role not in (Role.LEADER, Role.FOLLOWER, Role.OBSERVER) for o in self.observations
        ):
            return None
        return leaders[0].node


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened at a time on a node (a fault, a command, a trial), on the run's
    clock. `kind` and `data` are the stored form (history.sqlite, JSON exports); `body` is the
    typed record to read it by."""

    mono_ns: int
    wall_ns: int
    node: str | None
    kind: str
    data: dict[str, Any]

    @staticmethod
    def of(mono_ns: int, wall_ns: int, node: str | None, body: EventBody) -> Event:
        return Event(mono_ns, wall_ns, node, body.KIND, _stored(body))

    @property
    def body(self) -> EventBody:
        """The typed record; `UnknownEvent` for a kind this version does not know or a record
        whose fields do not fit (an older or damaged history): never an exception."""
        return parse_body(self.kind, self.data)


@dataclass(frozen=True, slots=True)
class CommandRun:
    """A command a fault ran (inject or heal step) with its outcome."""

    KIND: ClassVar[str] = "cmd"
    phase: str
    fault: int
    argv: tuple[str, ...]
    rc: int | None
    ok: bool
    started_ns: int
    ended_ns: int
    stdout: str = ""
    stderr: str = ""


@dataclass(frozen=True, slots=True)
class FaultInjected:
    KIND: ClassVar[str] = "fault.inject"
    fault: int
    kind: str
    target: Any = None
    nodes: tuple[str, ...] = ()
    description: str = ""
    trial: int | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FaultHealed:
    KIND: ClassVar[str] = "fault.heal"
    fault: int
    kind: str = ""
    nodes: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True, slots=True)
class HealFailed:
    KIND: ClassVar[str] = "fault.heal_failed"
    fault: int
    errors: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FaultFailed:
    """A fault that could not be injected."""

    KIND: ClassVar[str] = "fault.error"
    error: str


@dataclass(frozen=True, slots=True)
class TrialStarted:
    KIND: ClassVar[str] = "trial.start"
    trial: int
    of: int


@dataclass(frozen=True, slots=True)
class TrialEnded:
    KIND: ClassVar[str] = "trial.end"
    trial: int
    converged: bool


@dataclass(frozen=True, slots=True)
class SteadyChecked:
    KIND: ClassVar[str] = "steady"
    reached: bool
    phase: str
    last: str | None = None
    """The last matrix seen, when steady state was not reached."""


@dataclass(frozen=True, slots=True)
class Note:
    KIND: ClassVar[str] = "note"
    text: str


@dataclass(frozen=True, slots=True)
class SentinelView:
    """Which master each Redis Sentinel named, beside the nodes' own roles, at one tick; recorded
    when it changes. `state`: `agree` (the sentinels name one master and it alone says master),
    `disagree` (sentinels name different masters), `masterless` (the named master does not say
    master), `two_masters` (a master the sentinels do not name still says master), `unknown`
    (no sentinel answered)."""

    KIND: ClassVar[str] = "sentinels"
    state: str
    named: dict[str, Any]
    """Sentinel → the node it names (an address the cluster file does not name: as given; no
    answer: null)."""
    masters: tuple[str, ...] = ()
    """The nodes that said master at that tick."""
    tick: int | None = None


@dataclass(frozen=True, slots=True)
class UnknownEvent:
    """An event this version cannot read as one of the records above; kept as it was stored."""

    KIND: ClassVar[str] = ""
    kind: str
    data: dict[str, Any]


EventBody = (
    CommandRun | FaultInjected | FaultHealed | HealFailed | FaultFailed | TrialStarted | TrialEnded
    | SteadyChecked | Note | SentinelView | UnknownEvent
)  # fmt: skip
_BODIES: dict[str, type[Any]] = {
    c.KIND: c
    for c in (CommandRun, FaultInjected, FaultHealed, HealFailed, FaultFailed, TrialStarted, TrialEnded,
              SteadyChecked, Note, SentinelView)
}  # fmt: skip


def _stored(body: EventBody) -> dict[str, Any]:
    """The JSON-ready form (tuples as lists) that history.sqlite keeps."""
    out = {}
    for f in fields(body):
        v = getattr(body, f.name)
        out[f.name] = list(v) if isinstance(v, tuple) else v
    return out


def parse_body(kind: str, data: Any) -> EventBody:
    cls = _BODIES.get(kind)
    if cls is None or not isinstance(data, dict):
        return UnknownEvent(kind, data if isinstance(data, dict) else {"value": data})
    values: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in data:
            if f.default is MISSING and f.default_factory is MISSING:
                return UnknownEvent(kind, data)
            continue
        v = data[f.name]
        want = str(f.type)
        if want.startswith("tuple"):
            if not isinstance(v, list | tuple):
                return UnknownEvent(kind, data)
            v = tuple(str(x) for x in v)
        elif want in ("int", "int | None") and not (isinstance(v, int) and not isinstance(v, bool)):
            if not (v is None and want == "int | None"):
                return UnknownEvent(kind, data)
        elif want == "bool" and not isinstance(v, bool):
            return UnknownEvent(kind, data)
        elif want in ("str", "str | None") and not isinstance(v, str) and not (v is None and "None" in want):
            return UnknownEvent(kind, data)
        elif want.startswith("dict") and not isinstance(v, dict):
            return UnknownEvent(kind, data)
        values[f.name] = v
    return cls(**values)  # type: ignore[no-any-return]


class WorkloadKind(enum.StrEnum):
    """What a workload does through the nodes (workload files' `kind`)."""

    SET = "set"
    """Unique values added to a set, read back at the end: lost acknowledged writes."""
    UNIQUE_IDS = "unique-ids"
    """Requests for new IDs: duplicates."""
    REGISTER = "register"
    """Reads, writes and compare-and-sets of keys: stale reads (linearizability)."""


class OperationKind(enum.StrEnum):
    """One operation of a workload."""

    ADD = "add"
    ID = "id"
    WRITE = "write"
    READ = "read"
    CAS = "cas"


class OverlapKind(enum.StrEnum):
    """Two nodes' leaderships overlapping: proven in one epoch, proven across two, or possible."""

    VIOLATION = "violation"
    DUAL_LEADER = "dual_leader"
    POSSIBLE = "possible"


class FaultKind(enum.StrEnum):
    """What a fault does (scenario files' `kind`)."""

    LINK = "link"
    PARTITION = "partition"
    LOSS = "loss"
    DELAY = "delay"
    KILL = "kill"
    PAUSE = "pause"
    COMMAND = "command"


class Outcome(enum.Enum):
    """What a workload operation's client learned. UNKNOWN (a timeout, a lost connection) may or
    may not have taken effect: it is never counted as lost nor as failed."""

    OK = "ok"
    FAIL = "fail"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Operation:
    """One workload operation sent through one node, recorded like an observation.

    It took effect (if at all) at some instant inside [send_ns, recv_ns] (monotonic ns). `value` is
    the element written (`set`), the ID answered (`unique-ids`, only when ok), or for a `register`:
    the value written (`write`), read (`read`; None when the key held nothing) or set (`cas`).
    """

    index: int
    """Order of sending within the run (0, 1, …)."""
    kind: OperationKind
    """`add` (one element of a set), `id` (a request for a new ID), or `write` / `read` / `cas` (a
    register)."""
    node: str
    send_ns: int
    recv_ns: int
    wall_ns: int
    outcome: Outcome
    value: str | None = None
    epoch: int | None = None
    """The node's epoch when known: from its answer, else from its latest probe answer."""
    detail: str | None = None
    key: str | None = None
    """The register's key (`register` workloads)."""
    expect: str | None = None
    """The value a `cas` expected."""


COMPARE_FAILED = "compare failed: not the expected value"
"""The `detail` of a failed `cas` that the node refused because the key held another value (a fact
about the register); a cas failed for any other reason (not leader, read-only) never happened."""


def operation_from_json(doc: dict[str, Any]) -> Operation:
    """The inverse of `report.export.operation_json`: KeyError, ValueError or TypeError on a
    malformed object."""
    ints = {k: doc[k] for k in ("index", "send_ns", "recv_ns")}
    for k, v in ints.items():
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"{k} {v!r}: expected an integer")
    texts = {k: doc.get(k) for k in ("key", "value", "expect", "detail")}
    for k, v in texts.items():
        if v is not None and not isinstance(v, str):
            raise TypeError(f"{k} {v!r}: expected a string or null")
    epoch = doc.get("epoch")
    if epoch is not None and (isinstance(epoch, bool) or not isinstance(epoch, int)):
        raise TypeError(f"epoch {epoch!r}: expected an integer or null")
    return Operation(
        ints["index"], OperationKind(str(doc["kind"])), str(doc["node"]), ints["send_ns"], ints["recv_ns"], 0,
        Outcome(doc["outcome"]), texts["value"], epoch, texts["detail"], texts["key"], texts["expect"],
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class FinalRead:
    """The read of the whole set after the last heal, from the agreed leader."""

    node: str
    send_ns: int
    recv_ns: int
    wall_ns: int
    values: frozenset[str] | None
    """None when the read failed (then `detail` says why): lost writes cannot be counted."""
    detail: str | None = None


def excerpt(data: bytes | str, limit: int = 60) -> str:
    """A short printable excerpt of a garbage answer, for error reasons."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    text = "".join(ch if ch.isprintable() else "." for ch in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"
