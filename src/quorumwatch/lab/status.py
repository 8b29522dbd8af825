"""`lab status`: one probe round over a lab, next to its processes."""

from __future__ import annotations

import asyncio
from typing import Any

from quorumwatch.config import ConfigError, load_cluster
from quorumwatch.lab.manager import LabState
from quorumwatch.lab.system import alive
from quorumwatch.model import Tick


def _tick(state: LabState) -> Tick | None:
    if not state.cluster_file:
        return None
    try:
        cluster = load_cluster(state.cluster_file)
    except ConfigError:
        return None
    from quorumwatch.check import probe_once

    return asyncio.run(probe_once(cluster))


def describe_json(state: LabState) -> dict[str, Any]:
    """`lab status --json`: the lab, its processes and what each cluster node answered."""
    from quorumwatch.report.export import observation_json

    tick = _tick(state)
    seen = {o.node: o for o in tick.observations} if tick else {}
    nodes = []
    for n in state.nodes:
        running = n.pid is not None and alive(n.pid, n.start_time)
        o = seen.get(n.name)
        nodes.append({
            "name": n.name, "pid": n.pid if running else None, "running": running,
            "cluster_node": n.name in state.cluster_nodes,
            "answer": observation_json(o) if o is not None else None,
        })  # fmt: skip
    return {
        "name": state.name, "kind": state.kind, "dir": str(state.dir), "data_subnet": state.data_subnet,
        "management_subnet": state.mgmt_subnet, "cluster_file": state.cluster_file,
        "nodes": nodes,
    }  # fmt: skip


def describe(state: LabState) -> list[str]:
    lines = [
        f"lab {state.name}: {state.kind}, {len(state.nodes)} nodes, "
        f"data {state.data_subnet}, management {state.mgmt_subnet}, dir {state.dir}"
    ]
    from quorumwatch.check import answer_text

    tick = _tick(state)
    roles = {o.node: answer_text(o) for o in tick.observations} if tick else {}
    for n in state.nodes:
        running = n.pid is not None and alive(n.pid, n.start_time)
        proc = f"pid {n.pid}" if running else "stopped"
        what = roles.get(n.name, "") if n.name in state.cluster_nodes else "(support)"
        lines.append(f"  {n.name:<4} {proc:<12} {what}")
    if state.cluster_file:
        lines.append(f"  cluster file: {state.cluster_file}")
    return lines
