"""What each lab cluster kind runs on its namespaces: argv, files, and how quorumwatch probes it.

Timeouts are the tuned ones from lab-facts.md, so faults produce failovers in about a second.
Kinds may add support namespaces that are not in the cluster file: the ZooKeeper ensemble that
zk-election participants elect through, the sentinels that watch Redis.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from quorumwatch.lab.net import LabNet, NodeNet
from quorumwatch.lab.system import LabError, require_programs

ZK_JARS = {
    "/usr/share/java/zookeeper.jar": "zookeeper",
    "/usr/share/java/slf4j-log4j12.jar": "libslf4j-java",
    "/usr/share/java/log4j-1.2.jar": "liblog4j1.2-java",
    "/usr/share/java/servlet-api.jar": "libservlet-api-java",
}
ZK_LOG4J = "/etc/zookeeper/conf/log4j.properties"
"""The logging configuration Debian's zookeeper package ships (log4j 1.2, ROLLINGFILE appender,
`%d{ISO8601} - %-5p [%t:%C{1}@%L] - %m%n`): the lab's servers write what a stock server writes."""


@dataclass(frozen=True)
class ServerSpec:
    """One server process of a lab namespace."""

    argv: list[str]
    log: Path
    files: dict[Path, str] = field(default_factory=dict)
    user: str | None = None
    """Run as this system user (PostgreSQL refuses root): its folder is chowned to it and the
    server started through `setpriv`, which execs and so keeps the pid the lab kills."""


@dataclass(frozen=True)
class KindSpec:
    probe: dict[str, Any]
    port: int
    interval: float
    deadline: float
    servers: dict[str, ServerSpec]
    cluster_nodes: list[str]
    """The namespaces that are the cluster's nodes (the rest support them)."""
    ready: Callable[[], str | None] | None = None
    """Beyond one agreed leader: None when the cluster is fully ready, else what is missing."""
    form: Callable[[], None] | None = None
    """Run once every server has started (blocking): what joins them into one cluster."""
    leaders: int = 1
    """How many nodes lead at once when all is well (one per group of a sharded cluster)."""


@dataclass(frozen=True)
class Kind:
    names: Callable[[int], tuple[list[str], list[str]]]
    """Node count → (node names, support names)."""
    build: Callable[[LabNet, Path, dict[str, Any]], KindSpec]


def _nodes_only(n: int) -> tuple[list[str], list[str]]:
    return [f"n{k}" for k in range(1, n + 1)], []


def _by_name(net: LabNet) -> dict[str, NodeNet]:
    return {n.name: n for n in net.nodes}


def etcd(net: LabNet, root: Path, options: dict[str, Any]) -> KindSpec:
    """etcd members; with `tls`, clients must speak TLS and present a certificate the lab's CA
    signed (--client-cert-auth), as production etcd is run. Peers talk plain text either way."""
    require_programs(["etcd"])
    initial = ",".join(f"{n.name}=http://{n.data_ip}:2380" for n in net.nodes)
    probe: dict[str, Any] = {"kind": "etcd"}
    certs = None
    if options.get("tls"):
        from quorumwatch.lab.certs import make_lab_certs

        certs = make_lab_certs(root / "tls", {n.name: [n.data_ip, n.mgmt_ip, "127.0.0.1"] for n in net.nodes})
        probe["tls"] = {"ca": str(certs.ca), "cert": str(certs.client.cert), "key": str(certs.client.key)}
    scheme = "https" if certs else "http"
    servers = {}
    for n in net.nodes:
        d = root / n.name
        argv = [
            "etcd", "--name", n.name, "--data-dir", str(d / "data"),
            "--listen-peer-urls", f"http://{n.data_ip}:2380",
            "--initial-advertise-peer-urls", f"http://{n.data_ip}:2380",
            "--listen-client-urls",
            ",".join(f"{scheme}://{ip}:2379" for ip in (n.data_ip, n.mgmt_ip, "127.0.0.1")),
            "--advertise-client-urls", f"{scheme}://{n.data_ip}:2379",
            "--initial-cluster", initial, "--initial-cluster-state", "new",
            "--initial-cluster-token", f"qw-{net.lab}",
            "--heartbeat-interval", "50", "--election-timeout", "500", "--pre-vote=true",
            "--logger", "zap", "--log-outputs", str(d / "etcd.log"),
        ]  # fmt: skip
        if certs:
            pair = certs.servers[n.name]
            argv += [
                "--cert-file", str(pair.cert), "--key-file", str(pair.key),
                "--trusted-ca-file", str(certs.ca), "--client-cert-auth",
            ]  # fmt: skip
        servers[n.name] = ServerSpec(argv, d / "etcd.log")
    return KindSpec(probe, 2379, 0.1, 0.08, servers, [n.name for n in net.nodes])


