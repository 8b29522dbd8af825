"""The history database: round trip, schema version, one commit per tick (kill -9 safe)."""

from __future__ import annotations

import dataclasses
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quorumwatch.analysis.digest import digest
from quorumwatch.model import Event, Observation, OperationKind, Reason, Role, Tick
from quorumwatch.store import HISTORY_FILE, HistoryError, HistoryFile, new_run_dir, resolve_run_dir
from tests.test_analysis import history
from tests.test_analysis_props import Truth, histories


def make_tick(k: int) -> Tick:
    return Tick(
        k,
        k * 100,
        k * 100 + 1,
        10_000 + k,
        (
            Observation("n1", k, k * 100 + 2, k * 100 + 5, 10_000 + k, Role.LEADER, 3, "abc", self_id="abc"),
            Observation(
                "n2",
                k,
                k * 100 + 2,
                k * 100 + 80,
                10_000 + k,
                Role.UNKNOWN,
                reason=Reason.TIMEOUT,
                detail="no answer",
            ),
        ),
    )


def test_round_trip(tmp_path: Path) -> None:
    h = HistoryFile.create(tmp_path / HISTORY_FILE, ["n1", "n2"], {"cluster": "c"})
    ticks = [make_tick(k) for k in range(5)]
    for t in ticks:
        h.append_tick(t)
    h.append_event(Event(7, 8, "n1", "fault.inject", {"cmd": ["ip", "link"]}))
    h.close()
    r = HistoryFile.open(tmp_path / HISTORY_FILE)
    assert list(r.ticks()) == ticks
    assert r.nodes() == ["n1", "n2"]
    assert r.meta()["cluster"] == "c"
    assert r.events() == [Event(7, 8, "n1", "fault.inject", {"cmd": ["ip", "link"]})]
    r.close()


def test_wal_mode_and_schema_version(tmp_path: Path) -> None:
    HistoryFile.create(tmp_path / HISTORY_FILE, ["n1"], {}).close()
    db = sqlite3.connect(tmp_path / HISTORY_FILE)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.execute("PRAGMA user_version=99")
    db.commit()
    db.close()
    with pytest.raises(HistoryError, match="schema version 99"):
        HistoryFile.open(tmp_path / HISTORY_FILE)


def test_not_a_database(tmp_path: Path) -> None:
    (tmp_path / HISTORY_FILE).write_bytes(b"garbage" * 100)
    with pytest.raises(HistoryError, match="not a quorumwatch history"):
        HistoryFile.open(tmp_path / HISTORY_FILE)


def test_existing_history_is_never_overwritten(tmp_path: Path) -> None:
    HistoryFile.create(tmp_path / HISTORY_FILE, ["n1"], {}).close()
    with pytest.raises(HistoryError, match="already"):
        HistoryFile.create(tmp_path / HISTORY_FILE, ["n1"], {})
    with pytest.raises(HistoryError, match="already holds a history"):
        new_run_dir(tmp_path / "runs", "c", tmp_path, "T")


def test_run_dirs_and_latest_link(tmp_path: Path) -> None:
    a = new_run_dir(tmp_path, "c1", None, "20261127T010000Z")
    b = new_run_dir(tmp_path, "c1", None, "20261127T010000Z")
    assert a != b and a.parent == b.parent == tmp_path / "c1"
    assert (tmp_path / "c1" / "latest").resolve() == b.resolve()
    HistoryFile.create(b / HISTORY_FILE, ["n"], {}).close()
    assert resolve_run_dir(tmp_path / "c1") == b.resolve()
    with pytest.raises(HistoryError, match="not a run directory"):
        resolve_run_dir(a)


WRITER = """
import sys, time
from pathlib import Path
sys.path.insert(0, {src!r})
sys.path.insert(0, {root!r})
from tests.test_store import make_tick
from quorumwatch.store import HistoryFile
h = HistoryFile.create(Path({db!r}), ["n1", "n2"], {{}})
k = 0
while True:
    h.append_tick(make_tick(k))
    print(k, flush=True)
    k += 1
    time.sleep(0.002)
"""


