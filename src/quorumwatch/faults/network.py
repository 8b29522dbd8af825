"""Network faults: link down/up, partitions, random loss (iptables), delay (tc netem).

Packet-dropping faults live in iptables chains of our own (`quorumwatch-<run>-<n>`), hooked into
INPUT and OUTPUT; heal unhooks and deletes only those chains, never flushing anyone else's rules.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from quorumwatch.config import ClusterConfig, NodeConfig
from quorumwatch.faults.base import FaultError, FaultPlan, Step, StepRunner
from quorumwatch.faults.partition import cut_pairs
from quorumwatch.faults.specs import DelaySpec, LinkSpec, LossSpec, PartitionSpec

# A constant script; the chain name and hook arrive as arguments ($0, $1), never spliced into code.
_UNHOOK = 'while iptables -w -D "$1" -j "$0" 2>/dev/null; do :; done'
_UNHOOK6 = 'while ip6tables -w -D "$1" -j "$0" 2>/dev/null; do :; done'


def _control(node: NodeConfig) -> Any:
    return node.model_dump(mode="json")["control"]


def _node(cluster: ClusterConfig, name: str) -> NodeConfig:
    for n in cluster.nodes:
        if n.name == name:
            return n
    raise FaultError(f"no node named {name!r} in cluster {cluster.name}")


def _interface(node: NodeConfig, explicit: str | None) -> str:
    ifname = explicit or node.data_interface
    if not ifname:
        raise FaultError(
            f"node {node.name} has no data_interface: set one in the cluster file or give interface:"
        )
    return ifname


def _data_ip(node: NodeConfig) -> str:
    if not node.data_address:
        raise FaultError(f"node {node.name} has no data_address: partitions and loss match on it")
    return node.data_address


def _tool(ip: str) -> str:
    return "ip6tables" if ipaddress.ip_address(ip).version == 6 else "iptables"


def chain_steps(
    node: NodeConfig, chain: str, rules: list[list[str]], tool: str = "iptables"
) -> tuple[list[Step], list[Step]]:
    """Inject (after cleaning any leftover of the same chain) and heal steps for one node's chain."""
    c = _control(node)
    unhook = _UNHOOK6 if tool == "ip6tables" else _UNHOOK
    heal = [Step(node.name, c, ("sh", "-c", unhook, chain, hook)) for hook in ("INPUT", "OUTPUT")]
    heal += [
        Step(node.name, c, (tool, "-w", "-F", chain), ok=(0, 1)),
        Step(node.name, c, (tool, "-w", "-X", chain), ok=(0, 1)),
    ]
    inject = [*heal, Step(node.name, c, (tool, "-w", "-N", chain))]
    inject += [Step(node.name, c, (tool, "-w", "-A", chain, *rule)) for rule in rules]
    inject += [Step(node.name, c, (tool, "-w", "-I", hook, "1", "-j", chain)) for hook in ("INPUT", "OUTPUT")]
    return inject, heal


class LinkFault:
    kind = "link"

    def __init__(self, spec: LinkSpec, cluster: ClusterConfig) -> None:
        self.spec = spec
        self.cluster = cluster

    async def preflight(self, runner: StepRunner) -> None:
        return None

    async def plan(self, nodes: list[str], runner: StepRunner) -> FaultPlan:
        inject: list[Step] = []
        heal: list[Step] = []
        verify: list[Step] = []
        for name in nodes:
            node = _node(self.cluster, name)
            ifname = _interface(node, self.spec.interface)
            c = _control(node)
            down: tuple[str, ...]
            up: tuple[str, ...]
            if self.spec.method == "ifupdown":
                down, up = ("ifdown", ifname), ("ifup", ifname)
            else:
                down, up = (
                    ("ip", "link", "set", "dev", ifname, "down"),
                    ("ip", "link", "set", "dev", ifname, "up"),
                )
            if isinstance(c, dict) and "ssh" in c:
                # Dead-man timer: armed on the node before the cut, so a lost controller cannot strand it.
                secs = f"{self.spec.hold + self.spec.deadman_margin:g}"
                # stdio detached, or the SSH channel would stay open until the timer fires
                script = 'exec </dev/null >/dev/null 2>&1; sleep "$0"; exec "$@"'
                inject.append(Step(name, c, ("setsid", "-f", "sh", "-c", script, secs, *up)))
            inject.append(Step(name, c, down))
            heal.append(Step(name, c, up))
            verify.append(Step(name, c, ("ip", "-o", "link", "show", "dev", ifname)))
        cut = ", ".join(f"{s.argv[-2]} on {s.node}" for s in heal)
        return FaultPlan(
            "link",
            tuple(nodes),
            f"link down: {cut}",
            tuple(inject),
            tuple(heal),
            tuple(verify),
            verify_absent="state DOWN",
        )