def _zookeeper_servers(members: list[NodeNet], root: Path) -> dict[str, ServerSpec]:
    require_programs(["java"], {**ZK_JARS, ZK_LOG4J: "zookeeper"})
    cp = ":".join(ZK_JARS)
    servers = {}
    for k, n in enumerate(members, start=1):
        d = root / n.name
        cfg = "\n".join(
            [
                "tickTime=200", "initLimit=10", "syncLimit=5", f"dataDir={d / 'data'}",
                "clientPort=2181", "4lw.commands.whitelist=*", "admin.serverPort=8080",
                "maxSessionTimeout=20000",
                *(f"server.{j}={m.data_ip}:2888:3888" for j, m in enumerate(members, start=1)),
            ]
        ) + "\n"  # fmt: skip
        servers[n.name] = ServerSpec(
            [
                "java", "-Xms64m", "-Xmx256m", "-XX:+UseSerialGC",
                f"-Dlog4j.configuration=file:{ZK_LOG4J}", "-Dzookeeper.root.logger=INFO,ROLLINGFILE",
                f"-Dzookeeper.log.dir={d}", "-Dzookeeper.log.file=zookeeper.log",
                "-cp", cp, "org.apache.zookeeper.server.quorum.QuorumPeerMain", str(d / "zoo.cfg"),
            ],
            # ROLLINGFILE appends: a restarted server keeps its history in the same file
            d / "zookeeper.log",
            {d / "zoo.cfg": cfg, d / "data" / "myid": f"{k}\n"},
        )  # fmt: skip
    return servers


def zookeeper(net: LabNet, root: Path, options: dict[str, Any]) -> KindSpec:
    servers = _zookeeper_servers(list(net.nodes), root)
    return KindSpec({"kind": "zookeeper"}, 2181, 0.1, 0.08, servers, [n.name for n in net.nodes])


def _zk_election_names(n: int) -> tuple[list[str], list[str]]:
    return [f"n{k}" for k in range(1, n + 1)], ["zk1", "zk2", "zk3"]


def zk_election(net: LabNet, root: Path, options: dict[str, Any]) -> KindSpec:
    """3 ZooKeeper servers (support) and participants electing through them (the cluster)."""
    by = _by_name(net)
    ensemble = [by[z] for z in ("zk1", "zk2", "zk3")]
    servers = _zookeeper_servers(ensemble, root)
    hosts = ",".join(f"{z.data_ip}:2181" for z in ensemble)
    policy = options.get("on_suspend", "stepdown")
    nodes = [n for n in net.nodes if n.name.startswith("n")]
    for n in nodes:
        d = root / n.name
        servers[n.name] = ServerSpec(
            [
                sys.executable, "-m", "quorumwatch.lab.participant", "--name", n.name, "--zk", hosts,
                "--listen", f"{n.mgmt_ip}:8080", "--advertise", f"{n.data_ip}:10100",
                "--on-suspend", policy, "--session-timeout", str(options.get("session_timeout", 3.0)),
                "--log", str(d / "participant.INFO"), *(["--fencing"] if options.get("fencing") else []),
            ],
            d / "participant.INFO",
        )  # fmt: skip
    probe = {
        "kind": "http", "path": "/status", "json_field": "role",
        "role_values": {"leader": "leader", "follower": "follower", "candidate": "candidate"},
        "epoch_field": "epoch", "leader_id_field": "leader",
    }  # fmt: skip
    return KindSpec(probe, 8080, 0.1, 0.08, servers, [n.name for n in nodes])


