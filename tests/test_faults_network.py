"""Network fault plans: the exact commands, chains of our own, idempotent heals, netem preflight."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from quorumwatch.config import ClusterConfig
from quorumwatch.faults import FaultError, Step, StepResult, StepRunner, build_fault
from quorumwatch.faults.specs import DelaySpec, LinkSpec, LossSpec, PartitionSpec


def cluster(n: int = 3, ssh: bool = False) -> ClusterConfig:
    nodes: list[dict[str, Any]] = []
    for i in range(1, n + 1):
        control: Any = {"ssh": {"host": f"meta{i}", "user": "ops"}} if ssh else {"netns": f"qw-t-n{i}"}
        nodes.append(
            {
                "name": f"n{i}",
                "address": f"10.0.0.{i}:2379",
                "control": control,
                "data_interface": "eth0",
                "data_address": f"10.1.0.{i}",
            }
        )
    return ClusterConfig.model_validate({"name": "t", "probe": {"kind": "etcd"}, "nodes": nodes})


def plan(
    spec: Any, nodes: list[str], c: ClusterConfig | None = None, chain: str = "quorumwatch-ab12cd34-1"
) -> Any:
    fault = build_fault(spec, c or cluster(), chain)
    return asyncio.run(fault.plan(nodes, StepRunner()))


def test_link_down_and_up_in_the_node_namespace() -> None:
    p = plan(LinkSpec(kind="link", hold=4), ["n2"])
    assert [s.argv for s in p.inject] == [("ip", "link", "set", "dev", "eth0", "down")]
    assert [s.argv for s in p.heal] == [("ip", "link", "set", "dev", "eth0", "up")]
    assert p.inject[0].control == {"netns": "qw-t-n2"} and p.inject[0].node == "n2"


def test_link_over_ssh_arms_a_dead_man_timer_before_the_cut() -> None:
    p = plan(LinkSpec(kind="link", hold=4, deadman_margin=10), ["n1"], cluster(ssh=True))
    arm, cut = p.inject
    assert arm.argv[:4] == ("setsid", "-f", "sh", "-c")
    assert arm.argv[5:] == ("14", "ip", "link", "set", "dev", "eth0", "up")
    assert cut.argv[-1] == "down"


def test_link_ifupdown_method() -> None:
    p = plan(LinkSpec(kind="link", method="ifupdown", interface="ens224"), ["n1"])
    assert p.inject[0].argv == ("ifdown", "ens224") and p.heal[0].argv == ("ifup", "ens224")


def test_partition_rules_live_in_our_chain_and_heal_removes_only_it() -> None:
    chain = "quorumwatch-ab12cd34-1"
    p = plan(
        PartitionSpec(kind="partition", mode="groups", groups=[["n2"], ["n1", "n3"]]), ["n2"], chain=chain
    )
    n2 = [s.argv for s in p.inject if s.node == "n2"]
    assert ("iptables", "-w", "-N", chain) in n2
    assert ("iptables", "-w", "-A", chain, "-s", "10.1.0.1", "-j", "DROP") in n2
    assert ("iptables", "-w", "-A", chain, "-d", "10.1.0.3", "-j", "DROP") in n2
    assert ("iptables", "-w", "-I", "INPUT", "1", "-j", chain) in n2
    n1 = [s.argv for s in p.inject if s.node == "n1"]
    assert ("iptables", "-w", "-A", chain, "-s", "10.1.0.2", "-j", "DROP") in n1
    assert not any("10.1.0.3" in a for a in n1)  # n1 and n3 still talk
    every = [s.argv for s in (*p.inject, *p.heal)]
    assert all(chain in a for a in every if a[0] == "iptables")
    assert not any("-F" in a and chain not in a for a in every)  # never a bare flush
    # heal: unhook (tolerating absence), flush and delete our chain; inject starts with the same cleanup
    heal_n2 = [s for s in p.heal if s.node == "n2"]
    assert [s.argv[-1] for s in heal_n2[:2]] == ["INPUT", "OUTPUT"]
    assert heal_n2[2].argv == ("iptables", "-w", "-F", chain) and heal_n2[2].ok == (0, 1)
    assert [s.argv for s in p.inject if s.node == "n2"][:4] == [s.argv for s in heal_n2]
    assert p.verify_absent == chain


def test_isolate_cuts_the_target_off_its_whole_data_network() -> None:
    p = plan(PartitionSpec(kind="partition", mode="isolate"), ["n2"])
    rules = [s.argv for s in p.inject if "-A" in s.argv]
    assert rules == [
        ("iptables", "-w", "-A", "quorumwatch-ab12cd34-1", "-i", "eth0", "-j", "DROP"),
        ("iptables", "-w", "-A", "quorumwatch-ab12cd34-1", "-o", "eth0", "-j", "DROP"),
    ]
    assert {s.node for s in (*p.inject, *p.heal)} == {"n2"}
    inbound = plan(PartitionSpec(kind="partition", mode="isolate", direction="inbound"), ["n2"])
    assert [s.argv[4] for s in inbound.inject if "-A" in s.argv] == ["-i"]


def test_partition_needs_data_addresses() -> None:
    c = ClusterConfig.model_validate(
        {
            "name": "t",
            "probe": {"kind": "etcd"},
            "nodes": [{"name": "a", "address": "h:1"}, {"name": "b", "address": "h:2"}],
        }
    )
    with pytest.raises(FaultError, match="node a has no data_address"):
        asyncio.run(build_fault(PartitionSpec(kind="partition"), c, "x").preflight(StepRunner()))


def test_loss_by_probability_on_the_data_interface_or_toward_peers() -> None:
    p = plan(LossSpec(kind="loss", probability=0.25), ["n1"])
    rules = [s.argv for s in p.inject if "-A" in s.argv]
    assert (
        "iptables",
        "-w",
        "-A",
        "quorumwatch-ab12cd34-1",
        "-i",
        "eth0",
        "-m",
        "statistic",
        "--mode",
        "random",
        "--probability",
        "0.25",
        "-j",
        "DROP",
    ) in rules
    p2 = plan(LossSpec(kind="loss", probability=0.5, peers=["n3"]), ["n1"])
    assert any(a[4:6] == ("-s", "10.1.0.3") for a in (s.argv for s in p2.inject if "-A" in s.argv))


def test_delay_plan_and_tolerant_heal() -> None:
    p = plan(DelaySpec(kind="delay", delay_ms=100, jitter_ms=10), ["n1"])
    assert p.inject[0].argv == (
        "tc",
        "qdisc",
        "replace",
        "dev",
        "eth0",
        "root",
        "netem",
        "delay",
        "100ms",
        "10ms",
    )
    assert p.heal[0].argv == ("tc", "qdisc", "del", "dev", "eth0", "root") and 2 in p.heal[0].ok


class ScriptedRunner(StepRunner):
    """Answers steps from a script instead of running them (unit tests of preflight logic)."""

    def __init__(self, answers: dict[str, tuple[int, str]]) -> None:
        super().__init__()
        self.answers = answers
        self.ran: list[tuple[str, ...]] = []

    async def run(self, step: Step) -> StepResult:
        self.ran.append(step.argv)
        code, err = next((v for k, v in self.answers.items() if k in " ".join(step.argv)), (0, ""))
        return StepResult(step, code, "", err, 0, 0)


def test_delay_preflight_names_missing_netem_and_cleans_up() -> None:
    runner = ScriptedRunner({"root netem": (2, "Error: Specified qdisc kind is unknown.")})
    fault = build_fault(DelaySpec(kind="delay", delay_ms=50), cluster(), "x")
    with pytest.raises(FaultError, match=r"delay faults need tc netem, which the kernel on n1 lacks"):
        asyncio.run(fault.preflight(runner))
    assert runner.ran[-1] == ("ip", "link", "del", "qwnetemprobe0")  # the throwaway link is removed


def test_delay_preflight_passes_where_netem_works() -> None:
    runner = ScriptedRunner({})
    asyncio.run(build_fault(DelaySpec(kind="delay", delay_ms=50), cluster(), "x").preflight(runner))
    assert sum(1 for a in runner.ran if "netem" in a) == 3  # one tc netem try per node