def test_kill_9_loses_at_most_the_tick_being_written(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parent.parent
    db = tmp_path / HISTORY_FILE
    code = WRITER.format(src=str(root / "src"), root=str(root), db=str(db))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        last = -1
        deadline = time.monotonic() + 30
        while last < 50 and time.monotonic() < deadline:
            last = int(proc.stdout.readline())
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    recorded = list(HistoryFile.open(db).ticks())
    # every tick reported as written is there, whole, in order
    assert len(recorded) >= last + 1
    assert [t.index for t in recorded] == list(range(len(recorded)))
    assert all(len(t.observations) == 2 for t in recorded)


def test_operations_and_final_reads_round_trip(tmp_path: Path) -> None:
    from quorumwatch.model import FinalRead, Operation, Outcome

    h = HistoryFile.create(tmp_path / HISTORY_FILE, ["n1"], {})
    ops = [
        Operation(0, OperationKind.ADD, "n1", 10, 20, 30, Outcome.OK, "0", 4),
        Operation(1, OperationKind.ID, "n1", 11, 25, 31, Outcome.UNKNOWN, None, None, "no answer within 1 s"),
        Operation(2, OperationKind.READ, "n1", 12, 26, 32, Outcome.OK, None, 4, key="k0"),
        Operation(
            3, OperationKind.CAS, "n1", 13, 27, 33, Outcome.FAIL, "3", 4, "value was not '2'", "k1", "2"
        ),
    ]
    for o in ops:
        h.append_operation(o)
    h.append_final_read(FinalRead("n1", 40, 50, 60, frozenset({"0", "x"})))
    h.append_final_read(FinalRead("", 70, 70, 80, None, "no agreed leader"))
    h.close()
    r = HistoryFile.open(tmp_path / HISTORY_FILE)
    assert list(r.operations()) == ops
    assert r.final_reads() == [
        FinalRead("n1", 40, 50, 60, frozenset({"0", "x"})),
        FinalRead("", 70, 70, 80, None, "no agreed leader"),
    ]
    r.close()


def test_version_1_histories_still_read_as_runs_without_a_workload(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / HISTORY_FILE)
    db.executescript(
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "CREATE TABLE nodes (idx INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL);"
        "CREATE TABLE ticks (tick INTEGER PRIMARY KEY, scheduled_ns, started_ns, wall_ns);"
        "CREATE TABLE observations (tick, node, send_ns, recv_ns, wall_ns, role, epoch, leader, reason,"
        " detail, self_id);"
        "CREATE TABLE events (id INTEGER PRIMARY KEY, mono_ns, wall_ns, node, kind, data);"
        "INSERT INTO nodes VALUES (0, 'n1'); INSERT INTO ticks VALUES (0, 0, 1, 2);"
        "INSERT INTO observations VALUES (0, 'n1', 3, 4, 5, 'leader', 2, NULL, NULL, NULL, NULL);"
        "PRAGMA user_version=1;"
    )
    db.close()
    r = HistoryFile.open(tmp_path / HISTORY_FILE)
    assert [o.role for t in r.ticks() for o in t.observations] == [Role.LEADER]
    assert list(r.operations()) == [] and r.final_reads() == []
    r.close()


def test_version_3_operations_read_without_register_keys(tmp_path: Path) -> None:
    h = HistoryFile.create(tmp_path / HISTORY_FILE, ["n1"], {})
    h.close()
    db = sqlite3.connect(tmp_path / HISTORY_FILE)
    db.executescript(
        "DROP TABLE operations; CREATE TABLE operations (idx INTEGER PRIMARY KEY, kind, node, send_ns,"
        " recv_ns, wall_ns, outcome, value, epoch, detail);"
        "INSERT INTO operations VALUES (0, 'add', 'n1', 1, 2, 3, 'ok', '0', 7, NULL);"
        "PRAGMA user_version=3;"
    )
    db.close()
    r = HistoryFile.open(tmp_path / HISTORY_FILE)
    (op,) = r.operations()
    assert (op.kind, op.value, op.epoch, op.key, op.expect) == ("add", "0", 7, None, None)
    r.close()


def test_stored_ticks_are_a_lazy_sequence_equal_to_the_ticks(tmp_path: Path) -> None:
    from quorumwatch.store import StoredTicks

    h = HistoryFile.create(tmp_path / "h.sqlite", ["a", "b"], {})
    for k in (0, 1, 2, 5, 6, 9):  # gaps: skipped ticks have no row
        obs = tuple(Observation(n, k, k * 10, k * 10 + 1, 0, Role.FOLLOWER) for n in ("b", "a"))
        h.append_tick(Tick(k, k * 10, k * 10 + 1, 0, obs))
    everything = list(h.ticks())
    lazy = h.stored_ticks()
    assert isinstance(lazy, StoredTicks)
    assert len(lazy) == 6 and list(lazy) == everything
    assert list(lazy.starts) == [t.started_ns for t in everything]
    assert lazy[0] == everything[0] and lazy[-1] == everything[-1] and lazy[3].index == 5
    part = lazy[2:5]
    assert isinstance(part, StoredTicks) and [t.index for t in part] == [2, 5, 6]
    assert [t.index for t in part[1:]] == [5, 6] and part[-1].index == 6
    assert list(lazy[4:2]) == [] and len(lazy[4:2]) == 0
    assert [o.node for o in lazy[1].observations] == ["a", "b"]  # the cluster's node order
    h.close()


def test_a_history_written_by_a_background_writer_keeps_order_and_reads_wait(tmp_path: Path) -> None:
    from quorumwatch.store import Writer

    writer = Writer()
    h = HistoryFile.create(tmp_path / "h.sqlite", ["a"], {})
    h.write_from(writer)
    for k in range(200):
        h.append_tick(Tick(k, k, k, 0, (Observation("a", k, k, k + 1, 0, Role.FOLLOWER),)))
    h.set_meta("after", "200 ticks")
    # reads wait for what was queued before them
    assert [t.index for t in h.ticks()] == list(range(200)) and h.meta()["after"] == "200 ticks"
    h.close()
    writer.close()
    assert not writer.thread.is_alive()


def test_a_failed_background_write_is_raised_by_the_next_write_and_nothing_after_it_is_written(
    tmp_path: Path,
) -> None:
    from quorumwatch.store import Writer

    writer = Writer()
    h = HistoryFile.create(tmp_path / "h.sqlite", ["a"], {})
    h.write_from(writer)
    tick = Tick(0, 0, 0, 0, (Observation("a", 0, 0, 1, 0, Role.FOLLOWER),))
    h.append_tick(tick)
    h.append_tick(tick)  # the same tick again: the primary key refuses it, in the writer's thread
    h.append_tick(Tick(1, 1, 1, 0, ()))
    writer.flush()
    with pytest.raises(sqlite3.IntegrityError):
        h.append_tick(Tick(2, 2, 2, 0, ()))
    with pytest.raises(sqlite3.IntegrityError):
        h.close()  # closes, then says what failed
    writer.close()
    again = HistoryFile.open(tmp_path / "h.sqlite")
    assert [t.index for t in again.ticks()] == [0]  # what came before the failure is kept
    again.close()


def _small_run(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    h = HistoryFile.create(run / "history.sqlite", ["a", "b"], {"cluster": "c", "interval_s": "0.1"})
    for k in range(20):
        obs = tuple(Observation(n, k, k * 10**8 + 1, k * 10**8 + 2, 0, Role.FOLLOWER, 1) for n in "ab")
        h.append_tick(Tick(k, k * 10**8, k * 10**8, 0, obs))
    h.close()
    return run


OBS = "UPDATE observations SET"
CORRUPTIONS = {
    "unknown role": (f"{OBS} role='emperor' WHERE tick=3", "corrupt history at tick 3, node 'a'"),
    "unknown reason": (f"{OBS} role='X', reason='gremlins' WHERE tick=3", "'gremlins' is not a valid"),
    "text as a time": (f"{OBS} send_ns='abc' WHERE tick=4", "tick 4, node 'a': times or epoch"),
    "missing table": ("DROP TABLE events", "cannot read the events: no such table: events"),
    "missing column": (
        "ALTER TABLE observations DROP COLUMN self_id",
        "cannot read the ticks: no such column",
    ),
    "not UTF-8": (f"{OBS} detail=CAST(X'FFFE41' AS TEXT) WHERE tick=2", "Could not decode"),
}


@pytest.mark.parametrize("case", list(CORRUPTIONS))
def test_a_damaged_history_is_a_history_error_saying_where(tmp_path: Path, case: str) -> None:
    from quorumwatch.rundir import RESULTS_FILE, analyze_run
    from quorumwatch.store import HistoryError

    sql, expected = CORRUPTIONS[case]
    run = _small_run(tmp_path)
    db = sqlite3.connect(run / "history.sqlite")
    db.execute(sql)
    db.commit()
    db.close()
    with pytest.raises(HistoryError) as err:
        analyze_run(run)
    assert str(err.value).startswith(str(run / "history.sqlite")) and expected in str(err.value)
    assert not (run / RESULTS_FILE).exists()  # never a results.json from a history that did not read


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 200_000), st.integers(0, 255)), min_size=1, max_size=20))
def test_flipped_bytes_in_a_history_never_give_a_traceback(
    tmp_path: Path, flips: list[tuple[int, int]]
) -> None:
    import shutil

    from quorumwatch.rundir import analyze_run
    from quorumwatch.store import HistoryError

    shutil.rmtree(tmp_path / "run", ignore_errors=True)
    run = _small_run(tmp_path)
    path = run / "history.sqlite"
    data = bytearray(path.read_bytes())
    for at, value in flips:
        data[at % len(data)] = value
    path.write_bytes(bytes(data))
    try:
        analyze_run(run)
    except HistoryError as exc:
        message = str(exc)
        assert message.startswith(str(path)), message


