"""The history: one SQLite database per run, append-only, committed every tick.

WAL mode with synchronous=NORMAL: a crash or kill -9 loses at most the tick being written.
The schema is versioned with `PRAGMA user_version`; readers refuse versions they do not know.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import queue
import sqlite3
import threading
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Concatenate, NamedTuple, ParamSpec, Protocol, TypeVar, overload

from quorumwatch.analysis.compaction import CompactedRun, compact, protected_from
from quorumwatch.analysis.digest import Answer, Columns
from quorumwatch.model import (
    Event,
    FinalRead,
    GroupRole,
    Observation,
    Operation,
    OperationKind,
    Outcome,
    Reason,
    Role,
    Tick,
)

SCHEMA_VERSION = 6
READABLE_VERSIONS = (1, 2, 3, 4, 5, 6)
"""Version 1 had no workload tables, version 2 no findings or dropped-tick summaries, version 3 no
register keys on operations, version 4 no per-group roles, version 5 no compacted runs: such
histories read as runs without them."""
HISTORY_FILE = "history.sqlite"

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE nodes (idx INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL);
CREATE TABLE ticks (
    tick INTEGER PRIMARY KEY,
    scheduled_ns INTEGER NOT NULL,
    started_ns INTEGER NOT NULL,
    wall_ns INTEGER NOT NULL
);
CREATE TABLE observations (
    tick INTEGER NOT NULL,
    node TEXT NOT NULL,
    send_ns INTEGER NOT NULL,
    recv_ns INTEGER NOT NULL,
    wall_ns INTEGER NOT NULL,
    role TEXT NOT NULL,
    epoch INTEGER,
    leader TEXT,
    reason TEXT,
    detail TEXT,
    self_id TEXT,
    PRIMARY KEY (tick, node)
) WITHOUT ROWID;
CREATE TABLE group_roles (
    tick INTEGER NOT NULL,
    node TEXT NOT NULL,
    grp TEXT NOT NULL,
    role TEXT NOT NULL,
    epoch INTEGER,
    PRIMARY KEY (tick, node, grp)
);
CREATE TABLE compacted_runs (
    id INTEGER PRIMARY KEY,
    node TEXT NOT NULL,
    first_tick INTEGER NOT NULL,
    last_tick INTEGER NOT NULL,
    role TEXT NOT NULL,
    count INTEGER NOT NULL,
    max_rtt_ns INTEGER NOT NULL
);
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    mono_ns INTEGER NOT NULL,
    wall_ns INTEGER NOT NULL,
    node TEXT,
    kind TEXT NOT NULL,
    data TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX events_time ON events (mono_ns);
CREATE TABLE operations (
    idx INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    node TEXT NOT NULL,
    send_ns INTEGER NOT NULL,
    recv_ns INTEGER NOT NULL,
    wall_ns INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    value TEXT,
    epoch INTEGER,
    detail TEXT,
    key TEXT,
    expect TEXT
);
CREATE TABLE findings (
    id INTEGER PRIMARY KEY,
    node_a TEXT NOT NULL,
    node_b TEXT NOT NULL,
    epoch_a INTEGER,
    epoch_b INTEGER,
    start_ns INTEGER NOT NULL,
    end_ns INTEGER NOT NULL,
    certain INTEGER NOT NULL
);
CREATE TABLE dropped (
    id INTEGER PRIMARY KEY,
    first_tick INTEGER NOT NULL,
    last_tick INTEGER NOT NULL,
    first_started_ns INTEGER NOT NULL,
    last_started_ns INTEGER NOT NULL,
    ticks INTEGER NOT NULL,
    observations INTEGER NOT NULL,
    unknown INTEGER NOT NULL,
    multi_leader_ticks INTEGER NOT NULL
);
CREATE TABLE final_reads (
    id INTEGER PRIMARY KEY,
    node TEXT NOT NULL,
    send_ns INTEGER NOT NULL,
    recv_ns INTEGER NOT NULL,
    wall_ns INTEGER NOT NULL,
    ok INTEGER NOT NULL,
    detail TEXT,
    vals TEXT
);
"""


P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


class FindingLike(Protocol):
    """An overlap piece as the analysis finds it (`analysis.Overlap`): the store keeps its fields."""

    @property
    def nodes(self) -> tuple[str, str]: ...
    @property
    def epochs(self) -> tuple[int | None, int | None]: ...
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...
    @property
    def certain(self) -> bool: ...


