"""`quorumwatch lab …`: real clusters in network namespaces on this machine."""

from __future__ import annotations

import sys

import click

from quorumwatch.lab.system import LabError


def _fail(exc: Exception) -> None:
    click.echo(f"quorumwatch lab: {exc}", err=True)
    sys.exit(1)


@click.group()
def lab() -> None:
    """Start, inspect and stop real clusters, one network namespace per node (needs root)."""


@lab.command()
@click.argument(
    "kind",
    type=click.Choice(
        ["etcd", "zookeeper", "zk-election", "redis", "keepalived", "patroni", "redis-cluster"]
    ),
)
@click.option(
    "--nodes",
    default=3,
    show_default=True,
    help="Number of nodes (redis-cluster: masters, each with a replica).",
)
@click.option("--name", help="Lab name (default: the kind; 'zk' for zookeeper, 'zkelect' for zk-election).")
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait for one agreed leader.")
@click.option(
    "--on-suspend",
    type=click.Choice(["stepdown", "keep"]),
    default="stepdown",
    show_default=True,
    help="zk-election: what a leader does when its ZooKeeper connection is suspended "
    "(stepdown: stop leading, safe; keep: lead until the session is lost, the stale-leader hazard).",
)
@click.option(
    "--session-timeout", default=3.0, show_default=True, help="zk-election: ZooKeeper session timeout."
)
@click.option(
    "--fencing",
    is_flag=True,
    help="zk-election: every ID allocation is a conditional (versioned) ZooKeeper write, so a cut-off "
    "leader's allocations fail instead of repeating its successor's.",
)
@click.option(
    "--min-replicas-to-write",
    type=click.IntRange(0, 8),
    default=0,
    help="redis: a master refuses writes unless this many replicas are connected (Redis' mitigation).",
)
@click.option(
    "--min-replicas-max-lag",
    type=click.IntRange(1, 3600),
    default=10,
    show_default=True,
    help="redis: seconds since a replica's last ack for it to count toward --min-replicas-to-write.",
)
@click.option(
    "--tls",
    is_flag=True,
    help="etcd: clients speak TLS with a certificate the lab's own CA signed (--client-cert-auth); "
    "the cluster file names the CA and the client certificate.",
)
@click.option(
    "--node-timeout",
    type=click.IntRange(100, 600_000),
    help="redis-cluster: cluster-node-timeout in ms (lab: 2000).",
)
@click.option(
    "--ttl", type=click.IntRange(5, 3600), help="patroni: the leader lock's TTL in seconds (lab: 10)."
)
@click.option(
    "--loop-wait", type=click.IntRange(1, 3600), help="patroni: seconds between HA loop runs (lab: 2)."
)
@click.option(
    "--retry-timeout",
    type=click.IntRange(1, 3600),
    help="patroni: seconds DCS and PostgreSQL operations are retried before demoting (lab: 3).",
)
@click.option(
    "--synchronous",
    is_flag=True,
    help="patroni: synchronous_mode (a commit waits for a synchronous standby's acknowledgement).",
)
@click.option(
    "--clock-offset",
    "clock_offsets",
    multiple=True,
    help="NODE=SECONDS: run that node's server with its clock shifted (faketime), as on a host whose "
    "clock is off; its cluster-file clock command sees the same shift.",
)
def up(
    kind: str,
    nodes: int,
    name: str | None,
    timeout: float,
    on_suspend: str,
    session_timeout: float,
    fencing: bool,
    min_replicas_to_write: int,
    min_replicas_max_lag: int,
    clock_offsets: tuple[str, ...],
    tls: bool,
    ttl: int | None,
    loop_wait: int | None,
    retry_timeout: int | None,
    synchronous: bool,
    node_timeout: int | None,
) -> None:
    """Build namespaces, start a KIND cluster, wait for one leader; print the cluster file's path last.

    Kinds: etcd, zookeeper, zk-election (3 ZooKeeper servers + N participants electing through them),
    redis (a master, replicas and 3 sentinels), keepalived (VRRP instances sharing a virtual address),
    patroni (PostgreSQL 15 under Patroni on each node, a 3-member etcd as the DCS), redis-cluster
    (N masters with a replica each; leadership per slot range).
    """
    from quorumwatch.config import node_seconds
    from quorumwatch.lab import manager

    if tls and kind != "etcd":
        click.echo("quorumwatch lab: --tls: only the etcd lab speaks TLS", err=True)
        sys.exit(2)
    patroni_given = [
        flag
        for flag, value in (("--ttl", ttl), ("--loop-wait", loop_wait), ("--retry-timeout", retry_timeout))
        if value is not None
    ] + (["--synchronous"] if synchronous else [])
    if patroni_given and kind != "patroni":
        click.echo(f"quorumwatch lab: {', '.join(patroni_given)}: for the patroni lab only", err=True)
        sys.exit(2)
    if node_timeout is not None and kind != "redis-cluster":
        click.echo("quorumwatch lab: --node-timeout: for the redis-cluster lab only", err=True)
        sys.exit(2)
    shifts: dict[str, float] = {}
    for item in clock_offsets:
        try:
            node, seconds = node_seconds(item)
        except ValueError:
            seconds = float("inf")
        if abs(seconds) > 86400:
            click.echo(
                f"quorumwatch lab: --clock-offset {item!r}: expected NODE=SECONDS, |SECONDS| ≤ 86400",
                err=True,
            )
            sys.exit(2)
        shifts[node] = seconds
    options = {
        "clock_offsets": shifts,
        "on_suspend": on_suspend,
        "session_timeout": session_timeout,
        "fencing": fencing,
        "min_replicas_to_write": min_replicas_to_write,
        "min_replicas_max_lag": min_replicas_max_lag,
        "tls": tls,
        "ttl": ttl,
        "loop_wait": loop_wait,
        "retry_timeout": retry_timeout,
        "synchronous": synchronous,
        "node_timeout": node_timeout,
    }
    from quorumwatch.report.progress import status

    try:
        with status(f"starting a {kind} lab and waiting for one agreed leader (up to {timeout:g} s)") as say:
            state = manager.up(kind, nodes, name, say, timeout=timeout, options=options)
    except LabError as exc:
        _fail(exc)
        return
    except KeyboardInterrupt:
        click.echo("quorumwatch lab: interrupted; everything started was torn down", err=True)
        sys.exit(130)
    click.echo(state.cluster_file)