class PartitionFault:
    kind = "partition"

    def __init__(self, spec: PartitionSpec, cluster: ClusterConfig, chain: str) -> None:
        self.spec = spec
        self.cluster = cluster
        self.chain = chain

    async def preflight(self, runner: StepRunner) -> None:
        names = [n.name for n in self.cluster.nodes]
        for n in self.cluster.nodes:
            _data_ip(n)
        # a plan with placeholder targets catches impossible modes before the experiment
        cut_pairs(self.spec.mode, names, names[:1], self.spec.groups, self.spec.direction)

    async def plan(self, nodes: list[str], runner: StepRunner) -> FaultPlan:
        if self.spec.mode == "isolate" and all(_node(self.cluster, n).data_interface for n in nodes):
            return self._isolate(nodes)
        names = [n.name for n in self.cluster.nodes]
        pairs = cut_pairs(self.spec.mode, names, nodes, self.spec.groups, self.spec.direction)
        inject: list[Step] = []
        heal: list[Step] = []
        verify: list[Step] = []
        touched = []
        for node in self.cluster.nodes:
            rules = [
                ["-s", _data_ip(_node(self.cluster, a)), "-j", "DROP"]
                for a, b in sorted(pairs)
                if b == node.name
            ]
            rules += [
                ["-d", _data_ip(_node(self.cluster, b)), "-j", "DROP"]
                for a, b in sorted(pairs)
                if a == node.name
            ]
            if not rules:
                continue
            touched.append(node.name)
            tool = _tool(_data_ip(node))
            i, h = chain_steps(node, self.chain, rules, tool)
            inject += i
            heal += h
            verify.append(Step(node.name, _control(node), (tool, "-w", "-S")))
        cut = sorted({tuple(sorted(p)) for p in pairs})
        desc = f"partition {self.spec.mode} ({self.spec.direction}): cut " + ", ".join(
            f"{a}-{b}" for a, b in cut
        )
        return FaultPlan(
            "partition",
            tuple(touched),
            desc,
            tuple(inject),
            tuple(heal),
            tuple(verify),
            verify_absent=self.chain,
            details={"pairs": sorted(pairs), "chain": self.chain},
        )

    def _isolate(self, nodes: list[str]) -> FaultPlan:
        """Cut the targets off their whole data network, not only from the cluster's other nodes
        (a sentinel or a ZooKeeper ensemble outside the cluster file must not reach them either)."""
        inject: list[Step] = []
        heal: list[Step] = []
        verify: list[Step] = []
        for name in nodes:
            node = _node(self.cluster, name)
            ifname = _interface(node, None)
            rules = []
            if self.spec.direction in ("both", "inbound"):
                rules.append(["-i", ifname, "-j", "DROP"])
            if self.spec.direction in ("both", "outbound"):
                rules.append(["-o", ifname, "-j", "DROP"])
            i, h = chain_steps(node, self.chain, rules)
            inject += i
            heal += h
            verify.append(Step(name, _control(node), ("iptables", "-w", "-S")))
        desc = f"partition isolate ({self.spec.direction}): {', '.join(nodes)} cut off the data network"
        return FaultPlan(
            "partition", tuple(nodes), desc, tuple(inject), tuple(heal), tuple(verify),
            verify_absent=self.chain, details={"isolated": nodes, "chain": self.chain},
        )  # fmt: skip