def test_a_compacted_history_on_disk_analyses_as_the_whole_one_and_shrinks(tmp_path: Path) -> None:
    """Compaction passes as a watch makes them, then `analyze_run` of each copy: equal results."""
    from quorumwatch.rundir import analyze_run
    from tests.test_analysis_compaction import steady
    from tests.test_analysis_props import NODES, Truth, observe

    # n1 and n2 both lead 10-20 s: a hundred two-leader ticks, most of them inside runs that go
    truth = Truth({"n1": [(0, 20_000_000_000, 1)], "n2": [(10_000_000_000, 36_000_000_000, 2)], "n3": []})
    ticks = steady(observe(truth, 7, ticks=360), 15)  # 36 s of a mostly steady history, with timeouts
    whole, compacted, stepwise = tmp_path / "whole", tmp_path / "compacted", tmp_path / "stepwise"
    for run in (whole, compacted, stepwise):
        run.mkdir()
        h = HistoryFile.create(run / HISTORY_FILE, list(NODES), {"cluster": "c", "interval_s": "0.1"})
        for t in ticks:
            h.append_tick(t)
            if run is stepwise and t.index >= 1:  # a pass every tick, as small as they come
                h.compact_through(t.index - 1)
        if run is compacted:
            gone = sum(h.compact_through(last) or 0 for last in (100, 101, 250, 358))
            assert gone > 500
        h.close()
    _, a = analyze_run(whole, report=False)
    _, b = analyze_run(compacted, report=False)
    _, c = analyze_run(stepwise, report=False)
    assert a.data() == b.data() == c.data()
    counts = []
    for run in (compacted, stepwise):
        h = HistoryFile.open(run / HISTORY_FILE)
        counts.append((sum(len(t.observations) for t in h.ticks()), len(h.compacted_runs())))
        h.close()
    # runs that go on across passes extend one row: small passes cost no more than a big one
    assert counts[1][0] <= counts[0][0] + 3 and counts[1][1] <= counts[0][1] + 3
    back = HistoryFile.open(compacted / HISTORY_FILE)
    try:
        runs = back.compacted_runs()
        kept = sum(len(t.observations) for t in back.ticks())
    finally:
        back.close()
    assert kept + sum(r.count for r in runs) == 3 * len(ticks)
    assert (compacted / HISTORY_FILE).stat().st_size < (whole / HISTORY_FILE).stat().st_size
    # `history` prints what the watch printed: every matrix and change line, compacted or not, and
    # the same graded findings (how far one had reached when it was printed depends on answer
    # times compaction does not keep)
    import re

    from quorumwatch.rundir import replay

    def shown(run: Path) -> tuple[list[str], list[str]]:
        lines = list(replay(run, "text"))
        graded = [re.sub(r"[\d.]+ s", "", x) for x in lines if "dual leader" in x]
        return [x for x in lines if "dual leader" not in x], graded

    assert shown(compacted) == shown(whole)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(histories(), st.integers(0, 60), st.booleans())
