"""The live table: one row per node with role, epoch, believed leader (by name), RTT and error."""

from __future__ import annotations

from rich.console import Console

from quorumwatch.model import Observation, Reason, Role, Tick
from quorumwatch.report.live import live_table


def render(tick: Tick, multi: int = 0) -> str:
    console = Console(record=True, width=160, color_system=None)
    console.print(live_table(tick, "meta", multi))
    return console.export_text()


def test_rows_show_role_epoch_believed_leader_rtt_and_error() -> None:
    tick = Tick(
        7,
        0,
        0,
        1_785_000_000_000_000_000,
        (
            Observation("n1", 7, 0, 1_500_000, 0, Role.LEADER, 3, "a1", self_id="a1"),
            Observation("n2", 7, 0, 2_000_000, 0, Role.FOLLOWER, 3, "a1", self_id="b2"),
            Observation("n3", 7, 0, 80_000_000, 0, Role.UNKNOWN, reason=Reason.TIMEOUT, detail="no answer"),
        ),
    )
    text = render(tick)
    assert "quorum matrix: [L F X]" in text and "tick 7" in text
    rows = {line.split("│")[1].strip(): line for line in text.splitlines() if line.count("│") >= 6}
    assert "L leader" in rows["n1"] and "1.50 ms" in rows["n1"]
    assert "n1 (a1)" in rows["n2"] and "F follower" in rows["n2"]
    assert "timeout: no answer" in rows["n3"] and "80.00 ms" in rows["n3"]


def test_caption_warns_on_two_leaders() -> None:
    tick = Tick(
        1,
        0,
        0,
        0,
        (
            Observation("n1", 1, 0, 1, 0, Role.LEADER, 3),
            Observation("n2", 1, 0, 1, 0, Role.LEADER, 4),
        ),
    )
    text = " ".join(render(tick, multi=2).split())  # the caption may wrap
    assert "more than 1 leader at this tick, cnt=2" in text
    assert "ticks with more than one leader so far: 2" in text
