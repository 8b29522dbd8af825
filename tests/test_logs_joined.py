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