def _redis_names(n: int) -> tuple[list[str], list[str]]:
    return [f"n{k}" for k in range(1, n + 1)], ["s1", "s2", "s3"]


def redis(net: LabNet, root: Path, options: dict[str, Any]) -> KindSpec:
    """A master (n1), replicas and three sentinels (support), down-after 1000 ms."""
    require_programs(["redis-server", "redis-sentinel"])
    by = _by_name(net)
    nodes = [n for n in net.nodes if n.name.startswith("n")]
    master = nodes[0]
    servers = {}
    for n in nodes:
        d = root / n.name
        conf = [
            f"bind {n.data_ip} {n.mgmt_ip}", "port 6379", "protected-mode no", f"dir {d}",
            'save ""', "appendonly no", f"replica-announce-ip {n.data_ip}", f"logfile {d / 'redis.log'}",
            "daemonize no",
        ]  # fmt: skip
        if options.get("min_replicas_to_write"):
            # Redis' own mitigation, on every node (any of them may be promoted): a master that
            # hears from fewer replicas within the lag refuses writes (NOREPLICAS)
            conf.append(f"min-replicas-to-write {int(options['min_replicas_to_write'])}")
            conf.append(f"min-replicas-max-lag {int(options.get('min_replicas_max_lag') or 10)}")
        if n is not master:
            conf.append(f"replicaof {master.data_ip} 6379")
        servers[n.name] = ServerSpec(
            ["redis-server", str(d / "redis.conf")],
            d / "redis.log",
            {d / "redis.conf": "\n".join(conf) + "\n"},
        )
    for s in ("s1", "s2", "s3"):
        sn = by[s]
        d = root / s
        conf = [
            f"bind {sn.data_ip} {sn.mgmt_ip}", "port 26379", "protected-mode no", f"dir {d}",
            f"sentinel announce-ip {sn.data_ip}", f"logfile {d / 'sentinel.log'}", "daemonize no",
            f"sentinel monitor mymaster {master.data_ip} 6379 2",
            "sentinel down-after-milliseconds mymaster 1000",
            "sentinel failover-timeout mymaster 5000",
            "sentinel parallel-syncs mymaster 1",
        ]  # fmt: skip
        servers[s] = ServerSpec(
            ["redis-sentinel", str(d / "sentinel.conf")],
            d / "sentinel.log",
            {d / "sentinel.conf": "\n".join(conf) + "\n"},
        )
    sentinels = [(by[s].mgmt_ip, 26379) for s in ("s1", "s2", "s3")]
    want_replicas = len(nodes) - 1

    def ready() -> str | None:
        """Sentinels fail over only once they know each other and the replicas (~5 s)."""
        import redis as redis_client

        for host, port in sentinels:
            try:
                r = redis_client.Redis(host=host, port=port, socket_timeout=1, decode_responses=True)
                info = r.execute_command("SENTINEL", "MASTER", "mymaster")  # type: ignore[no-untyped-call]
                r.close()
            except redis_client.RedisError as exc:
                return f"sentinel {host}: {exc}"
            fields = dict(zip(info[::2], info[1::2], strict=False)) if isinstance(info, list) else dict(info)
            if (
                int(fields.get("num-other-sentinels", 0)) < 2
                or int(fields.get("num-slaves", 0)) < want_replicas
            ):
                return (
                    f"sentinel {host} knows {fields.get('num-other-sentinels')} sentinels, "
                    f"{fields.get('num-slaves')} replicas"
                )
        return None

    probe = {"kind": "redis", "sentinels": [f"{h}:{p}" for h, p in sentinels], "master_name": "mymaster"}
    return KindSpec(probe, 6379, 0.1, 0.08, servers, [n.name for n in nodes], ready)


