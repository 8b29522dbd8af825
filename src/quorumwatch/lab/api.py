"""Labs from async code: a real cluster in network namespaces on this machine (root needed).

    async with await Lab.up("zk-election", on_suspend="keep") as lab:
        result = await quorumwatch.observe(lab.cluster, duration=5)

Blocking steps (namespaces, processes) run in worker threads; the wait for a leader runs on the
caller's loop. Leaving the block (or `down()`) tears the lab down, on errors too.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from quorumwatch.config import ClusterConfig, load_cluster
from quorumwatch.lab import manager
from quorumwatch.lab.manager import LabState
from quorumwatch.lab.system import LabError


@dataclass
class Lab:
    state: LabState

    @classmethod
    async def up(
        cls,
        kind: str,
        nodes: int = 3,
        name: str | None = None,
        *,
        within: float = 60.0,
        on_suspend: str = "stepdown",
        session_timeout: float = 3.0,
        fencing: bool = False,
        min_replicas_to_write: int = 0,
        min_replicas_max_lag: int = 10,
        clock_offsets: dict[str, float] | None = None,
        tls: bool = False,
        ttl: int | None = None,
        loop_wait: int | None = None,
        retry_timeout: int | None = None,
        synchronous: bool = False,
        node_timeout: int | None = None,
        say: manager.Say | None = None,
    ) -> Lab:
        """Start a lab as `quorumwatch lab up KIND` does (the same options) and wait up to `within` s
        for one leader."""
        options = {
            "clock_offsets": dict(clock_offsets or {}), "on_suspend": on_suspend,
            "session_timeout": session_timeout, "fencing": fencing,
            "min_replicas_to_write": min_replicas_to_write, "min_replicas_max_lag": min_replicas_max_lag,
            "tls": tls, "ttl": ttl, "loop_wait": loop_wait, "retry_timeout": retry_timeout,
            "synchronous": synchronous, "node_timeout": node_timeout,
        }  # fmt: skip
        state = await manager.up_async(
            kind, nodes, name, say or (lambda _line: None), within=within, options=options
        )
        return cls(state)

    @property
    def name(self) -> str:
        return self.state.name

    @property
    def cluster_file(self) -> Path:
        if self.state.cluster_file is None:
            raise LabError(f"lab {self.name} has no cluster file")
        return Path(self.state.cluster_file)

    @property
    def cluster(self) -> ClusterConfig:
        return load_cluster(str(self.cluster_file))

    @property
    def nodes(self) -> list[str]:
        """The cluster's nodes (not the support servers such as a ZooKeeper ensemble)."""
        return list(self.state.cluster_nodes)

    async def stop_node(self, node: str) -> None:
        """kill -9 one node's server (by pid) and wait until it is gone."""
        await asyncio.to_thread(manager.stop_node, self.name, node)

    async def start_node(self, node: str) -> None:
        await asyncio.to_thread(manager.start_node, self.name, node)

    async def leader(self, within: float = 30.0) -> str:
        """The node every other node agrees leads (three ticks in a row), waiting up to `within` s."""
        return await manager.await_one_leader(self.state, self.cluster, within)

    async def down(self) -> None:
        await asyncio.shield(asyncio.to_thread(manager.down, self.name))

    async def __aenter__(self) -> Lab:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.down()


__all__ = ["Lab", "LabError"]
