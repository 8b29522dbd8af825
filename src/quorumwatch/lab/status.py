"""`lab status`: one probe round over a lab, next to its processes."""

from __future__ import annotations

import asyncio

from quorumwatch.config import ConfigError, load_cluster
from quorumwatch.lab.manager import LabState
from quorumwatch.lab.system import alive


def describe(state: LabState) -> list[str]:
    lines = [
        f"lab {state.name}: {state.kind}, {len(state.nodes)} nodes, "
        f"data {state.data_subnet}, management {state.mgmt_subnet}, dir {state.dir}"
    ]
    roles: dict[str, str] = {}
    if state.cluster_file:
        try:
            cluster = load_cluster(state.cluster_file)
        except ConfigError:
            cluster = None
        if cluster is not None:
            from quorumwatch.check import answer_text, probe_once

            tick = asyncio.run(probe_once(cluster))
            roles = {o.node: answer_text(o) for o in tick.observations}
    for n in state.nodes:
        running = n.pid is not None and alive(n.pid, n.start_time)
        proc = f"pid {n.pid}" if running else "stopped"
        what = roles.get(n.name, "") if n.name in state.cluster_nodes else "(support)"
        lines.append(f"  {n.name:<4} {proc:<12} {what}")
    if state.cluster_file:
        lines.append(f"  cluster file: {state.cluster_file}")
    return lines