class Finding(NamedTuple):
    """A stored overlap piece (fields in `analysis.Overlap`'s order)."""

    nodes: tuple[str, str]
    epochs: tuple[int | None, int | None]
    start: int
    end: int
    certain: bool


class Dropped(NamedTuple):
    """What a run of deleted ticks held, counted before they went (`watch --retain`)."""

    first_tick: int
    last_tick: int
    first_started_ns: int
    last_started_ns: int
    ticks: int
    observations: int
    unknown: int
    multi_leader_ticks: int


class HistoryError(Exception):
    """A run directory or database we cannot use; the message is printable as is."""


class Writer:
    """One thread that runs the writes of histories in order, so an event loop that records many
    clusters only queues them. sqlite3 releases the GIL while SQLite works, so the commits (~100 µs
    each, one per tick per cluster) run beside the loop instead of in it (docs/benchmarks.md)."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="quorumwatch-writer", daemon=True)
        self.thread.start()

    def submit(self, job: Callable[[], None]) -> None:
        self._queue.put(job)

    def flush(self) -> None:
        """Return once every write queued before is done."""
        if threading.current_thread() is self.thread:
            return
        done = threading.Event()
        self._queue.put(done.set)
        done.wait()

    def close(self) -> None:
        self._queue.put(None)
        self.thread.join()

    def _run(self) -> None:
        while (job := self._queue.get()) is not None:
            job()


def _queued(
    method: Callable[Concatenate[HistoryFile, P], R],
) -> Callable[Concatenate[HistoryFile, P], R | None]:
    """A write that a history with a `Writer` queues (returning None) instead of running. The first
    failure is raised by the next write or `close`, naming what failed: nothing after it is written."""

    def write(self: HistoryFile, /, *args: P.args, **kwargs: P.kwargs) -> R | None:
        writer = self._writer
        if writer is None or threading.current_thread() is writer.thread:
            return method(self, *args, **kwargs)
        self.raise_failure()

        def job() -> None:
            if self._failure is None:
                try:
                    method(self, *args, **kwargs)
                except Exception as exc:  # kept for the loop's thread, which reports it
                    self._failure = exc

        writer.submit(job)
        return None

    functools.update_wrapper(write, method)
    return write


def _reading(
    what: str,
) -> Callable[[Callable[Concatenate[HistoryFile, P], R]], Callable[Concatenate[HistoryFile, P], R]]:
    """A read, run after the writes queued before it. Its failure on a damaged database (a missing
    table or column, text that is not UTF-8, a value quorumwatch never writes) is a HistoryError
    saying what could not be read."""

    def wrap(method: Callable[Concatenate[HistoryFile, P], R]) -> Callable[Concatenate[HistoryFile, P], R]:
        def read(self: HistoryFile, /, *args: P.args, **kwargs: P.kwargs) -> R:
            try:
                self._sync()  # after the writes queued before it
                return method(self, *args, **kwargs)
            except (sqlite3.Error, ValueError, TypeError) as exc:
                raise HistoryError(f"{self.path}: cannot read the {what}: {exc}") from None

        functools.update_wrapper(read, method)
        return read

    return wrap


class HistoryFile:
    """Writer and reader of one run's history database."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._db = conn
        # the one cursor writes go through: `conn.execute` makes a Cursor (and a weak reference to
        # it) every call, ~4,000 a second at 100 clusters, which the cyclic collector then walks
        self._w = conn.cursor()
        self.path = path
        self._version = SCHEMA_VERSION
        self._writer: Writer | None = None
        self._failure: Exception | None = None
        self._kept_before: tuple[int, dict[str, Observation]] | None = None
        """Where the last compaction pass ended, and each node's last stored answer before it."""
        self._tails: dict[str, tuple[int, int]] = {}
        self._compacted_through: int | None = None

    def write_from(self, writer: Writer) -> None:
        """From now on, writes are queued to `writer`'s thread (reads wait for them first)."""
        self._writer = writer

    def raise_failure(self) -> None:
        """Raise what a queued write failed with, if one did."""
        if self._failure is not None:
            raise self._failure

    def _sync(self) -> None:
        if self._writer is not None:
            self._writer.flush()
            self.raise_failure()

    # ---- opening ----

    @classmethod
    def create(cls, path: Path, nodes: list[str], meta: dict[str, str]) -> HistoryFile:
        if path.exists():
            raise HistoryError(f"{path}: already exists; choose another --run-dir")
        path.parent.mkdir(parents=True, exist_ok=True)
        # used from a Writer's thread when given one; `_queued` keeps the use serial
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        # pages that compaction and --retain free go back to the file system (before any table)
        db.execute("PRAGMA auto_vacuum=INCREMENTAL")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("BEGIN")
        for statement in _statements(_SCHEMA):
            db.execute(statement)
        db.executemany("INSERT INTO nodes (idx, name) VALUES (?, ?)", list(enumerate(nodes)))
        db.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", sorted(meta.items()))
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        db.execute("COMMIT")
        return cls(db, path)

    @classmethod
    def open(cls, path: Path) -> HistoryFile:
        if not path.is_file():
            raise HistoryError(f"{path}: no history database here")
        try:
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
            version = db.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise HistoryError(f"{path}: not a quorumwatch history ({exc})") from None
        if version not in READABLE_VERSIONS:
            db.close()
            raise HistoryError(
                f"{path}: history schema version {version}, this quorumwatch reads "
                f"{', '.join(map(str, READABLE_VERSIONS))}"
            )
        history = cls(db, path)
        history._version = version
        return history

    def close(self) -> None:
        """Close once every queued write is done (raising the failure of one, after closing)."""
        try:
            if self._writer is not None:
                self._writer.flush()
            if self._compacted_through is not None:  # this process compacted: return what it freed
                with contextlib.suppress(sqlite3.Error):
                    self._db.executescript("PRAGMA incremental_vacuum;")
        finally:
            self._db.close()
        self.raise_failure()

    # ---- writing ----

    @_queued
    def append_tick(self, tick: Tick, findings: Sequence[FindingLike] = ()) -> None:
        """Record one tick and its observations in one transaction, with overlap pieces that became
        final (kept even after the ticks they came from are dropped)."""
        w = self._w
        with self._transaction():
            if findings:
                self._insert_findings(findings)
            w.execute(
                "INSERT INTO ticks VALUES (?, ?, ?, ?)",
                (tick.index, tick.scheduled_ns, tick.started_ns, tick.wall_ns),
            )
            w.executemany(
                "INSERT INTO observations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        o.tick,
                        o.node,
                        o.send_ns,
                        o.recv_ns,
                        o.wall_ns,
                        o.role.letter,
                        o.epoch,
                        o.leader,
                        o.reason.value if o.reason else None,
                        o.detail,
                        o.self_id,
                    )
                    for o in tick.observations
                ],
            )
            grouped = [
                (o.tick, o.node, g.group, g.role.value, g.epoch) for o in tick.observations for g in o.groups
            ]
            if grouped:
                w.executemany("INSERT INTO group_roles VALUES (?, ?, ?, ?, ?)", grouped)

    @_queued
    def append_findings(self, findings: Sequence[FindingLike]) -> None:
        with self._transaction():
            self._insert_findings(findings)

    def _insert_findings(self, findings: Sequence[FindingLike]) -> None:
        self._w.executemany(
            "INSERT INTO findings (node_a, node_b, epoch_a, epoch_b, start_ns, end_ns, certain) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(*f.nodes, *f.epochs, f.start, f.end, f.certain) for f in findings],
        )

    @_queued
    def compact_through(self, last: int) -> int:
        """Compact the ticks up to index `last` not compacted yet (`analysis.compaction`): drop the
        observations lying between two identical answers of their node, keep them counted as runs.
        One transaction; the tick after `last` is read to judge `last`'s answers. A run that goes on
        from the previous pass extends that pass's row, so passes can be small (a watch makes one a
        second: no pause of the loop) without a row per pass and node. Returns how many went."""
        start = (
            self._compacted_through if self._compacted_through is not None else self._stored_through()
        ) + 1
        if last < start:
            return 0
        db = self._db
        cached = self._kept_before
        fresh = cached is None or cached[0] != start
        before = self._last_kept_before(start) if fresh or cached is None else cached[1]
        tails = self._run_tails() if fresh else self._tails
        ticks = list(self._read_ticks(start, last + 1))
        if not ticks:
            return 0
        kept, runs = compact(ticks, before, protect_from=self._protected_from())
        kept_at: dict[str, int] = {}  # each node's first answer kept in this pass (not the look-ahead)
        for t in kept:
            if t.index <= last:
                for o in t.observations:
                    kept_at.setdefault(o.node, t.index)
        gone = {(t.index, o.node) for t in ticks for o in t.observations} - {
            (t.index, o.node) for t in kept for o in t.observations
        }
        merged: list[tuple[int, int, int, int]] = []  # (last tick, count, max rtt, row id)
        new: list[CompactedRun] = []
        first_of_node: set[str] = set()
        for r in runs:
            tail = tails.get(r.node) if r.node not in first_of_node else None
            first_of_node.add(r.node)
            prior = before.get(r.node)
            # the same run: nothing of this node stored between the previous row's end and this one
            if (
                tail is not None
                and (prior is None or prior.tick < tail[1])
                and kept_at.get(r.node, r.first_tick + 1) > r.first_tick
            ):
                merged.append((r.last_tick, r.count, r.max_rtt_ns, tail[0]))
                tails[r.node] = (tail[0], r.last_tick)
            else:
                new.append(r)
        with self._transaction():
            db.executemany("DELETE FROM observations WHERE tick = ? AND node = ?", sorted(gone))
            db.executemany("DELETE FROM group_roles WHERE tick = ? AND node = ?", sorted(gone))
            db.executemany(
                "UPDATE compacted_runs SET last_tick = ?, count = count + ?, "
                "max_rtt_ns = max(max_rtt_ns, ?) WHERE id = ?",
                merged,
            )
            for r in new:
                cur = db.execute(
                    "INSERT INTO compacted_runs (node, first_tick, last_tick, role, count, max_rtt_ns) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (r.node, r.first_tick, r.last_tick, r.role.value, r.count, r.max_rtt_ns),
                )
                tails[r.node] = (int(cur.lastrowid or 0), r.last_tick)
            db.execute(
                "INSERT INTO meta (key, value) VALUES ('compacted_through', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(last),),
            )
        (free,) = db.execute("PRAGMA freelist_count").fetchone()
        if free > 256:  # a megabyte freed: give it back (a page per step: sqlite3_exec steps them all)
            db.executescript("PRAGMA incremental_vacuum;")
        # each node's last stored answer before the next pass, without a scan of the table
        for t in kept:
            if t.index <= last:
                for o in t.observations:
                    before[o.node] = o
        self._kept_before = (last + 1, before)
        self._tails = tails
        self._compacted_through = last
        return len(gone)

    def _stored_through(self) -> int:
        return int(self._meta_value("compacted_through") or -1)

    def _run_tails(self) -> dict[str, tuple[int, int]]:
        """Each node's last compacted run: (row id, last tick)."""
        return {
            node: (row, last)
            for row, node, last in self._db.execute(
                "SELECT id, node, last_tick FROM compacted_runs WHERE id IN "
                "(SELECT max(id) FROM compacted_runs GROUP BY node)"
            )
        }

    def _protected_from(self) -> int | None:
        """The tick compaction stops at: `PROTECT_TICKS` before the first fault's tick, if any."""
        (first,) = self._db.execute("SELECT min(mono_ns) FROM events WHERE kind = 'fault.inject'").fetchone()
        if first is None:
            return None
        (k,) = self._db.execute("SELECT min(tick) FROM ticks WHERE started_ns >= ?", (first,)).fetchone()
        if k is None:
            (k,) = self._db.execute("SELECT coalesce(max(tick), -1) + 1 FROM ticks").fetchone()
        return protected_from(int(k))

    def _meta_value(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _last_kept_before(self, start: int) -> dict[str, Observation]:
        """Each node's last stored observation before tick `start` (what a compaction pass
        compares the next answers with)."""
        out: dict[str, Observation] = {}
        for node, tick in self._db.execute(
            "SELECT node, max(tick) FROM observations WHERE tick < ? GROUP BY node", (start,)
        ).fetchall():
            for t in self._read_ticks(tick, tick):
                for o in t.observations:
                    if o.node == node:
                        out[node] = o
        return out

    @_queued
    def drop_ticks_before(self, tick: int) -> Dropped | None:
        """Delete the ticks with index below `tick` and their observations, keeping a summary of
        them, in one transaction (None: nothing to drop)."""
        db = self._db
        self._kept_before = None  # compaction compares with stored answers only
        with self._transaction():
            n, first, last, first_started, last_started = db.execute(
                "SELECT count(*), min(tick), max(tick), min(started_ns), max(started_ns) FROM ticks "
                "WHERE tick < ?",
                (tick,),
            ).fetchone()
            if not n:
                return None
            obs, unknown = db.execute(
                "SELECT count(*), coalesce(sum(role = ?), 0) FROM observations WHERE tick < ?",
                (Role.UNKNOWN.letter, tick),
            ).fetchone()
            (multi,) = db.execute(
                "SELECT count(*) FROM (SELECT tick FROM observations WHERE tick < ? AND role = ? "
                "GROUP BY tick HAVING count(*) > 1)",
                (tick, Role.LEADER.letter),
            ).fetchone()
            (compacted,) = db.execute(
                "SELECT coalesce(sum(count), 0) FROM compacted_runs WHERE last_tick < ?", (tick,)
            ).fetchone()
            db.execute("DELETE FROM compacted_runs WHERE last_tick < ?", (tick,))
            summary = Dropped(first, last, first_started, last_started, n, obs + compacted, unknown, multi)
            db.execute(
                "INSERT INTO dropped (first_tick, last_tick, first_started_ns, last_started_ns, ticks, "
                "observations, unknown, multi_leader_ticks) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                summary,
            )
            db.execute("DELETE FROM observations WHERE tick < ?", (tick,))
            db.execute("DELETE FROM group_roles WHERE tick < ?", (tick,))
            db.execute("DELETE FROM ticks WHERE tick < ?", (tick,))
        db.executescript("PRAGMA incremental_vacuum;")  # a page per step: sqlite3_exec steps them all
        return summary

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        w = self._w
        w.execute("BEGIN")
        try:
            yield
        except BaseException:
            # SQLite rolls back by itself on some errors (SQLITE_FULL): keep the original error
            if self._db.in_transaction:
                w.execute("ROLLBACK")
            raise
        w.execute("COMMIT")

    @_queued
    def append_event(self, event: Event) -> None:
        self._w.execute(
            "INSERT INTO events (mono_ns, wall_ns, node, kind, data) VALUES (?, ?, ?, ?, ?)",
            (event.mono_ns, event.wall_ns, event.node, event.kind, json.dumps(event.data, sort_keys=True)),
        )

    @_queued
    def append_operation(self, op: Operation) -> None:
        """One finished operation, committed on its own (operations finish between ticks)."""
        self._w.execute(
            "INSERT INTO operations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (op.index, op.kind, op.node, op.send_ns, op.recv_ns, op.wall_ns, op.outcome.value, op.value,
             op.epoch, op.detail, op.key, op.expect),
        )  # fmt: skip

    @_queued
    def append_final_read(self, read: FinalRead) -> None:
        vals = None if read.values is None else json.dumps(sorted(read.values))
        self._w.execute(
            "INSERT INTO final_reads (node, send_ns, recv_ns, wall_ns, ok, detail, vals) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (read.node, read.send_ns, read.recv_ns, read.wall_ns, read.values is not None, read.detail, vals),
        )

    @_queued
    def set_meta(self, key: str, value: str) -> None:
        self._w.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # ---- reading ----

    @_reading("run's metadata")
    def meta(self) -> dict[str, str]:
        return dict(self._db.execute("SELECT key, value FROM meta"))

    @_reading("node list")
    def nodes(self) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT name FROM nodes ORDER BY idx")]

    def ticks(self) -> Iterator[Tick]:
        """All recorded ticks in order, observations in the cluster's node order."""
        return self._ticks_between(None, None)

    def stored_ticks(self) -> StoredTicks:
        """The ticks as a lazy sequence (for analysing histories larger than memory)."""
        return StoredTicks(self)

    def _ticks_between(self, first: int | None, last: int | None) -> Iterator[Tick]:
        """Ticks with index in [first, last] (None: unbounded), streamed from two ordered cursors.
        A row quorumwatch would not have written is a HistoryError naming it (the ticks before it
        were read and handed on; nothing after it is guessed)."""
        return self._guarded(self._read_ticks(first, last))

    def _guarded(self, rows: Iterator[T]) -> Iterator[T]:
        """`rows` with a damaged row or database as a HistoryError saying where."""
        try:
            yield from rows
        except _Corrupt as exc:
            raise HistoryError(
                f"{self.path}: corrupt history at {exc} (the ticks before it read fine)"
            ) from None
        except sqlite3.Error as exc:
            raise HistoryError(f"{self.path}: cannot read the ticks: {exc}") from None

    def _read_ticks(self, first: int | None, last: int | None) -> Iterator[Tick]:
        self._sync()
        order = {name: i for i, name in enumerate(self.nodes())}
        where, args = _tick_range(first, last)
        obs_rows = self._db.execute(
            "SELECT tick, node, send_ns, recv_ns, wall_ns, role, epoch, leader, reason, detail, self_id "
            f"FROM observations{where} ORDER BY tick",
            args,
        )
        pending = next(obs_rows, None)
        groups = self._group_rows(where, args)
        pending_group = next(groups, None)
        for tick, scheduled, started, wall in self._db.execute(
            f"SELECT * FROM ticks{where} ORDER BY tick", args
        ):
            if not _ints(tick, scheduled, started, wall):
                raise _Corrupt(f"tick {tick!r}: its times are not integers")
            observations = []
            while pending is not None and pending[0] < tick:
                pending = next(obs_rows, None)  # observations of a tick row that is missing: not a tick
            while pending is not None and pending[0] == tick:
                observations.append(_observation(pending, self._version))
                pending = next(obs_rows, None)
            if pending_group is not None and pending_group[0] <= tick:
                by_node: dict[str, list[GroupRole]] = {}
                while pending_group is not None and pending_group[0] <= tick:
                    if pending_group[0] == tick:
                        by_node.setdefault(pending_group[1], []).append(_group_role(pending_group))
                    pending_group = next(groups, None)
                observations = [
                    dataclasses.replace(o, groups=tuple(by_node[o.node])) if o.node in by_node else o
                    for o in observations
                ]
            if len(observations) > 1:  # most ticks of a compacted history keep one answer or none
                observations.sort(key=lambda o: order.get(o.node, len(order)))
            yield Tick(tick, scheduled, started, wall, tuple(observations))

    @_reading("groups")
    def has_groups(self) -> bool:
        if self._version < 5:
            return False
        return self._db.execute("SELECT 1 FROM group_roles LIMIT 1").fetchone() is not None

    def _answers(self, indexes: Sequence[int]) -> Iterator[Answer]:
        """Observations of the ticks `indexes` (ascending) as the digest reads them, checked as
        `_observation` checks a row (a row quorumwatch would not have written is a HistoryError
        naming it); as in `_read_ticks`, observations of a tick row that is missing are no tick's."""
        return self._guarded(self._answer_rows(indexes))

    def _answer_rows(self, indexes: Sequence[int]) -> Iterator[Answer]:
        self._sync()
        first, last, at, end = indexes[0], indexes[-1], 0, len(indexes)
        roles = _ROLE_OF_LETTER if self._version >= 6 else {r.value: r for r in Role}
        self._check_rows(first, last, roles)
        rows = self._db.execute(
            # the text columns the digest does not use are read too: text that is not UTF-8 is a
            # damaged history wherever it is
            "SELECT tick, node, send_ns, recv_ns, role, epoch, leader, reason, detail, self_id "
            "FROM observations WHERE tick BETWEEN ? AND ? ORDER BY tick",
            (first, last),
        )
        for tick, node, send, recv, role, epoch, *_ in rows:
            while at < end and indexes[at] < tick:
                at += 1
            if at < end and indexes[at] == tick:
                yield Answer(tick, node, send, recv, roles[role], epoch)

    def _check_rows(self, first: int, last: int, roles: Mapping[str, Role]) -> None:
        """Raise _Corrupt naming the first observation of ticks [first, last] quorumwatch would not
        have written (what `_observation` checks), found by SQLite in one pass."""
        known = ", ".join("'" + r.replace("'", "''") + "'" for r in roles)
        reasons = ", ".join(f"'{r.value}'" for r in Reason)
        bad = self._db.execute(
            "SELECT tick, node, role, reason, typeof(tick) = 'integer' AND typeof(send_ns) = 'integer' "
            "AND typeof(recv_ns) = 'integer' AND typeof(wall_ns) = 'integer' "
            "AND typeof(epoch) IN ('integer', 'null') FROM observations "
            "WHERE tick BETWEEN ? AND ? AND NOT (typeof(tick) = 'integer' AND typeof(send_ns) = 'integer' "
            "AND typeof(recv_ns) = 'integer' AND typeof(wall_ns) = 'integer' "
            f"AND typeof(epoch) IN ('integer', 'null') AND role IN ({known}) "
            f"AND (reason IS NULL OR reason = '' OR reason IN ({reasons}))) ORDER BY tick LIMIT 1",
            (first, last),
        ).fetchone()
        if bad is None:
            return
        tick, node, role, reason, ints = bad
        if not ints:
            raise _Corrupt(f"tick {tick!r}, node {node!r}: times or epoch are not integers")
        if role not in roles:
            raise _Corrupt(f"tick {tick!r}, node {node!r}: unknown role {role!r}")
        raise _Corrupt(f"tick {tick!r}, node {node!r}: {reason!r} is not a valid Reason")

    def _group_rows(self, where: str, args: tuple[int, ...]) -> Iterator[tuple[Any, ...]]:
        if self._version < 5:
            return iter(())
        query = f"SELECT tick, node, grp, role, epoch FROM group_roles{where} ORDER BY tick, node, grp"
        return iter(self._db.execute(query, args))

    @_reading("tick index")
    def tick_index(self) -> tuple[array[int], array[int]]:
        """Every tick's index and start time, in order (16 bytes a tick)."""
        # a column at a time: array.extend over a cursor, not two appends per row
        indexes = array("q", (r[0] for r in self._db.execute("SELECT tick FROM ticks ORDER BY tick")))
        starts = array("q", (r[0] for r in self._db.execute("SELECT started_ns FROM ticks ORDER BY tick")))
        return indexes, starts

    @_reading("events")
    def events(self) -> list[Event]:
        return [
            Event(m, w, n, k, json.loads(d))
            for m, w, n, k, d in self._db.execute(
                "SELECT mono_ns, wall_ns, node, kind, data FROM events ORDER BY mono_ns, id"
            )
        ]

    def operations(self) -> Iterator[Operation]:
        """Recorded operations in sending order (none in a version-1 history)."""
        try:
            yield from self._operations()
        except (sqlite3.Error, ValueError, TypeError) as exc:
            raise HistoryError(f"{self.path}: cannot read the operations: {exc}") from None
        except KeyError as exc:
            raise HistoryError(f"{self.path}: cannot read the operations: unknown kind {exc}") from None

    def _operations(self) -> Iterator[Operation]:
        self._sync()
        if self._version < 2:
            return
        for r in self._db.execute("SELECT * FROM operations ORDER BY idx"):
            yield Operation(
                r[0], _OPERATION_KINDS[r[1]], r[2], r[3], r[4], r[5], Outcome(r[6]), r[7], r[8], r[9],
                *((r[10], r[11]) if self._version >= 4 else ()),
            )  # fmt: skip

    @_reading("recorded findings")
    def findings(self) -> list[Finding]:
        """Overlap pieces recorded as they became final (none before version 3)."""
        if self._version < 3:
            return []
        return [
            Finding((a, b), (ea, eb), s, e, bool(c))
            for a, b, ea, eb, s, e, c in self._db.execute(
                "SELECT node_a, node_b, epoch_a, epoch_b, start_ns, end_ns, certain FROM findings ORDER BY id"
            )
        ]

    @_reading("compacted runs")
    def compacted_runs(self) -> list[CompactedRun]:
        """What compaction dropped (none before version 6)."""
        if self._version < 6:
            return []
        out = []
        roles = {r.value: r for r in Role}  # a lookup, not an enum call, per run of a million
        for node, first, last, role, count, rtt in self._db.execute(
            "SELECT node, first_tick, last_tick, role, count, max_rtt_ns FROM compacted_runs ORDER BY id"
        ):
            r = roles.get(role)
            if r is None:
                raise HistoryError(f"{self.path}: corrupt compacted run of {node!r}: role {role!r}")
            out.append(CompactedRun(node, first, last, r, count, rtt))
        return out

    @_reading("dropped-tick summaries")
    def dropped(self) -> list[Dropped]:
        """Summaries of the ticks a `watch --retain` deleted, oldest first."""
        if self._version < 3:
            return []
        return [
            Dropped(*r)
            for r in self._db.execute("SELECT " + ", ".join(Dropped._fields) + " FROM dropped ORDER BY id")
        ]

    @_reading("final reads")
    def final_reads(self) -> list[FinalRead]:
        if self._version < 2:
            return []
        return [
            FinalRead(n, s, r, w, None if v is None else frozenset(json.loads(v)), d)
            for n, s, r, w, _, d, v in self._db.execute(
                "SELECT node, send_ns, recv_ns, wall_ns, ok, detail, vals FROM final_reads ORDER BY id"
            )
        ]


