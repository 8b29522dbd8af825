"""`watch --live`: a Rich table per node (role, epoch, believed leader, last RTT, last error)."""

from __future__ import annotations

from rich.table import Table

from quorumwatch._serial import stamp
from quorumwatch.model import Role, Tick
from quorumwatch.report.lines import matrix

_STYLE = {
    Role.LEADER: "bold green",
    Role.FOLLOWER: "cyan",
    Role.CANDIDATE: "yellow",
    Role.OBSERVER: "blue",
    Role.UNKNOWN: "bold red",
}


def live_table(tick: Tick, cluster: str, multi_leader_ticks: int) -> Table:
    leaders = len(tick.leaders)
    title = (
        f"{cluster} · tick {tick.index} · {stamp(tick.wall_ns)} · quorum matrix: {matrix(tick.observations)}"
    )
    caption = f"ticks with more than one leader so far: {multi_leader_ticks}"
    if leaders > 1:
        caption = f"[bold red]more than 1 leader at this tick, cnt={leaders}[/] · " + caption
    table = Table(title=title, caption=caption)
    for col in ("node", "role", "epoch", "believed leader", "last RTT", "last error"):
        table.add_column(col)
    names = {o.self_id: o.node for o in tick.observations if o.self_id}
    for o in tick.observations:
        believed = o.leader or ""
        if o.leader in names:
            believed = f"{names[o.leader]} ({o.leader})"
        error = "" if o.reason is None else f"{o.reason.value}: {o.detail or ''}"
        table.add_row(
            o.node,
            f"[{_STYLE[o.role]}]{o.role.letter} {o.role.value}[/]",
            "" if o.epoch is None else str(o.epoch),
            believed,
            f"{o.rtt_ns / 1e6:.2f} ms",
            error,
        )
    return table
