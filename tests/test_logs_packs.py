"""The built-in packs on the wording of each version still in use, and on step-downs whose election is
not in the log. Each case is a literal excerpt in the system's default layout; the phrases come from
the projects' sources as cited in each pack's header (the version each case stands for is in its name).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from quorumwatch.logs.scan import run_logs
from quorumwatch.report.logs import to_json

VERSIONS = yaml.safe_load((Path(__file__).parent / "fixtures" / "logs" / "versions.yaml").read_text())
"""Each case: node -> log text, the pack chosen, [node, epoch, open_start, open_end] per leadership,
the verdict."""


def _run(tmp_path: Path, logs: dict[str, str]) -> dict[str, Any]:
    files = {}
    for node, text in logs.items():
        p = tmp_path / node / "server.log"
        p.parent.mkdir(parents=True)
        p.write_text(text)
        files[node] = [p]
    r = run_logs(files, None, tz=dt.UTC, year=2026, skew_s=0.0, offsets_s={})
    return to_json(r, 5.0, True)


@pytest.mark.parametrize("case", VERSIONS, ids=[c["case"][:60] for c in VERSIONS])
def test_each_version_s_wording_is_read(case: dict[str, Any], tmp_path: Path) -> None:
    data = _run(tmp_path, {node: text + "\n" for node, text in case["logs"].items()})
    assert {f["pack"] for f in data["files"]} == {case["pack"]}, data["files"]
    got = [[i["node"], i["epoch"], i["open_start"], i["open_end"]] for i in data["intervals"]]
    assert got == case["intervals"]
    assert data["verdict"] == case["verdict"]


def test_curator_session_changes_are_session_events(tmp_path: Path) -> None:
    prefix = "INFO  [main-EventThread] o.a.c.f.state.ConnectionStateManager - State change:"
    text = f"2024-02-01 10:00:00.123 {prefix} SUSPENDED\n2024-02-01 10:00:04.000 {prefix} LOST\n"
    p = tmp_path / "n1" / "app.log"
    p.parent.mkdir()
    p.write_text(text)
    from quorumwatch.logs import rules

    r = run_logs({"n1": [p]}, rules.builtin("zk-elected"), tz=dt.UTC, year=2026, skew_s=0.0, offsets_s={})
    assert [(e.kind, e.data.get("to")) for e in r.forensics.events] == [
        ("session", "SUSPENDED"),
        ("session", "LOST"),
    ]
    assert r.forensics.verdict == "inconclusive"  # sessions alone say nothing of who led


def test_no_built_in_pack_makes_every_line_a_candidate() -> None:
    """A rule whose prefilter neither names a phrase nor runs on RE2 (a backreference) would make
    every line a candidate: the scan slows to a per-line loop and the pack wins every contest for a
    file's pack. Such rules carry an explicit prefilter."""
    from quorumwatch.logs import rules

    for name in rules.BUILTIN:
        finder = rules.builtin(name).candidates()
        assert not any(isinstance(r, rules._EveryLine) for r in finder.regexes), name