_OPERATION_KINDS = {k.value: k for k in OperationKind}
"""Stored spellings to kinds: a dict lookup, not an enum call, per operation of a million."""


class StoredTicks(Sequence[Tick]):
    """A history's ticks as a sequence that holds none of them: iterating streams them from SQLite,
    a slice is another such view, one item is one query. What `analyze` reads a long history
    through, so its memory does not grow with the history's length."""

    def __init__(
        self,
        history: HistoryFile,
        index: tuple[array[int], array[int]] | None = None,
        positions: range | None = None,
    ) -> None:
        self._history = history
        self._index = index if index is not None else history.tick_index()
        self._indexes, self.starts = self._index
        self._range = range(len(self._indexes)) if positions is None else positions

    def __len__(self) -> int:
        return len(self._range)

    @overload
    def __getitem__(self, i: int) -> Tick: ...
    @overload
    def __getitem__(self, i: slice) -> StoredTicks: ...
    def __getitem__(self, i: int | slice) -> Tick | StoredTicks:
        if isinstance(i, slice):
            positions = self._range[i]
            if positions.step != 1:
                raise ValueError("StoredTicks slices go forward one tick at a time")
            return StoredTicks(self._history, self._index, positions)
        k = self._indexes[self._range[i]]
        return next(self._history._ticks_between(k, k))

    def __iter__(self) -> Iterator[Tick]:
        if not self._range:
            return iter(())
        first, last = self._indexes[self._range[0]], self._indexes[self._range[-1]]
        return self._history._ticks_between(first, last)

    def columns(self) -> Columns | None:
        """The ticks' indexes and starts and every observation as a row, for the digest (a day of
        ticks is not built to be read once); None for a history with groups (read as ticks)."""
        r = self._range
        indexes, starts = self._indexes[r.start : r.stop], self.starts[r.start : r.stop]
        if self._history.has_groups():
            return None
        answers = self._history._answers(indexes) if r else iter(())
        return Columns(indexes, starts, answers)