def keepalived(net: LabNet, root: Path, options: dict[str, Any]) -> KindSpec:
    """VRRP: keepalived instances on the data link sharing one virtual address; MASTER holds it.
    Probed by looking for the address on each node's data interface (a command in its namespace)."""
    require_programs(["keepalived", "ip"])
    vip = f"{net.nodes[0].data_ip.rsplit('.', 1)[0]}.200"
    servers = {}
    for k, n in enumerate(net.nodes):
        d = root / n.name
        conf = "\n".join(
            [
                "global_defs {", f"  router_id {n.name}", "  enable_script_security", "}",
                "vrrp_instance VI_1 {", "  state BACKUP", "  interface eth0", "  virtual_router_id 51",
                f"  priority {150 - 10 * k}", "  advert_int 1",
                "  virtual_ipaddress {", f"    {vip}/24 dev eth0", "  }", "}",
            ]
        ) + "\n"  # fmt: skip
        servers[n.name] = ServerSpec(
            [
                "keepalived", "--dont-fork", "--log-console", "--log-detail", "--vrrp",
                "--use-file", str(d / "keepalived.conf"), "--pid", str(d / "keepalived.pid"),
                "--vrrp_pid", str(d / "vrrp.pid"),
            ],
            d / "console.log",
            {d / "keepalived.conf": conf},
        )  # fmt: skip
    probe = {
        "kind": "command", "argv": ["ip", "-o", "-4", "addr", "show", "dev", "eth0"],
        "leader_regex": rf"inet {re.escape(vip)}/", "follower_regex": r"inet ",
    }  # fmt: skip
    return KindSpec(probe, 112, 0.1, 0.08, servers, [n.name for n in net.nodes])


def _redis_cluster_names(masters: int) -> tuple[list[str], list[str]]:
    return [f"n{k}" for k in range(1, 2 * masters + 1)], []


def redis_cluster(net: LabNet, root: Path, options: dict[str, Any]) -> KindSpec:
    """Redis Cluster: `--nodes` masters, each with one replica (n1..nN masters at creation, the
    rest replicas), the cluster bus over the data link, `cluster-node-timeout` from options
    (default 2000 ms). Formed with `redis-cli --cluster create` from inside the first namespace."""
    require_programs(["redis-server", "redis-cli"])
    nodes = list(net.nodes)
    if len(nodes) < 6:
        raise LabError("redis-cluster needs --nodes 3 or more (masters; each gets a replica)")
    timeout = int(options.get("node_timeout") or 2000)
    servers = {}
    for n in nodes:
        d = root / n.name
        conf = [
            f"bind {n.data_ip} {n.mgmt_ip} 127.0.0.1", "port 6379", "protected-mode no", f"dir {d}",
            "cluster-enabled yes", f"cluster-config-file {d / 'nodes.conf'}",
            f"cluster-node-timeout {timeout}", f"cluster-announce-ip {n.data_ip}",
            'save ""', "appendonly no", "repl-diskless-sync-delay 0", f"logfile {d / 'redis.log'}",
            "daemonize no",
        ]  # fmt: skip
        servers[n.name] = ServerSpec(
            ["redis-server", str(d / "redis.conf")],
            d / "redis.log",
            {d / "redis.conf": "\n".join(conf) + "\n"},
        )
    first = nodes[0]
    addrs = [f"{n.data_ip}:6379" for n in nodes]

    def form() -> None:
        from quorumwatch.lab.system import sh

        deadline = time.monotonic() + 30
        while True:
            done = sh(
                ["ip", "netns", "exec", first.netns, "redis-cli", "--cluster", "create", *addrs,
                 "--cluster-replicas", "1", "--cluster-yes"],
                check=False, timeout=30,
            )  # fmt: skip
            if done.returncode == 0:
                return
            if time.monotonic() > deadline:
                out = (done.stdout + done.stderr).strip().splitlines()
                raise LabError(f"redis-cli --cluster create failed: {out[-1] if out else done.returncode}")
            time.sleep(0.3)  # the servers are still starting

    def ready() -> str | None:
        """Every node sees `cluster_state:ok`, and every replica's link to its master is up."""
        import redis as redis_client

        for n in nodes:
            try:
                r = redis_client.Redis(host=n.mgmt_ip, port=6379, socket_timeout=1, decode_responses=True)
                info = r.execute_command("CLUSTER", "INFO")  # type: ignore[no-untyped-call]
                repl = r.info("replication")
                r.close()
            except redis_client.RedisError as exc:
                return f"{n.name}: {exc}"
            if "cluster_state:ok" not in str(info):
                return f"{n.name}: cluster_state not ok"
            if repl.get("role") == "slave" and repl.get("master_link_status") != "up":
                return f"{n.name}: replica link {repl.get('master_link_status')}"
        return None

    masters = len(nodes) // 2
    return KindSpec(
        {"kind": "redis-cluster"}, 6379, 0.1, 0.08, servers, [n.name for n in nodes], ready, form, masters
    )


