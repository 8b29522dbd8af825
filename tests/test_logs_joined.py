"""Log truth joined with observations: detection lags and ticks the logs disprove (pure)."""

from __future__ import annotations

from quorumwatch.logs.forensics import RoleEvent, analyze_logs
from quorumwatch.logs.joined import detection_lags, disproved_ticks
from tests.test_analysis import MS, history

WALL0 = 1_785_000_000_000_000_000  # the run's wall clock at tick 0


def ev(node: str, t_ms: int, kind: str, epoch: int) -> RoleEvent:
    return RoleEvent(node, WALL0 + t_ms * MS, kind, epoch, {}, "f", 1, kind)


def walled(ticks: list) -> list:  # type: ignore[type-arg]
    from dataclasses import replace

    return [replace(t, wall_ns=WALL0 + t.started_ns) for t in ticks]


def test_detection_lag_is_log_time_to_first_answer_showing_it() -> None:
    ticks = walled(history({"a": "LLLFFF", "b": "FFFLLL"}, {"a": [1] * 6, "b": [2] * 6}))
    f = analyze_logs(
        {
            "a": [ev("a", -50, "leader_start", 1), ev("a", 250, "leader_stop", 1)],
            "b": [ev("b", 260, "leader_start", 2)],
        }
    )
    lags = {(d.node, d.change): d.lag_s for d in detection_lags(f, ticks)}
    # a stopped at 250 ms; its next answer (sent at 300, received at 310) shows F: 60 ms later
    assert lags[("a", "stopped leading")] == 0.06
    assert lags[("b", "became leader")] == 0.05  # logged at 260, first L answer received at 310
    assert ("a", "became leader") not in lags  # before the run started


def test_a_two_l_tick_the_logs_disprove() -> None:
    # tick 2 shows both as leader, but the logs say a stopped at 195 ms and b started at 215 ms
    ticks = walled(history({"a": "LLLFF", "b": "FFLLL"}, {"a": [1] * 5, "b": [2] * 5}, rtt=30))
    f = analyze_logs(
        {
            "a": [ev("a", 0, "leader_start", 1), ev("a", 205, "leader_stop", 1)],
            "b": [ev("b", 215, "leader_start", 2)],
        }
    )
    assert disproved_ticks(f, ticks) == [2]
    overlapping = analyze_logs(
        {
            "a": [ev("a", 0, "leader_start", 1), ev("a", 225, "leader_stop", 1)],
            "b": [ev("b", 215, "leader_start", 2)],
        }
    )
    assert disproved_ticks(overlapping, ticks) == []


def test_a_sharded_cluster_s_logs_overlap_only_within_the_group_the_probes_saw_each_node_lead() -> None:
    from quorumwatch.logs.joined import regroup
    from quorumwatch.model import Verdict
    from tests.test_analysis_groups import sharded

    # a masters A until its cut (tick 3: A:C), c takes A over at tick 5; b masters B throughout
    ticks = walled(sharded({
        "a": ["A:L1"] * 3 + ["A:C"] * 3 + ["A:F"] * 2,
        "b": ["B:L1"] * 8,
        "c": ["A:F B:F"] * 5 + ["A:L2 B:F"] * 3,
    }))  # fmt: skip
    clean = analyze_logs(
        {
            "a": [ev("a", 0, "leader_start", 1), ev("a", 310, "leader_stop", 1)],
            "b": [ev("b", 0, "leader_start", 1), ev("b", 700, "leader_start", 1)],
            "c": [ev("c", 450, "leader_start", 2), ev("c", 700, "leader_start", 2)],
        }
    )
    assert clean.verdict is Verdict.VIOLATION  # b beside a (both epoch 1), were groups ignored
    judged = regroup(clean, ticks)
    assert judged.verdict is Verdict.OK and judged.overlaps == ()
    # a's log shows it leading until 600 ms, past c's takeover: a dual leader, in A only
    late = analyze_logs(
        {
            "a": [ev("a", 0, "leader_start", 1), ev("a", 600, "leader_stop", 1)],
            "b": [ev("b", 0, "leader_start", 1), ev("b", 700, "leader_start", 1)],
            "c": [ev("c", 450, "leader_start", 2), ev("c", 700, "leader_start", 2)],
        }
    )
    found = regroup(late, ticks)
    assert found.verdict is Verdict.DUAL_LEADER
    assert {(o.nodes, o.group) for o in found.overlaps if o.certain} == {(("a", "c"), "0-99")}
    # a run without groups is left as it was
    plain = walled(history({"a": "LLF", "b": "FLL"}))
    assert regroup(late, plain) is late
