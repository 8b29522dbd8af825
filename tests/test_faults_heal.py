"""The heal journal: written before inject, replayed after a crash, torn lines tolerated."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from quorumwatch.faults import FaultPlan, Step, StepRunner
from quorumwatch.faults.heal import HealError, HealJournal, open_journals, pending, read_entries, replay


@pytest.fixture(autouse=True)
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "state"
    monkeypatch.setenv("QUORUMWATCH_STATE", str(d))
    return d


def touch_plan(marker: Path, kind: str = "command") -> FaultPlan:
    heal = (Step(None, "local", (sys.executable, "-c", f"open({str(marker)!r}, 'a').write('healed\\n')")),)
    return FaultPlan(kind, ("n1",), f"test fault {marker.name}", (), heal)


def test_arm_heal_and_registry(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "c1" / "r1"
    run.mkdir(parents=True)
    j = HealJournal(run / "heal-journal.jsonl", "c1")
    a = j.arm(touch_plan(tmp_path / "a"))
    b = j.arm(touch_plan(tmp_path / "b"))
    assert (a, b) == (1, 2)
    assert [e["id"] for e in pending(j.path)] == [1, 2]
    assert [p for _, p in open_journals("c1")] == [j.path.resolve()]
    assert open_journals("other") == []
    j.healed(a)
    assert [e["id"] for e in pending(j.path)] == [2]
    j.healed(b)
    assert pending(j.path) == []
    assert open_journals() == []


def test_replay_runs_unhealed_heals_newest_first_and_marks_them(tmp_path: Path) -> None:
    run = tmp_path / "r"
    run.mkdir()
    j = HealJournal(run / "heal-journal.jsonl", "c1")
    j.arm(touch_plan(tmp_path / "first"))
    j.arm(touch_plan(tmp_path / "second"))
    said: list[str] = []
    failures = asyncio.run(replay(j.path, StepRunner(), said.append))
    assert failures == []
    assert (tmp_path / "first").read_text() == "healed\n" and (tmp_path / "second").read_text() == "healed\n"
    assert said[0].startswith("healing test fault second")
    assert pending(j.path) == []
    # replaying again does nothing: heals are not run twice
    assert asyncio.run(replay(j.path, StepRunner(), said.append)) == []
    assert (tmp_path / "first").read_text() == "healed\n"


def test_failed_heal_stays_pending(tmp_path: Path) -> None:
    run = tmp_path / "r"
    run.mkdir()
    j = HealJournal(run / "heal-journal.jsonl", "c1")
    j.arm(FaultPlan("command", ("n1",), "bad", (), (Step("n1", "local", ("false",)),)))
    failures = asyncio.run(replay(j.path, StepRunner(), lambda s: None))
    assert failures and "'false' on n1 failed (exit 1)" in failures[0]
    assert len(pending(j.path)) == 1


def test_torn_last_line_is_ignored_garbage_elsewhere_is_an_error(tmp_path: Path) -> None:
    p = tmp_path / "heal-journal.jsonl"
    p.write_text('{"op": "arm", "id": 1, "heal": [], "description": "x"}\n{"op": "hea')
    assert [e["id"] for e in pending(p)] == [1]
    p.write_text('garbage\n{"op": "arm", "id": 1, "heal": [], "description": "x"}\n')
    with pytest.raises(HealError, match=r"heal-journal.jsonl:1: not a journal entry"):
        read_entries(p)


def test_step_json_round_trip() -> None:
    s = Step("n2", {"netns": "qw-t-n2"}, ("ip", "link", "set", "dev", "eth0", "up"), (0, 1), 5.0)
    assert Step.from_json(s.to_json()) == s