def test_a_stored_history_digests_from_its_rows_as_from_its_ticks(
    tmp_path: Path, h: tuple[Truth, list[Tick]], compact_to: int, unknown_first: bool
) -> None:
    """The digest read from the rows (no Tick, no Observation per answer) is the one read tick by
    tick: intervals, span, counts, the ticks with several leaders, compacted or not."""
    _, ticks = h
    if unknown_first and ticks:  # a tick whose first answer is unknown, a multi-leader tick
        o = ticks[0].observations[0]
        ticks[0] = dataclasses.replace(ticks[0], observations=(dataclasses.replace(o, role=Role.UNKNOWN),))
    db = tmp_path / f"h{uuid.uuid4().hex}.sqlite"
    stored = HistoryFile.create(db, sorted({o.node for t in ticks for o in t.observations}), {})
    for t in ticks:
        stored.append_tick(t)
    if ticks and compact_to:
        stored.compact_through(ticks[min(compact_to, len(ticks)) - 1].index)
    lazy = stored.stored_ticks()
    runs = stored.compacted_runs()
    assert lazy.columns() is not None
    assert digest(lazy, runs) == digest(list(lazy), runs)
    for part in (lazy[3:], lazy[: len(lazy) // 2]):
        assert digest(part, runs) == digest(list(part), runs)
    stored.close()


def test_the_row_digest_counts_leaders_compaction_dropped(tmp_path: Path) -> None:
    """Two nodes leading at once for 40 ticks (compacted: each a run), a third saying leader
    alone at one tick, an unknown keeping answers around it: every tick with two or more leaders
    counted as the tick-by-tick digest counts it."""
    rows = {"a": "L" * 40, "b": "L" * 15 + "X" + "L" * 24, "c": "F" * 20 + "L" + "F" * 19}
    ticks = history(rows, {"a": [1] * 40, "b": [2] * 40, "c": [3] * 40})
    stored = HistoryFile.create(tmp_path / "h.sqlite", ["a", "b", "c"], {})
    for t in ticks:
        stored.append_tick(t)
    assert (stored.compact_through(ticks[-1].index) or 0) > 30
    lazy, runs = stored.stored_ticks(), stored.compacted_runs()
    fast, slow = digest(lazy, runs), digest(list(lazy), runs)
    assert fast == slow
    assert fast.multi_leader_extra + len(fast.multi_leader) == 39  # every tick but b's unknown one
    stored.close()
