"""The lab network: one namespace per node, two links each, bridges in a hub namespace.

    root ns ── qwm<i> ─┐ (management: probes)           hub ns: bridge bmgmt (management)
                       └── bmgmt ─ m-nK ═ mgmt0 (node K)        bridge bdata (data)
                           bdata ─ d-nK ═ eth0  (node K: the link faults cut)

The bridges live in a hub namespace because bridge netfilter is on in this kernel: a bridge in
the root namespace would push node-to-node traffic through root's FORWARD chain. Node namespaces
get no default route, and root gets an `unreachable` route for the lab's data subnet, so nothing
can leak to a real network.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from quorumwatch.lab.system import LabError, sh

DATA_NET = ipaddress.ip_network("10.213.0.0/16")
MGMT_NET = ipaddress.ip_network("10.214.0.0/16")


@dataclass(frozen=True)
class NodeNet:
    name: str
    netns: str
    data_ip: str
    mgmt_ip: str
    data_if: str = "eth0"
    mgmt_if: str = "mgmt0"


@dataclass(frozen=True)
class LabNet:
    lab: str
    index: int
    hub: str
    host_if: str
    host_ip: str
    data_subnet: str
    mgmt_subnet: str
    nodes: tuple[NodeNet, ...]


def plan(lab: str, index: int, node_names: list[str]) -> LabNet:
    """Addresses and names for a lab; pure, so tests can check it without root."""
    if not 1 <= index <= 250:
        raise LabError(f"lab index {index} out of range 1..250")
    if len(node_names) > 200:
        raise LabError("at most 200 nodes in one lab")
    data = f"10.213.{index}"
    mgmt = f"10.214.{index}"
    nodes = tuple(
        NodeNet(name, f"qw-{lab}-{name}", f"{data}.{10 + k}", f"{mgmt}.{10 + k}")
        for k, name in enumerate(node_names, start=1)
    )
    return LabNet(
        lab, index, f"qw-{lab}-hub", f"qwm{index}", f"{mgmt}.1", f"{data}.0/24", f"{mgmt}.0/24", nodes
    )


def check_free(net: LabNet) -> None:
    """Refuse subnets that this machine already routes somewhere specific (not via default)."""
    if sh(["ip", "link", "show", "dev", net.host_if], check=False).returncode == 0:
        raise LabError(f"interface {net.host_if} already exists: another lab uses index {net.index}")
    routes = sh(["ip", "-4", "route", "show"]).stdout.splitlines()
    for line in routes:
        words = line.split()
        dest = (
            words[1]
            if words[:1] in (["unreachable"], ["blackhole"], ["prohibit"])
            else words[0]
            if words
            else ""
        )
        if dest == "default":
            continue
        try:
            existing = ipaddress.ip_network(dest, strict=False)
        except ValueError:
            continue
        for ours in (net.data_subnet, net.mgmt_subnet):
            if existing.overlaps(ipaddress.ip_network(ours)):
                raise LabError(f"subnet {ours} is already in use on this machine ({line.strip()})")


def build(net: LabNet) -> None:
    """Create namespaces, links, bridges and the leak guard. Raises LabError; caller tears down."""
    ip = ["ip"]
    sh([*ip, "route", "replace", "unreachable", net.data_subnet])
    sh([*ip, "netns", "add", net.hub])
    hub = [*ip, "-n", net.hub]
    sh([*hub, "link", "set", "lo", "up"])
    for br in ("bdata", "bmgmt"):
        sh([*hub, "link", "add", br, "type", "bridge"])
        sh([*hub, "link", "set", br, "up"])
    # management link from the root namespace, where quorumwatch runs
    sh([*ip, "link", "add", net.host_if, "type", "veth", "peer", "name", "host", "netns", net.hub])
    sh([*hub, "link", "set", "host", "master", "bmgmt", "up"])
    sh([*ip, "addr", "add", f"{net.host_ip}/24", "dev", net.host_if])
    sh([*ip, "link", "set", net.host_if, "up"])
    for k, node in enumerate(net.nodes, start=1):
        sh([*ip, "netns", "add", node.netns])
        ns = [*ip, "-n", node.netns]
        sh([*ns, "link", "set", "lo", "up"])
        for ifname, peer, br, addr in (
            (node.data_if, f"d{k}", "bdata", node.data_ip),
            (node.mgmt_if, f"m{k}", "bmgmt", node.mgmt_ip),
        ):
            sh([*ns, "link", "add", ifname, "type", "veth", "peer", "name", peer, "netns", net.hub])
            sh([*hub, "link", "set", peer, "master", br, "up"])
            sh([*ns, "addr", "add", f"{addr}/24", "dev", ifname])
            sh([*ns, "link", "set", ifname, "up"])


def namespaces() -> list[str]:
    out = sh(["ip", "netns", "list"], check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def netns_pids(netns: str) -> list[int]:
    out = sh(["ip", "netns", "pids", netns], check=False).stdout
    return [int(p) for p in out.split() if p.isdigit()]


def teardown(lab: str, index: int | None, host_if: str | None, data_subnet: str | None) -> None:
    """Remove everything a lab may have created; safe to run on a half-built or gone lab."""
    prefix = f"qw-{lab}-"
    for ns in namespaces():
        if ns.startswith(prefix):
            sh(["ip", "netns", "del", ns], check=False)
    if host_if:
        sh(["ip", "link", "del", host_if], check=False)
    if data_subnet:
        sh(["ip", "route", "del", "unreachable", data_subnet], check=False)
