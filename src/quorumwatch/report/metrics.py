"""Prometheus metrics of a running `watch` (`--metrics HOST:PORT`), from the ticks and the online
grading — so alerts fire on proven double leaders, not on scrapes taken at different instants.

Every metric carries `cluster` (and `node` where it is about one). Alert rules that use them ship in
contrib/prometheus/quorumwatch-rules.yml.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Enum, Gauge, Histogram

from quorumwatch.analysis.online import Change
from quorumwatch.model import Reason, Role, Tick

ROLES = [r.value for r in Role]
RTT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
LATENESS_BUCKETS = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5)


class WatchMetrics:
    """The metrics of one or more watched clusters in one registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.role = Enum(
            "quorumwatch_node_role",
            "What the node said at the last tick (unknown: no definite answer).",
            ["cluster", "node"],
            states=ROLES,
            registry=r,
        )
        self.epoch = Gauge(
            "quorumwatch_node_epoch",
            "The node's epoch (term, zxid epoch) at its last answer.",
            ["cluster", "node"],
            registry=r,
        )
        self.leaders = Gauge(
            "quorumwatch_leaders",
            "Nodes that said leader at the last tick (the naive count).",
            ["cluster"],
            registry=r,
        )
        self.dual_seconds = Counter(
            "quorumwatch_dual_leader_seconds",
            "Time two leaders overlapped, as graded: certain (proven) or possible (not ruled out).",
            ["cluster", "certainty"],
            registry=r,
        )
        self.dual_active = Gauge(
            "quorumwatch_dual_leader_active",
            "1 while a graded dual leader is open (certain: proven now).",
            ["cluster", "certainty"],
            registry=r,
        )
        self.violation_active = Gauge(
            "quorumwatch_violation_active",
            "1 while two leaders of the same epoch are proven to overlap.",
            ["cluster"],
            registry=r,
        )
        self.leaderless_seconds = Counter(
            "quorumwatch_leaderless_seconds",
            "Time without a leader, as results.json counts it: certain where no node can have "
            "led, possible where no node certainly led (between proven leaderships); counted "
            "once final.",
            ["cluster", "certainty"],
            registry=r,
        )
        self.leader_changes = Counter(
            "quorumwatch_leader_changes", "Changes of the agreed leader.", ["cluster"], registry=r
        )
        self.rtt = Histogram(
            "quorumwatch_probe_rtt_seconds",
            "Probe round trips (answered probes).",
            ["cluster", "node"],
            buckets=RTT_BUCKETS,
            registry=r,
        )
        self.errors = Counter(
            "quorumwatch_probe_errors",
            "Probes without a definite answer, by reason.",
            ["cluster", "node", "reason"],
            registry=r,
        )
        self.lateness = Histogram(
            "quorumwatch_tick_lateness_seconds",
            "How late each tick started.",
            ["cluster"],
            buckets=LATENESS_BUCKETS,
            registry=r,
        )
        self.ticks = Counter("quorumwatch_ticks", "Ticks probed.", ["cluster"], registry=r)
        self.group_leaders = Gauge(
            "quorumwatch_group_leaders",
            "A sharded cluster: nodes that said they lead the group at the last tick (the naive count).",
            ["cluster", "group"],
            registry=r,
        )
        self.group_dual_active = Gauge(
            "quorumwatch_group_dual_leader_active",
            "A sharded cluster: 1 while a graded dual leader of the group is open.",
            ["cluster", "group", "certainty"],
            registry=r,
        )
        self.clusters = Gauge(
            "quorumwatch_clusters_watched",
            "Clusters this process watches now (a shard: those of its directory that fall to it).",
            registry=r,
        )
        self.shard = Gauge(
            "quorumwatch_shard",
            "1, labelled with this process's shard and the shard count it was started with "
            "(`watch --shard K/N`; 0/1 when not sharded): shards that disagree on N miss or repeat clusters.",
            ["shard", "shards"],
            registry=r,
        )
        node, cert, group = ("cluster", "node"), ("cluster", "certainty"), ("cluster", "group")
        self._labelled: list[tuple[Gauge | Counter | Histogram | Enum, tuple[str, ...]]] = [
            (self.role, node), (self.epoch, node), (self.leaders, ("cluster",)), (self.dual_seconds, cert),
            (self.dual_active, cert), (self.violation_active, ("cluster",)), (self.leaderless_seconds, cert),
            (self.leader_changes, ("cluster",)), (self.rtt, node), (self.errors, (*node, "reason")),
            (self.lateness, ("cluster",)), (self.ticks, ("cluster",)), (self.group_leaders, group),
            (self.group_dual_active, (*group, "certainty")),
        ]  # fmt: skip
        self._agreed: dict[str, str | None] = {}
        self._grown: dict[tuple[str, tuple[str, str], bool, int], int] = {}
        self._last_start: dict[str, int] = {}
        self._leaderless: dict[str, dict[bool, int]] = {}

    def observe(
        self, cluster: str, tick: Tick, active: list[Change], leaderless_ns: Mapping[bool, int]
    ) -> None:
        """One tick, the findings active after it, and the final leaderless time so far (certain,
        possible) of the cluster's grading (`LeaderlessSweep.total_ns`)."""
        self.ticks.labels(cluster).inc()
        self.lateness.labels(cluster).observe(max(tick.lateness_ns, 0) / 1e9)
        for o in tick.observations:
            self.role.labels(cluster, o.node).state(o.role.value)
            if o.epoch is not None:
                self.epoch.labels(cluster, o.node).set(o.epoch)
            if o.role is Role.UNKNOWN:
                self.errors.labels(cluster, o.node, o.reason.value if o.reason else "unknown").inc()
            else:
                self.rtt.labels(cluster, o.node).observe(o.rtt_ns / 1e9)
        leaders = tick.leaders
        self.leaders.labels(cluster).set(len(leaders))
        agreed = tick.agreed_leader
        if agreed is not None:
            if self._agreed.get(cluster) not in (None, agreed):
                self.leader_changes.labels(cluster).inc()
            self._agreed[cluster] = agreed
        counted = self._leaderless.setdefault(cluster, {True: 0, False: 0})
        for certain, total in leaderless_ns.items():
            if total > counted[certain]:
                name = "certain" if certain else "possible"
                self.leaderless_seconds.labels(cluster, name).inc((total - counted[certain]) / 1e9)
                counted[certain] = total
        self._findings(cluster, active)
        if any(o.groups for o in tick.observations):
            self._groups(cluster, tick, active)

    def _groups(self, cluster: str, tick: Tick, active: list[Change]) -> None:
        led: dict[str, int] = {}
        for o in tick.observations:
            for g in o.groups if o.role is not Role.UNKNOWN else ():
                led[g.group] = led.get(g.group, 0) + (g.role is Role.LEADER)
        for group, n in led.items():
            self.group_leaders.labels(cluster, group).set(n)
            for certain, name in ((True, "certain"), (False, "possible")):
                on = any(c.group == group and c.certain is certain for c in active)
                self.group_dual_active.labels(cluster, group, name).set(1 if on else 0)

    def _findings(self, cluster: str, active: list[Change]) -> None:
        seen = set()
        for certain, name in ((True, "certain"), (False, "possible")):
            mine = [c for c in active if c.certain is certain]
            self.dual_active.labels(cluster, name).set(1 if mine else 0)
            for c in mine:
                key = (cluster, c.nodes, c.certain, c.start)
                seen.add(key)
                before = self._grown.get(key, c.start)
                if c.end > before:
                    self.dual_seconds.labels(cluster, name).inc((c.end - before) / 1e9)
                    self._grown[key] = c.end
        self.violation_active.labels(cluster).set(
            1 if any(c.certain and c.kind == "violation" for c in active) else 0
        )
        for key in [k for k in self._grown if k[0] == cluster and k not in seen]:
            del self._grown[key]

    def start(self, cluster: str, nodes: list[str]) -> None:
        """Publish every series of a cluster at zero before its first tick (alerts and rate() need it)."""
        self.clusters.inc()
        for name in ("certain", "possible"):
            self.dual_seconds.labels(cluster, name)
            self.dual_active.labels(cluster, name).set(0)
            self.leaderless_seconds.labels(cluster, name)
        self.violation_active.labels(cluster).set(0)
        self.leader_changes.labels(cluster)
        self.ticks.labels(cluster)
        for node in nodes:
            self.errors.labels(cluster, node, Reason.TIMEOUT.value)

    def forget(self, cluster: str) -> None:
        """Remove every series of a cluster no longer watched (its file left the shard's directory):
        a stale `dual_leader_active` would page for a cluster nobody watches."""
        self.clusters.dec()
        for metric, names in self._labelled:
            series = {
                tuple(sample.labels[n] for n in names)
                for family in metric.collect()
                for sample in family.samples
                if sample.labels.get("cluster") == cluster
            }
            for values in series:
                with contextlib.suppress(KeyError):
                    metric.remove(*values)
        self._agreed.pop(cluster, None)
        self._last_start.pop(cluster, None)
        self._leaderless.pop(cluster, None)
        for key in [k for k in self._grown if k[0] == cluster]:
            del self._grown[key]


def serve(metrics: WatchMetrics, address: str) -> tuple[str, int]:
    """Serve /metrics on HOST:PORT (host defaults to 127.0.0.1; port 0 picks a free one)."""
    from prometheus_client import start_http_server

    host, _, port = address.rpartition(":")
    server, _thread = start_http_server(int(port), addr=host or "127.0.0.1", registry=metrics.registry)
    bound = server.server_address
    return str(bound[0]), int(bound[1])


__all__ = ["WatchMetrics", "serve"]