class LossFault:
    kind = "loss"

    def __init__(self, spec: LossSpec, cluster: ClusterConfig, chain: str) -> None:
        self.spec = spec
        self.cluster = cluster
        self.chain = chain

    async def preflight(self, runner: StepRunner) -> None:
        for peer in self.spec.peers or []:
            _data_ip(_node(self.cluster, peer))

    async def plan(self, nodes: list[str], runner: StepRunner) -> FaultPlan:
        p = f"{self.spec.probability:g}"
        stat = ["-m", "statistic", "--mode", "random", "--probability", p, "-j", "DROP"]
        inject: list[Step] = []
        heal: list[Step] = []
        verify: list[Step] = []
        for name in nodes:
            node = _node(self.cluster, name)
            if self.spec.peers:
                rules = []
                for peer in self.spec.peers:
                    ip = _data_ip(_node(self.cluster, peer))
                    rules += [["-s", ip, *stat], ["-d", ip, *stat]]
                tool = _tool(_data_ip(_node(self.cluster, self.spec.peers[0])))
            else:
                ifname = _interface(node, None)
                rules = [["-i", ifname, *stat], ["-o", ifname, *stat]]
                tool = "iptables"
            i, h = chain_steps(node, self.chain, rules, tool)
            inject += i
            heal += h
            verify.append(Step(name, _control(node), (tool, "-w", "-S")))
        return FaultPlan(
            "loss",
            tuple(nodes),
            f"drop {self.spec.probability:.0%} of packets on {', '.join(nodes)}",
            tuple(inject),
            tuple(heal),
            tuple(verify),
            verify_absent=self.chain,
        )


NETEM_MISSING = "Specified qdisc kind is unknown"


class DelayFault:
    kind = "delay"

    def __init__(self, spec: DelaySpec, cluster: ClusterConfig) -> None:
        self.spec = spec
        self.cluster = cluster

    async def preflight(self, runner: StepRunner) -> None:
        """Try netem on a throwaway veth pair on every node: kernels without sch_netem (as
        on the machine this project is developed on) fail here, before anything is injected."""
        for node in self.cluster.nodes:
            c = _control(node)
            probe_if = "qwnetemprobe0"
            await runner.run(Step(node.name, c, ("ip", "link", "del", probe_if), ok=(0, 1, 2)))
            made = await runner.run(
                Step(
                    node.name,
                    c,
                    ("ip", "link", "add", probe_if, "type", "veth", "peer", "name", "qwnetemprobe1"),
                )
            )
            if not made.ok:
                raise FaultError(
                    f"delay preflight on {node.name}: cannot create a throwaway interface: "
                    f"{made.stderr.strip() or made.stdout.strip()}"
                )
            try:
                tried = await runner.run(
                    Step(
                        node.name, c, ("tc", "qdisc", "add", "dev", probe_if, "root", "netem", "delay", "1ms")
                    )
                )
            finally:
                await runner.run(Step(node.name, c, ("ip", "link", "del", probe_if), ok=(0, 1, 2)))
            if not tried.ok:
                text = (tried.stderr + tried.stdout).strip()
                if NETEM_MISSING in text or "Unknown qdisc" in text:
                    raise FaultError(
                        f"delay faults need tc netem, which the kernel on {node.name} lacks "
                        f"('tc qdisc ... netem' says: {text.splitlines()[0] if text else NETEM_MISSING}); "
                        "use loss or partition faults on this machine"
                    )
                raise FaultError(f"delay preflight on {node.name}: tc netem failed: {text}")

    async def plan(self, nodes: list[str], runner: StepRunner) -> FaultPlan:
        inject: list[Step] = []
        heal: list[Step] = []
        netem = ["netem", "delay", f"{self.spec.delay_ms:g}ms"]
        if self.spec.jitter_ms:
            netem.append(f"{self.spec.jitter_ms:g}ms")
        for name in nodes:
            node = _node(self.cluster, name)
            ifname = _interface(node, self.spec.interface)
            c = _control(node)
            inject.append(Step(name, c, ("tc", "qdisc", "replace", "dev", ifname, "root", *netem)))
            heal.append(Step(name, c, ("tc", "qdisc", "del", "dev", ifname, "root"), ok=(0, 1, 2)))
        return FaultPlan(
            "delay",
            tuple(nodes),
            f"delay {self.spec.delay_ms:g} ms on {', '.join(nodes)}",
            tuple(inject),
            tuple(heal),
        )