@lab.command()
@click.argument("name", required=False)
def down(name: str | None) -> None:
    """Tear down lab NAME (or every lab): kill its servers by pid, remove namespaces and routes."""
    from quorumwatch.lab import manager

    try:
        gone = manager.down(name)
    except LabError as exc:
        _fail(exc)
        return
    click.echo(f"removed: {', '.join(gone)}" if gone else "nothing to remove")


@lab.command()
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the labs as a JSON list.")
def status(name: str | None, as_json: bool) -> None:
    """Show labs, their nodes, pids and current roles."""
    from quorumwatch.lab import manager
    from quorumwatch.lab import status as lab_status

    try:
        labs = [manager.find_lab(name)] if name else manager.all_labs()
    except LabError as exc:
        _fail(exc)
        return
    if as_json:
        import json

        click.echo(json.dumps([lab_status.describe_json(s) for s in labs], indent=2))
        return
    if not labs:
        click.echo("no labs")
    for state in labs:
        for line in lab_status.describe(state):
            click.echo(line)


@lab.command()
@click.argument("name")
@click.argument("node")
def stop(name: str, node: str) -> None:
    """kill -9 NODE's server in lab NAME and wait until it is gone."""
    from quorumwatch.lab import manager

    try:
        n = manager.stop_node(name, node)
    except LabError as exc:
        _fail(exc)
        return
    click.echo(f"{name}/{n.name}: stopped")


@lab.command()
@click.argument("name")
@click.argument("node")
def start(name: str, node: str) -> None:
    """Start NODE's server in lab NAME (nothing to do if it runs)."""
    from quorumwatch.lab import manager

    try:
        n, started = manager.start_node(name, node)
    except LabError as exc:
        _fail(exc)
        return
    click.echo(f"{name}/{n.name}: {'started' if started else 'already running'}, pid {n.pid}")


@lab.command()
@click.argument("name")
@click.argument("node")
def pid(name: str, node: str) -> None:
    """Print the pid of NODE's server in lab NAME (exit 1 if it is not running)."""
    from quorumwatch.lab import manager

    try:
        click.echo(manager.node_pid(name, node))
    except LabError as exc:
        _fail(exc)
