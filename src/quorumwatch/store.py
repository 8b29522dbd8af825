"""The history: one SQLite database per run, append-only, committed every tick.

WAL mode with synchronous=NORMAL: a crash or kill -9 loses at most the tick being written.
The schema is versioned with `PRAGMA user_version`; readers refuse versions they do not know.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from quorumwatch.model import Event, FinalRead, Observation, Operation, Outcome, Reason, Role, Tick

SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)
"""Version 1 had no workload tables; such histories read as runs without a workload."""
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
    detail TEXT
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


class HistoryError(Exception):
    """A run directory or database we cannot use; the message is printable as is."""


class History:
    """Writer and reader of one run's history database."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._db = conn
        self.path = path
        self._version = SCHEMA_VERSION

    # ---- opening ----

    @classmethod
    def create(cls, path: Path, nodes: list[str], meta: dict[str, str]) -> History:
        if path.exists():
            raise HistoryError(f"{path}: already exists; choose another --run-dir")
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, isolation_level=None)
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
    def open(cls, path: Path) -> History:
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
        self._db.close()

    # ---- writing ----

    def append_tick(self, tick: Tick) -> None:
        """Record one tick and its observations in one transaction."""
        db = self._db
        db.execute("BEGIN")
        try:
            db.execute(
                "INSERT INTO ticks VALUES (?, ?, ?, ?)",
                (tick.index, tick.scheduled_ns, tick.started_ns, tick.wall_ns),
            )
            db.executemany(
                "INSERT INTO observations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        o.tick,
                        o.node,
                        o.send_ns,
                        o.recv_ns,
                        o.wall_ns,
                        o.role.value,
                        o.epoch,
                        o.leader,
                        o.reason.value if o.reason else None,
                        o.detail,
                        o.self_id,
                    )
                    for o in tick.observations
                ],
            )
        except BaseException:
            # SQLite rolls back by itself on some errors (SQLITE_FULL): keep the original error
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def append_event(self, event: Event) -> None:
        self._db.execute(
            "INSERT INTO events (mono_ns, wall_ns, node, kind, data) VALUES (?, ?, ?, ?, ?)",
            (event.mono_ns, event.wall_ns, event.node, event.kind, json.dumps(event.data, sort_keys=True)),
        )

    def append_operation(self, op: Operation) -> None:
        """One finished operation, committed on its own (operations finish between ticks)."""
        self._db.execute(
            "INSERT INTO operations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (op.index, op.kind, op.node, op.send_ns, op.recv_ns, op.wall_ns, op.outcome.value, op.value,
             op.epoch, op.detail),
        )  # fmt: skip

    def append_final_read(self, read: FinalRead) -> None:
        vals = None if read.values is None else json.dumps(sorted(read.values))
        self._db.execute(
            "INSERT INTO final_reads (node, send_ns, recv_ns, wall_ns, ok, detail, vals) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (read.node, read.send_ns, read.recv_ns, read.wall_ns, read.values is not None, read.detail, vals),
        )

    def set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # ---- reading ----

    def meta(self) -> dict[str, str]:
        return dict(self._db.execute("SELECT key, value FROM meta"))

    def nodes(self) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT name FROM nodes ORDER BY idx")]

    def ticks(self) -> Iterator[Tick]:
        """All recorded ticks in order, observations in the cluster's node order."""
        order = {name: i for i, name in enumerate(self.nodes())}
        obs_rows = self._db.execute(
            "SELECT tick, node, send_ns, recv_ns, wall_ns, role, epoch, leader, reason, detail, self_id "
            "FROM observations ORDER BY tick"
        )
        pending = next(obs_rows, None)
        for tick, scheduled, started, wall in self._db.execute("SELECT * FROM ticks ORDER BY tick"):
            observations = []
            while pending is not None and pending[0] == tick:
                observations.append(_observation(pending))
                pending = next(obs_rows, None)
            observations.sort(key=lambda o: order.get(o.node, len(order)))
            yield Tick(tick, scheduled, started, wall, tuple(observations))

    def events(self) -> list[Event]:
        return [
            Event(m, w, n, k, json.loads(d))
            for m, w, n, k, d in self._db.execute(
                "SELECT mono_ns, wall_ns, node, kind, data FROM events ORDER BY mono_ns, id"
            )
        ]

    def operations(self) -> Iterator[Operation]:
        """Recorded operations in sending order (none in a version-1 history)."""
        if self._version < 2:
            return
        for r in self._db.execute("SELECT * FROM operations ORDER BY idx"):
            yield Operation(r[0], r[1], r[2], r[3], r[4], r[5], Outcome(r[6]), r[7], r[8], r[9])

    def final_reads(self) -> list[FinalRead]:
        if self._version < 2:
            return []
        return [
            FinalRead(n, s, r, w, None if v is None else frozenset(json.loads(v)), d)
            for n, s, r, w, _, d, v in self._db.execute(
                "SELECT node, send_ns, recv_ns, wall_ns, ok, detail, vals FROM final_reads ORDER BY id"
            )
        ]


def _observation(r: tuple[Any, ...]) -> Observation:
    return Observation(
        node=r[1],
        tick=r[0],
        send_ns=r[2],
        recv_ns=r[3],
        wall_ns=r[4],
        role=Role(r[5]),
        epoch=r[6],
        leader=r[7],
        reason=Reason(r[8]) if r[8] else None,
        detail=r[9],
        self_id=r[10],
    )


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