def _tick_range(first: int | None, last: int | None) -> tuple[str, tuple[int, ...]]:
    if first is None or last is None:
        return "", ()
    return " WHERE tick BETWEEN ? AND ?", (first, last)


class _Corrupt(Exception):
    """A row that quorumwatch does not write (the message says where)."""


def _ints(*values: object) -> bool:
    return all(type(v) is int for v in values)


_ROLE_OF_LETTER = {r.letter: r for r in Role}
"""Observations store a role as its letter from version 6 on (a byte, not eight: most of a row)."""


def _observation(r: tuple[Any, ...], version: int = SCHEMA_VERSION) -> Observation:
    if not _ints(r[0], r[2], r[3], r[4]) or (r[6] is not None and type(r[6]) is not int):
        raise _Corrupt(f"tick {r[0]!r}, node {r[1]!r}: times or epoch are not integers")
    if version >= 6 and r[5] not in _ROLE_OF_LETTER:
        raise _Corrupt(f"tick {r[0]!r}, node {r[1]!r}: unknown role {r[5]!r}")
    try:
        role = _ROLE_OF_LETTER[r[5]] if version >= 6 else Role(r[5])
        reason = Reason(r[8]) if r[8] else None
    except ValueError as exc:
        raise _Corrupt(f"tick {r[0]!r}, node {r[1]!r}: {exc}") from None
    return Observation(
        node=r[1],
        tick=r[0],
        send_ns=r[2],
        recv_ns=r[3],
        wall_ns=r[4],
        role=role,
        epoch=r[6],
        leader=r[7],
        reason=reason,
        detail=r[9],
        self_id=r[10],
    )


