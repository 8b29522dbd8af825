"""An experiment end to end against scripted nodes, with a local command as the fault: steady
state, trials, journal before inject, heal, events in the history, and heal on errors."""

from __future__ import annotations

import asyncio
import io
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from quorumwatch.config import ClusterConfig
from quorumwatch.experiment import Experiment, ExperimentResult
from quorumwatch.faults.heal import pending
from quorumwatch.model import Event
from quorumwatch.report.lines import LineFormatter, event_line
from quorumwatch.scenario import Scenario
from quorumwatch.watcher import prepare_run, watch
from tests.responders import EtcdLikeCluster


@pytest.fixture(autouse=True)
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUORUMWATCH_STATE", str(tmp_path / "state"))


def py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def scenario(marker: Path, journal: Path, **kw: object) -> Scenario:
    # the inject step checks that its heal is already journaled (fsynced) before it runs
    inject = py(
        f"import json,sys; lines=open({str(journal)!r}).read().splitlines(); "
        f"sys.exit(0 if json.loads(lines[-1])['op']=='arm' else 3); "
    )
    data = {
        "steady_state": {"leaders": 1, "for": 0.3, "within": 10},
        "faults": [
            {
                "kind": "command",
                "local": True,
                "inject": inject,
                "heal": py(f"open({str(marker)!r}, 'a').write('h')"),
                "after": 0.1,
                "hold": 0.3,
            }
        ],
        "trials": 2,
        "cooldown": 0.1,
    }
    data.update(kw)
    return Scenario.model_validate(data)


def run(tmp_path: Path, s: Scenario, roles: list[str]) -> tuple[ExperimentResult, Path, str]:
    import io

    with EtcdLikeCluster(roles) as fake:
        (tmp_path / "c.yaml").write_text(fake.cluster_yaml())
        from quorumwatch.config import load_cluster

        cluster: ClusterConfig = load_cluster(tmp_path / "c.yaml")
        run_dir, history = prepare_run(cluster, tmp_path / "run")
        out = io.StringIO()
        result = drive(Experiment(s, cluster, history, run_dir, show=shown(out)), out)
        history.close()
    return result, run_dir, out.getvalue()


def shown(out: io.StringIO) -> Callable[[Event], None]:
    def show(ev: Event) -> None:
        line = event_line(ev)
        if line:
            out.write(line + "\n")

    return show


def drive(exp: Experiment, out: io.StringIO) -> ExperimentResult:
    """The experiment as one actor of a run, as the session drives it."""
    formatter = LineFormatter(changes_only=True)
    asyncio.run(watch(exp.cluster, exp.history, duration_s=None, formatter=formatter, out=out, schedule=exp))
    return exp.result()


def test_trials_inject_and_heal_with_journal_first(tmp_path: Path) -> None:
    marker = tmp_path / "healed"
    run_dir = tmp_path / "run"
    result, run_dir, out = run(tmp_path, scenario(marker, run_dir / "heal-journal.jsonl"), ["F", "L", "F"])
    assert result.errors == []
    assert [t.converged for t in result.trials] == [True, True]
    assert marker.read_text() == "hh"
    assert pending(run_dir / "heal-journal.jsonl") == []
    assert "steady state reached (before the first trial)" in out
    assert out.count("running cmd: ") == 4 and "trial 2/2 starts" in out

    from quorumwatch.store import HistoryFile

    kinds = [e.kind for e in HistoryFile.open(run_dir / "history.sqlite").events()]
    assert kinds.count("fault.inject") == 2 and kinds.count("fault.heal") == 2
    assert kinds.index("fault.inject") < kinds.index("fault.heal")


def test_no_steady_state_is_an_error_and_nothing_is_injected(tmp_path: Path) -> None:
    marker = tmp_path / "healed"
    s = scenario(
        marker, tmp_path / "run" / "heal-journal.jsonl", steady_state={"leaders": 1, "for": 0.3, "within": 1}
    )
    result, run_dir, _ = run(tmp_path, s, ["L", "L", "F"])
    assert result.errors and "steady state (1 leader(s) for 0.3 s) not reached within 1 s" in result.errors[0]
    assert not (run_dir / "heal-journal.jsonl").exists()
    assert not marker.exists()


def test_failed_inject_is_healed_and_reported(tmp_path: Path) -> None:
    marker = tmp_path / "healed"
    s = Scenario.model_validate(
        {
            "steady_state": {"for": 0.2, "within": 10},
            "faults": [
                {
                    "kind": "command",
                    "local": True,
                    "inject": py("import sys; sys.exit(4)"),
                    "heal": py(f"open({str(marker)!r}, 'a').write('h')"),
                    "hold": 5,
                }
            ],
        }
    )
    result, run_dir, _ = run(tmp_path, s, ["L", "F", "F"])
    assert result.errors and "exit 4" in result.errors[0]
    assert marker.read_text() == "h"  # healed although the inject failed half-way
    assert pending(run_dir / "heal-journal.jsonl") == []


def test_a_full_disk_ends_the_run_with_its_own_error_and_faults_healed(tmp_path: Path) -> None:
    """An actor's failure (here the recorder, as the engine's sink) ends the run at once with that
    actor's error, not with a later symptom ("steady state not reached"); the fault is healed."""
    import io

    from quorumwatch.config import load_cluster

    marker = tmp_path / "healed"
    s = scenario(marker, tmp_path / "run" / "heal-journal.jsonl", trials=1)
    s = s.model_copy(update={"faults": [s.faults[0].model_copy(update={"hold": 30.0})]})
    with EtcdLikeCluster(["L", "F", "F"]) as fake:
        (tmp_path / "c.yaml").write_text(fake.cluster_yaml())
        cluster = load_cluster(tmp_path / "c.yaml")
        run_dir, history = prepare_run(cluster, tmp_path / "run")
        db = history._db
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        db.execute(f"PRAGMA max_page_count={pages + 1}")  # a real SQLite "database or disk is full"
        exp = Experiment(s, cluster, history, run_dir)
        t0 = time.monotonic()
        result = drive(exp, io.StringIO())
        took = time.monotonic() - t0
        history.close()
    assert result.errors and result.errors[0].startswith("probes stopped: recording to ")
    assert "database or disk is full" in result.errors[0]
    assert marker.read_text() == "h"  # healed first
    assert pending(run_dir / "heal-journal.jsonl") == []  # the journal is its own file, fsynced
    assert took < 25  # ended by the failure, not by the 30 s hold
