"""Process faults: kill -9 and restart, SIGSTOP and SIGCONT, through the node's server commands."""

from __future__ import annotations

from typing import Any

from quorumwatch.config import ClusterConfig, NodeConfig, ServerConfig
from quorumwatch.faults.base import FaultError, FaultPlan, Step, StepRunner
from quorumwatch.faults.specs import CommandSpec, KillSpec, PauseSpec


def _server(cluster: ClusterConfig, name: str, need: str) -> tuple[NodeConfig, ServerConfig, Any]:
    node = next((n for n in cluster.nodes if n.name == name), None)
    if node is None:
        raise FaultError(f"no node named {name!r} in cluster {cluster.name}")
    server = node.server
    if server is None or getattr(server, need) is None:
        raise FaultError(f"node {name} has no server.{need} command in the cluster file")
    control = server.control if server.control is not None else node.control
    return node, server, control if isinstance(control, str) else control.model_dump(mode="json")


async def server_pid(cluster: ClusterConfig, name: str, runner: StepRunner) -> int:
    _, server, control = _server(cluster, name, "pid")
    assert server.pid is not None
    result = await runner.check(Step(name, control, tuple(server.pid)))
    text = result.stdout.strip()
    if not text.isdigit():
        raise FaultError(f"server.pid of {name} printed {text[:40]!r}, not a pid (is the server running?)")
    return int(text)


class KillFault:
    kind = "kill"

    def __init__(self, spec: KillSpec, cluster: ClusterConfig) -> None:
        self.spec = spec
        self.cluster = cluster

    async def preflight(self, runner: StepRunner) -> None:
        for n in self.cluster.nodes:
            _server(self.cluster, n.name, "start")
            if n.server is None or (n.server.kill is None and n.server.pid is None):
                raise FaultError(f"node {n.name} needs server.kill or server.pid for kill faults")

    async def plan(self, nodes: list[str], runner: StepRunner) -> FaultPlan:
        inject: list[Step] = []
        heal: list[Step] = []
        for name in nodes:
            _, server, control = _server(self.cluster, name, "start")
            assert server.start is not None
            if server.kill is not None:
                inject.append(Step(name, control, tuple(server.kill)))
            else:
                pid = await server_pid(self.cluster, name, runner)
                inject.append(Step(name, control, ("kill", "-9", str(pid))))
            heal.append(Step(name, control, tuple(server.start)))
        return FaultPlan(
            "kill", tuple(nodes), f"kill -9 the server on {', '.join(nodes)}", tuple(inject), tuple(heal)
        )


class PauseFault:
    kind = "pause"

    def __init__(self, spec: PauseSpec, cluster: ClusterConfig) -> None:
        self.spec = spec
        self.cluster = cluster

    async def preflight(self, runner: StepRunner) -> None:
        for n in self.cluster.nodes:
            _server(self.cluster, n.name, "pid")

    async def plan(self, nodes: list[str], runner: StepRunner) -> FaultPlan:
        inject: list[Step] = []
        heal: list[Step] = []
        for name in nodes:
            _, _, control = _server(self.cluster, name, "pid")
            pid = str(await server_pid(self.cluster, name, runner))
            inject.append(Step(name, control, ("kill", "-STOP", pid)))
            # the pid is fixed at planning time: a heal replayed later continues exactly that process
            heal.append(Step(name, control, ("kill", "-CONT", pid), ok=(0, 1)))
        return FaultPlan(
            "pause",
            tuple(nodes),
            f"SIGSTOP the server on {', '.join(nodes)}",
            tuple(inject),
            tuple(heal),
            details={"pids": [s.argv[-1] for s in inject]},
        )


class CommandFault:
    kind = "command"

    def __init__(self, spec: CommandSpec, cluster: ClusterConfig) -> None:
        self.spec = spec
        self.cluster = cluster

    async def preflight(self, runner: StepRunner) -> None:
        return None

    async def plan(self, nodes: list[str], runner: StepRunner) -> FaultPlan:
        if self.spec.local:
            inject = [Step(None, "local", tuple(self.spec.inject))]
            heal = [Step(None, "local", tuple(self.spec.heal))]
        else:
            inject, heal = [], []
            for name in nodes:
                node = next(n for n in self.cluster.nodes if n.name == name)
                c = node.model_dump(mode="json")["control"]
                inject.append(Step(name, c, tuple(self.spec.inject)))
                heal.append(Step(name, c, tuple(self.spec.heal)))
        where = "locally" if self.spec.local else f"on {', '.join(nodes)}"
        return FaultPlan(
            "command", tuple(nodes), f"'{' '.join(self.spec.inject)}' {where}", tuple(inject), tuple(heal)
        )
