"""The tick lines users' scripts grep for."""

from __future__ import annotations

import datetime as dt
import re

from quorumwatch._serial import stamp
from quorumwatch.model import Observation, Reason, Role, Tick
from quorumwatch.report.lines import LineFormatter, matrix

UTC = dt.UTC
T0 = 1_785_000_000_000_000_000  # some wall time in ns


def obs(node: str, role: Role, epoch: int | None = None, k: int = 0) -> Observation:
    reason = Reason.TIMEOUT if role is Role.UNKNOWN else None
    return Observation(node, k, 0, 1, T0, role, epoch, reason=reason, detail="no answer" if reason else None)


def tick(k: int, *roles: tuple[str, Role, int | None]) -> Tick:
    wall = T0 + k * 100_000_000
    return Tick(k, k, k, wall, tuple(obs(n, r, e, k) for n, r, e in roles))


def test_stamp_format() -> None:
    assert stamp(1_659_644_100_514_593_123, UTC) == "2022/08/04 20:15:00.514593"


def test_matrix_letters() -> None:
    roles = [Role.LEADER, Role.FOLLOWER, Role.CANDIDATE, Role.OBSERVER, Role.UNKNOWN]
    assert matrix([obs(str(i), r) for i, r in enumerate(roles)]) == "[L F C O X]"


def test_lines_for_a_failover() -> None:
    f = LineFormatter(tz=UTC)
    ticks = [
        tick(0, ("n1", Role.LEADER, 5), ("n2", Role.FOLLOWER, 5)),
        tick(1, ("n1", Role.UNKNOWN, None), ("n2", Role.FOLLOWER, 5)),
        tick(2, ("n1", Role.LEADER, 5), ("n2", Role.LEADER, 6)),
        tick(3, ("n1", Role.FOLLOWER, 6), ("n2", Role.LEADER, 6)),
    ]
    out = [f.feed(t) for t in ticks]
    line = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{6} ")
    assert all(line.match(s) for lines in out for s in lines)
    assert out[0][-1].endswith("quorum matrix: [L F]")
    assert "n1 is leader initially: true (leader, epoch 5)" in out[0][0]
    assert any("n1 is leader changed, current: unknown (unknown, timeout: no answer" in s for s in out[1])
    assert any("no leader at this tick (1 of 2 nodes unknown)" in s for s in out[1])
    warn = [s for s in out[2] if "more than 1 leader appear at this tick, cnt=2" in s]
    assert warn and "n1 (epoch 5), n2 (epoch 6)" in warn[0]
    assert out[2][-1].endswith("quorum matrix: [L L]")
    assert out[2].index(warn[0]) < len(out[2]) - 1  # warning precedes the tick's matrix
    assert any(
        "n1 is leader changed, current: false (follower, epoch 6; was true for 0.100 s" in s for s in out[3]
    )
    assert f.multi_leader_ticks == 1 and f.ticks == 4


def test_changes_only_prints_no_matrix_lines() -> None:
    f = LineFormatter(changes_only=True, tz=UTC)
    a = f.feed(tick(0, ("n1", Role.LEADER, 1), ("n2", Role.FOLLOWER, 1)))
    b = f.feed(tick(1, ("n1", Role.LEADER, 1), ("n2", Role.FOLLOWER, 1)))
    assert b == []
    assert not any("quorum matrix" in s for s in a)


def test_single_node_watch_never_claims_no_leader() -> None:
    f = LineFormatter(tz=UTC)
    out = f.feed(tick(0, ("n2", Role.FOLLOWER, 1)))
    assert not any("no leader" in s for s in out)
    assert out[-1].endswith("quorum matrix: [F]")


def test_graded_lines_say_when_a_dual_leader_is_proven_and_when_it_ends() -> None:
    from tests.test_analysis import history

    ticks = history({"a": "LLLLLLLFFF", "b": "FFFFLLLLLL", "c": "FFFFFFFFFF"}, {"a": [1] * 10, "b": [2] * 10})
    from quorumwatch.analysis.online import LiveGrading

    f, grading = LineFormatter(changes_only=True, tz=dt.UTC), LiveGrading()

    def fed(t: Tick) -> list[str]:
        grading.feed(t)  # the session feeds the one grading, then the formatter shows it
        return f.feed(t, grading)

    per_tick = {t.index: [line[27:] for line in fed(t) if "dual leader" in line] for t in ticks}
    assert per_tick[5] == [
        "dual leader (certain since 00:00:00.410000, 0.090 s so far): a (epoch 1), b (epoch 2)"
    ]
    assert per_tick[7] == ["dual leader a + b ended after 0.190 s"]
    assert [k for k, v in per_tick.items() if v] == [4, 5, 7]
    assert per_tick[4] == ["possible dual leader (since 00:00:00.300000, not proven): a, b"]
    quiet, again = LineFormatter(changes_only=True, graded=False), LiveGrading()
    assert not [line for t in ticks if again.feed(t) is not None for line in quiet.feed(t, again)
                if "certain since" in line]  # fmt: skip
    assert not [
        line for t in ticks for line in LineFormatter(changes_only=True).feed(t) if "dual leader" in line
    ]
