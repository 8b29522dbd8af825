"""report.html: what the page holds (pure, literal histories) and what a real headless Chromium
renders from it (no console error, no network request, a lane per node, fault and red bands)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from quorumwatch.model import Event, Observation, Operation, OperationKind, Outcome, Role, Tick
from quorumwatch.report.html import downsample, segments, timeline
from quorumwatch.rundir import REPORT_FILE, analyze_run
from quorumwatch.store import HistoryFile
from tests.browser import ARTIFACTS, OPS_CHECK, REPORT_CHECK, Chromium, chromium
from tests.test_analysis import history, link_fault_on_a

MS = 1_000_000
WALL = 1_785_000_000_000_000_000


def _record(run: Path, ticks: list[Tick], events: list[Event], operations: Sequence[Operation] = ()) -> Path:
    run.mkdir(parents=True)
    nodes = [o.node for o in ticks[0].observations]
    meta = {"cluster": "lit", "probe": "etcd", "interval_s": "0.1", "deadline_s": "0.08"}
    h = HistoryFile.create(
        run / "history.sqlite", nodes, meta | ({"workload_kind": "register"} if operations else {})
    )
    for t in ticks:
        h.append_tick(t)
    for e in events:
        h.append_event(e)
    for op in operations:
        h.append_operation(op)
    h.close()
    return run


def _walled(ticks: list[Tick]) -> list[Tick]:
    """The same ticks with a realistic wall clock (send time + a fixed offset)."""
    return [
        Tick(t.index, t.scheduled_ns, t.started_ns, WALL + t.started_ns,
             tuple(Observation(o.node, o.tick, o.send_ns, o.recv_ns, WALL + o.send_ns, o.role, o.epoch,
                               o.leader, o.reason, o.detail, o.self_id, o.groups) for o in t.observations))
        for t in ticks
    ]  # fmt: skip


def test_segments_join_equal_answers_and_keep_errors() -> None:
    ticks = history({"a": "LLLXXFF"}, {"a": [3, 3, 3, None, None, None, None]})
    segs = segments([t.observations[0] for t in ticks], 0)
    assert [(s.role, s.answers, s.epoch) for s in segs] == [(Role.LEADER, 3, 3), (Role.UNKNOWN, 2, None),
                                                            (Role.FOLLOWER, 2, None)]  # fmt: skip
    assert segs[0].start_ns == 0 and segs[0].end_ns == 300 * MS and segs[1].detail == "timeout"


def test_downsample_bounds_segments_and_counts_every_answer() -> None:
    row = "LF" * 5000
    ticks = history({"a": row}, {"a": [1] * len(row)})
    segs = segments([t.observations[0] for t in ticks], 0)
    small = downsample(segs, 100)
    assert len(segs) == 10_000 and len(small) <= 110
    assert sum(s.answers for s in small) == 10_000
    assert small[0].start_ns == segs[0].start_ns and small[-1].end_ns == segs[-1].end_ns
    assert all(s.roles == {"leader": s.roles.get("leader", 0), "follower": s.roles.get("follower", 0)}
               for s in small if s.role is None)  # fmt: skip


def test_downsampling_never_hides_a_dual_leader_or_leaderless_window(tmp_path: Path) -> None:
    """A flapping history far over the budget: every window of the analysis is still drawn."""
    n = 20_000
    a = "".join("L" if (k // 3) % 2 == 0 else "F" for k in range(n))
    b = "".join("L" if (k // 3) % 2 == 1 or k % 1000 == 0 else "F" for k in range(n))
    ticks = _walled(history({"a": a, "b": b}, {"a": [1] * n, "b": [2] * n}))
    _, results = analyze_run(_record(tmp_path / "r", ticks, []), report=False)
    fig = timeline(["a", "b"], ticks, results, segment_budget=2_000)
    lanes = [t for t in fig["data"] if t["type"] == "bar" and t["y"] and t["y"][0] in ("a", "b")]
    assert sum(len(t["y"]) for t in lanes) <= 2_200  # downsampled
    drawn = [t for t in fig["data"] if t["name"].startswith("dual leader")]
    assert sum(len(t["y"]) for t in drawn) == len(results.dual_leaders) > 0
    gaps = [t for t in fig["data"] if t["name"].startswith("leaderless")]
    assert sum(len(t["y"]) for t in gaps) == len(results.leaderless) > 0
    assert len(json.dumps(fig)) < 3_000_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Chromium]:
    with chromium() as b:
        yield b


def test_harness_sees_console_errors_and_requests(browser: Chromium, tmp_path: Path) -> None:
    """The checks below can fail: a page that logs an error and fetches is caught."""
    page = tmp_path / "bad.html"
    page.write_text(
        "<div id=a></div><script>console.error('boom'); fetch('http://10.213.250.1/x')"
        ".catch(() => {}); document.getElementById('a').textContent = 'ok';</script>"
    )
    visit, value = browser.visit(
        page.as_uri(), tmp_path / "bad.png", "document.getElementById('a').textContent"
    )
    assert value == "ok" and "boom" in visit.console_errors and visit.requests == ["http://10.213.250.1/x"]


def test_report_renders_in_chromium_with_lanes_fault_band_and_red_window(
    browser: Chromium, tmp_path: Path
) -> None:
    ticks = _walled(history({"a": "LLLLLLLFFF", "b": "FFFFLLLLLL", "c": "FFFFFFFFFF"},
                            {"a": [1] * 10, "b": [2] * 10}))  # fmt: skip
    events = [Event(e.mono_ns, WALL + e.mono_ns, e.node, e.kind, e.data) for e in link_fault_on_a()]
    run = _record(tmp_path / "run", ticks, events)
    _, results = analyze_run(run, report=True)
    assert results.verdict == "dual_leader"
    report = run / REPORT_FILE
    assert report.stat().st_size < 25 << 20
    visit, seen = browser.visit(report.as_uri(), ARTIFACTS / "report-literal.png", REPORT_CHECK)
    assert visit.console_errors == [] and visit.exceptions == [] and visit.requests == []
    assert results.leaderless == [] and sorted(seen["lanes"]) == ["a", "b", "c", "dual leader", "faults"]
    assert [s["name"] for s in seen["shapes"]].count("fault") == 1  # one trial: one fault band
    assert {"name": "dual-leader", "fill": "#d32f2f"} in seen["shapes"]  # the proven window, red
    assert seen["drawn"] == len(seen["shapes"]) and "dual leader (proven)" in seen["names"]
    assert seen["verdict"].startswith("dual_leader") and "not measured" in seen["harm"]
    assert (ARTIFACTS / "report-literal.png").stat().st_size > 10_000


def test_a_violated_key_is_drawn_operation_by_operation_under_the_leader_lanes(
    browser: Chromium, tmp_path: Path
) -> None:
    ticks = _walled(history({"a": "LLLLLLLFFF", "b": "FFFFLLLLLL", "c": "FFFFFFFFFF"},
                            {"a": [1] * 10, "b": [2] * 10}))  # fmt: skip
    rows = [(0, "write", "a", "0", 100), (1, "write", "b", "1", 420), (2, "read", "a", "0", 480),
            (3, "read", "b", "1", 530)]  # fmt: skip
    ops = [
        Operation(
            i,
            OperationKind(kind),
            node,
            t * MS,
            (t + 5) * MS,
            WALL + t * MS,
            Outcome.OK,
            value,
            None,
            None,
            "k1",
        )
        for i, kind, node, value, t in rows
    ]
    run = _record(tmp_path / "run", ticks, [], ops)
    _, results = analyze_run(run, report=True)
    assert results.harm == "stale_reads"
    text = (run / REPORT_FILE).read_text(encoding="utf-8")
    assert "Operations of k1 around its first violation" in text
    visit, seen = browser.visit((run / REPORT_FILE).as_uri(), ARTIFACTS / "report-register.png", OPS_CHECK)
    assert visit.console_errors == [] and visit.exceptions == [] and visit.requests == []
    assert sorted(seen["lanes"]) == ["a", "b", "c", "k1 via a", "k1 via b"]
    assert {"stale read", "write", "read", "leader", "follower"} <= set(seen["names"])
    assert {"w 0", "w 1", "r 0", "r 1"} <= set(seen["labels"]) and seen["harm"].startswith(
        "harm: stale reads"
    )


def test_a_sharded_run_draws_a_lane_per_group_and_node_that_leads_or_follows_it(tmp_path: Path) -> None:
    from tests.test_analysis_groups import sharded

    ticks = _walled(sharded({
        "a": ["A:L1"] * 6 + ["A:F"] * 4,
        "b": ["B:L1"] * 10,
        "c": ["A:F B:F"] * 3 + ["A:L2 B:F"] * 7,
    }))  # fmt: skip
    _, results = analyze_run(_record(tmp_path / "r", ticks, []), report=False)
    fig = timeline(["a", "b", "c"], ticks, results)
    order = list(reversed(fig["layout"]["yaxis"]["categoryarray"]))  # the top lane first
    assert order[:4] == ["a · 0-99", "c · 0-99", "b · 100-199", "c · 100-199"]
    bars = [t for t in fig["data"] if t["type"] == "bar"]
    roles = {(lane, t["name"]) for t in bars for lane in t["y"] if " · " in lane}
    assert ("b · 100-199", "leader") in roles and ("b · 0-99", "leader") not in roles
    assert ("a · 0-99", "leader") in roles and ("a · 0-99", "follower") in roles  # a stepped down in A
    (proven,) = [t for t in fig["data"] if t["name"] == "dual leader (proven)"]
    assert all(" in 0-99" in h for h in proven["hovertext"])
