"""What each lab cluster kind runs on a node: argv, files, and how quorumwatch probes it.

Timeouts are the tuned ones from lab-facts.md, so faults produce failovers in about a second.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from quorumwatch.lab.net import LabNet, NodeNet
from quorumwatch.lab.system import require_programs

ZK_JARS = {
    "/usr/share/java/zookeeper.jar": "zookeeper",
    "/usr/share/java/slf4j-simple.jar": "libslf4j-java",
    "/usr/share/java/servlet-api.jar": "libservlet-api-java",
}


@dataclass(frozen=True)
class ServerSpec:
    """One server process of a lab node."""

    argv: list[str]
    log: Path
    files: dict[Path, str] = field(default_factory=dict)


@dataclass(frozen=True)
class KindSpec:
    probe: dict[str, Any]
    port: int
    interval: float
    deadline: float
    servers: dict[str, ServerSpec]


def etcd(net: LabNet, root: Path) -> KindSpec:
    require_programs(["etcd"])
    initial = ",".join(f"{n.name}=http://{n.data_ip}:2380" for n in net.nodes)
    servers = {}
    for n in net.nodes:
        d = root / n.name
        servers[n.name] = ServerSpec(
            [
                "etcd",
                "--name",
                n.name,
                "--data-dir",
                str(d / "data"),
                "--listen-peer-urls",
                f"http://{n.data_ip}:2380",
                "--initial-advertise-peer-urls",
                f"http://{n.data_ip}:2380",
                "--listen-client-urls",
                f"http://{n.data_ip}:2379,http://{n.mgmt_ip}:2379,http://127.0.0.1:2379",
                "--advertise-client-urls",
                f"http://{n.data_ip}:2379",
                "--initial-cluster",
                initial,
                "--initial-cluster-state",
                "new",
                "--initial-cluster-token",
                f"qw-{net.lab}",
                "--heartbeat-interval",
                "50",
                "--election-timeout",
                "500",
                "--pre-vote=true",
                "--logger",
                "zap",
                "--log-outputs",
                str(d / "etcd.log"),
            ],
            d / "etcd.log",
        )
    return KindSpec({"kind": "etcd"}, 2379, 0.1, 0.08, servers)


def zookeeper(net: LabNet, root: Path) -> KindSpec:
    require_programs(["java"], ZK_JARS)
    cp = ":".join(ZK_JARS)
    servers = {}
    for k, n in enumerate(net.nodes, start=1):
        d = root / n.name
        cfg = (
            "\n".join(
                [
                    "tickTime=200",
                    "initLimit=10",
                    "syncLimit=5",
                    f"dataDir={d / 'data'}",
                    "clientPort=2181",
                    "4lw.commands.whitelist=*",
                    "admin.serverPort=8080",
                    "maxSessionTimeout=20000",
                    *(f"server.{j}={m.data_ip}:2888:3888" for j, m in enumerate(net.nodes, start=1)),
                ]
            )
            + "\n"
        )
        servers[n.name] = ServerSpec(
            [
                "java",
                "-Xms64m",
                "-Xmx256m",
                "-XX:+UseSerialGC",
                "-Dorg.slf4j.simpleLogger.showDateTime=true",
                "-Dorg.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd HH:mm:ss,SSS",
                "-Dorg.slf4j.simpleLogger.showThreadName=true",
                f"-Dorg.slf4j.simpleLogger.logFile={d / 'zookeeper.log'}",
                f"-Dzookeeper.log.dir={d}",
                "-cp",
                cp,
                "org.apache.zookeeper.server.quorum.QuorumPeerMain",
                str(d / "zoo.cfg"),
            ],
            d / "zookeeper.log",
            {d / "zoo.cfg": cfg, d / "data" / "myid": f"{k}\n"},
        )
    return KindSpec({"kind": "zookeeper"}, 2181, 0.1, 0.08, servers)


KINDS = {"etcd": etcd, "zookeeper": zookeeper}


def node_of(net: LabNet, name: str) -> NodeNet:
    for n in net.nodes:
        if n.name == name:
            return n
    raise KeyError(name)