def _group_role(r: tuple[Any, ...]) -> GroupRole:
    if r[4] is not None and type(r[4]) is not int:
        raise _Corrupt(f"tick {r[0]!r}, node {r[1]!r}, group {r[2]!r}: the epoch is not an integer")
    try:
        return GroupRole(str(r[2]), Role(r[3]), r[4])
    except ValueError as exc:
        raise _Corrupt(f"tick {r[0]!r}, node {r[1]!r}, group {r[2]!r}: {exc}") from None


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def new_run_dir(base: Path, cluster: str, explicit: Path | None, now_utc: str) -> Path:
    """`runs/<cluster>/<UTC time>/` with a `latest` link beside it, or the directory the user named."""
    if explicit is not None:
        if (explicit / HISTORY_FILE).exists():
            raise HistoryError(f"{explicit}: already holds a history; choose another --run-dir")
        explicit.mkdir(parents=True, exist_ok=True)
        return explicit
    parent = base / cluster
    parent.mkdir(parents=True, exist_ok=True)
    run = parent / now_utc
    n = 1
    while run.exists():
        n += 1
        run = parent / f"{now_utc}-{n}"
    run.mkdir()
    latest = parent / "latest"
    tmp = parent / f".latest-{run.name}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(run.name)
    tmp.replace(latest)
    return run


def resolve_run_dir(path: Path) -> Path:
    """Accept a run directory, its history file, or a `runs/<cluster>` folder (→ its latest run)."""
    if path.is_file() and path.name == HISTORY_FILE:
        return path.parent
    if (path / HISTORY_FILE).is_file():
        return path
    if (path / "latest" / HISTORY_FILE).is_file():
        return (path / "latest").resolve()
    raise HistoryError(f"{path}: not a run directory (no {HISTORY_FILE})")
