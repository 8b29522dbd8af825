"""`quorumwatch check`: probe every node once and say what each answered."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from quorumwatch.config import ClusterConfig
from quorumwatch.engine import Engine
from quorumwatch.model import Observation, Role, Tick


async def probe_once(cluster: ClusterConfig) -> Tick:
    """One tick over every node of the cluster."""
    from quorumwatch.probes import make_probe

    ticks: list[Tick] = []
    engine = Engine(
        [make_probe(cluster, n) for n in cluster.nodes],
        interval_s=cluster.interval,
        deadline_s=cluster.effective_deadline,
        sinks=[ticks.append],
    )
    try:
        await engine.run(max_ticks=1, stop=asyncio.Event())
    finally:
        await engine.aclose()
    return ticks[0]


def answer_text(o: Observation) -> str:
    """What one node answered: role, epoch, believed leader, error, round trip."""
    parts = [f"{o.role.letter} {o.role.value:<9}"]
    if o.epoch is not None:
        parts.append(f"epoch {o.epoch}")
    if o.leader:
        parts.append(f"believes leader {o.leader}")
    if o.role is Role.UNKNOWN:
        parts.append(f"{o.reason.value if o.reason else 'unknown'}: {o.detail or ''}")
    parts.append(f"rtt {o.rtt_ns / 1e6:.2f} ms")
    return "  ".join(parts)


def check_json(cluster: ClusterConfig, tick: Tick) -> dict[str, Any]:
    """`check --json`: the cluster's timing and each node's answer, as `history --format jsonl` shows
    observations."""
    from quorumwatch.report.export import observation_json

    return {
        "cluster": cluster.name, "probe": cluster.probe.kind, "interval_s": cluster.interval,
        "deadline_s": cluster.effective_deadline,
        "nodes": [{"address": n.address, **observation_json(o)} for n, o in zip(
            cluster.nodes, tick.observations, strict=True)],
        "leaders": [o.node for o in tick.leaders],
        "ok": all(o.role is not Role.UNKNOWN for o in tick.observations),
    }  # fmt: skip


async def check_cluster(cluster: ClusterConfig, echo: Callable[[str], None]) -> bool:
    """True when every node gave a definite answer."""
    tick = await probe_once(cluster)
    echo(
        f"{cluster.name}: {cluster.probe.kind} probe, interval {cluster.interval:g} s, "
        f"deadline {cluster.effective_deadline:g} s, {len(cluster.nodes)} nodes"
    )
    for node, o in zip(cluster.nodes, tick.observations, strict=True):
        echo(f"{node.name:<12} {node.address:<22} {answer_text(o)}")
    echo(f"leaders seen: {len(tick.leaders)}")
    return all(o.role is not Role.UNKNOWN for o in tick.observations)