def _patroni_names(n: int) -> tuple[list[str], list[str]]:
    return [f"n{k}" for k in range(1, n + 1)], ["e1", "e2", "e3"]


PG_BIN = "/usr/lib/postgresql/15/bin"
PATRONI_DEFAULTS = {"ttl": 10, "loop_wait": 2, "retry_timeout": 3}
"""Shorter than Patroni's own 30/10/10 so a failover takes ~15 s instead of ~45 s (lab-facts.md)."""


def patroni(net: LabNet, root: Path, options: dict[str, Any]) -> KindSpec:
    """PostgreSQL 15 under Patroni 3 on each node, with a 3-member etcd (support: e1-e3) as the DCS,
    as a separate DCS cluster is commonly run. Replication and the DCS go over the data link, the
    REST API answers on every address (port 8008), PostgreSQL on 5432. Async replication unless
    `synchronous` (Patroni's `synchronous_mode`)."""
    require_programs(["etcd", "patroni", "setpriv"], {f"{PG_BIN}/postgres": "postgresql-15"})
    by = _by_name(net)
    dcs = [by[e] for e in ("e1", "e2", "e3")]
    initial = ",".join(f"{e.name}=http://{e.data_ip}:2380" for e in dcs)
    servers = {}
    for e in dcs:
        d = root / e.name
        servers[e.name] = ServerSpec(
            [
                "etcd", "--name", e.name, "--data-dir", str(d / "data"),
                "--listen-peer-urls", f"http://{e.data_ip}:2380",
                "--initial-advertise-peer-urls", f"http://{e.data_ip}:2380",
                "--listen-client-urls", f"http://{e.data_ip}:2379,http://{e.mgmt_ip}:2379",
                "--advertise-client-urls", f"http://{e.data_ip}:2379",
                "--initial-cluster", initial, "--initial-cluster-state", "new",
                "--initial-cluster-token", f"qw-{net.lab}-dcs",
                "--heartbeat-interval", "100", "--election-timeout", "1000",
                "--enable-v2=false", "--logger", "zap", "--log-outputs", str(d / "etcd.log"),
            ],
            d / "etcd.log",
        )  # fmt: skip
    timing = {k: int(options.get(k) or v) for k, v in PATRONI_DEFAULTS.items()}
    nodes = [n for n in net.nodes if n.name.startswith("n")]
    subnet = f"{nodes[0].data_ip.rsplit('.', 1)[0]}.0/24"
    for n in nodes:
        d = root / n.name
        conf = {
            "scope": f"qw-{net.lab}",
            "name": n.name,
            "restapi": {"listen": "0.0.0.0:8008", "connect_address": f"{n.data_ip}:8008"},
            "etcd3": {"hosts": [f"{e.data_ip}:2379" for e in dcs]},
            "bootstrap": {
                "dcs": {
                    **timing,
                    "maximum_lag_on_failover": 1048576,
                    "synchronous_mode": bool(options.get("synchronous")),
                    "postgresql": {"use_pg_rewind": True, "use_slots": True},
                },
                "initdb": [{"encoding": "UTF8"}, "data-checksums"],
            },
            "postgresql": {
                "listen": "0.0.0.0:5432",
                "connect_address": f"{n.data_ip}:5432",
                "data_dir": str(d / "pgdata"),
                "bin_dir": PG_BIN,
                "pgpass": str(d / "pgpass"),
                "use_pg_rewind": True,
                "authentication": {
                    "superuser": {"username": "postgres", "password": LAB_PG_PASSWORD},
                    "replication": {"username": "replicator", "password": LAB_PG_PASSWORD},
                    "rewind": {"username": "postgres", "password": LAB_PG_PASSWORD},
                },
                "parameters": {
                    "unix_socket_directories": str(d),
                    "shared_buffers": "16MB",
                    "max_connections": 30,
                    "max_wal_senders": 10,
                    "max_replication_slots": 10,
                    "wal_keep_size": "64MB",
                },
                "pg_hba": [
                    "local all all trust",
                    "local replication all trust",
                    # Patroni reads a replica's own timeline over a replication connection to localhost
                    "host replication replicator 127.0.0.1/32 scram-sha-256",
                    f"host replication replicator {subnet} scram-sha-256",
                    "host all all 0.0.0.0/0 scram-sha-256",
                ],
            },
            "log": {"level": "INFO"},
        }
        servers[n.name] = ServerSpec(
            ["patroni", str(d / "patroni.yml")],
            d / "console.log",
            {d / "patroni.yml": json.dumps(conf, indent=2) + "\n"},
            user="postgres",
        )
    api = [f"http://{n.mgmt_ip}:8008/cluster" for n in nodes]

    def ready() -> str | None:
        """Every replica streams on the leader's timeline (a first replica answers `running` before
        it has one, and a failover then has no candidate)."""
        import urllib.request

        try:
            with urllib.request.urlopen(api[0], timeout=2) as answer:
                members = json.loads(answer.read())["members"]
        except (OSError, ValueError, KeyError) as exc:
            return f"{api[0]}: {exc}"
        timelines = {
            m.get("name"): m.get("timeline") for m in members if m.get("state") in ("running", "streaming")
        }
        if len(timelines) < len(nodes) or len(set(timelines.values())) != 1 or None in timelines.values():
            return f"members on timelines {timelines}"
        return None

    return KindSpec({"kind": "patroni"}, 8008, 0.25, 0.2, servers, [n.name for n in nodes], ready)


LAB_PG_PASSWORD = "quorumwatch-lab"
"""The lab's PostgreSQL password (superuser and replication): a lab is local and throw-away."""


KINDS: dict[str, Kind] = {
    "etcd": Kind(_nodes_only, etcd),
    "zookeeper": Kind(_nodes_only, zookeeper),
    "zk-election": Kind(_zk_election_names, zk_election),
    "redis": Kind(_redis_names, redis),
    "keepalived": Kind(_nodes_only, keepalived),
    "patroni": Kind(_patroni_names, patroni),
    "redis-cluster": Kind(_redis_cluster_names, redis_cluster),
}


def kind(name: str) -> Kind:
    if name not in KINDS:
        raise LabError(f"unknown lab kind {name!r} (choose from {', '.join(KINDS)})")
    return KINDS[name]
