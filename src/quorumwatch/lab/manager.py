"""Lab life cycle: up, status, stop/start one node, down. State lives in `<labs>/<name>/lab.json`,
written before anything is created, so `down` can clean up after a crash at any step."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from quorumwatch.config import ClusterConfig, dump_cluster
from quorumwatch.lab import kinds, net
from quorumwatch.lab.system import LabError, alive, kill_pid, proc_start_time, require_programs, require_root

if TYPE_CHECKING:
    from quorumwatch.model import Tick

LAB_NAME_RE = re.compile(r"^[a-z][a-z0-9]{0,11}\Z")
DEFAULT_ROOT = Path("/var/tmp/quorumwatch/labs")


def labs_root() -> Path:
    return Path(os.environ.get("QUORUMWATCH_LABS", str(DEFAULT_ROOT)))


@dataclass
class NodeState:
    name: str
    netns: str
    data_ip: str
    mgmt_ip: str
    argv: list[str]
    log: str
    pid: int | None = None
    start_time: int | None = None
    clock: list[str] | None = None
    """How to read this node's clock when it is shifted (faketime), for the cluster file."""
    user: str | None = None
    """The system user the server runs as (its folder is chowned to it at each start)."""


@dataclass
class LabState:
    name: str
    kind: str
    index: int
    dir: str
    hub: str
    host_if: str
    data_subnet: str
    mgmt_subnet: str
    nodes: list[NodeState] = field(default_factory=list)
    cluster_file: str | None = None
    cluster_nodes: list[str] = field(default_factory=list)
    """Namespaces that are the cluster's nodes; the others (a ZooKeeper ensemble, sentinels) support them."""
    net_built: bool = False
    """Set just before the network is built: only then are the root link and route ours to remove."""
    ready: bool = False
    leaders: int = 1
    """Nodes leading at once when all is well: one per group of a sharded cluster (Redis Cluster's
    masters), else one."""

    @property
    def path(self) -> Path:
        return Path(self.dir)

    def save(self) -> None:
        tmp = self.path / "lab.json.tmp"
        tmp.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")
        tmp.replace(self.path / "lab.json")

    @staticmethod
    def load(path: Path) -> LabState:
        try:
            data: dict[str, Any] = json.loads((path / "lab.json").read_text(encoding="utf-8"))
            nodes = [NodeState(**n) for n in data.pop("nodes")]
            return LabState(**data, nodes=nodes)
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise LabError(f"{path / 'lab.json'}: unreadable lab state ({exc})") from None

    def node(self, name: str) -> NodeState:
        for n in self.nodes:
            if n.name == name:
                return n
        raise LabError(
            f"lab {self.name} has no node {name!r} (nodes: {', '.join(n.name for n in self.nodes)})"
        )


def check_lab_name(name: str) -> str:
    if not LAB_NAME_RE.match(name):
        raise LabError(
            f"invalid lab name {name!r}: a lowercase letter, then up to 11 lowercase letters/digits"
        )
    return name


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def all_labs(root: Path | None = None) -> list[LabState]:
    root = root or labs_root()
    if not root.is_dir():
        return []
    return [LabState.load(p) for p in sorted(root.iterdir()) if (p / "lab.json").is_file()]


def find_lab(name: str, root: Path | None = None) -> LabState:
    check_lab_name(name)
    path = (root or labs_root()) / name
    if not (path / "lab.json").is_file():
        raise LabError(f"no lab named {name!r} (see 'quorumwatch lab status')")
    return LabState.load(path)


Say = Callable[[str], None]


def up(
    kind: str,
    nodes: int,
    name: str | None,
    say: Say,
    *,
    timeout: float = 60,
    options: dict[str, Any] | None = None,
) -> LabState:
    """Build the network, start a real cluster, wait for exactly one leader, write cluster.yaml
    (from synchronous code; `up_async` from a running event loop)."""
    return asyncio.run(up_async(kind, nodes, name, say, within=timeout, options=options))


async def up_async(
    kind: str,
    nodes: int,
    name: str | None,
    say: Say,
    *,
    within: float = 60,
    options: dict[str, Any] | None = None,
) -> LabState:
    """`up` for async callers: the blocking set-up runs in a worker thread, the wait for a leader
    on the caller's loop; on any failure (cancellation included) the lab is torn down."""
    state, spec, cluster = await asyncio.to_thread(_build, kind, nodes, name, say, options or {})
    try:
        t = time.monotonic()
        leader = await await_one_leader(state, cluster, within)
        if spec.ready is not None:
            missing = await asyncio.to_thread(spec.ready)
            deadline = time.monotonic() + within
            while missing is not None:
                if time.monotonic() > deadline:
                    raise LabError(f"{kind} cluster not ready within {within:g} s: {missing}")
                await asyncio.sleep(0.2)
                missing = await asyncio.to_thread(spec.ready)
        state.ready = True
        state.save()
        support = [n.name for n in state.nodes if n.name not in state.cluster_nodes]
        extra = f" (+{len(support)} support: {', '.join(support)})" if support else ""
        took = time.monotonic() - t
        count = len(state.cluster_nodes)
        say(f"{kind} cluster {state.name!r} up: {count} nodes{extra}, leader {leader} ({took:.2f} s)")
    except BaseException:
        with contextlib.suppress(Exception):
            await asyncio.shield(asyncio.to_thread(down_one, state))
        raise
    return state


def _build(
    kind: str, nodes: int, name: str | None, say: Say, options: dict[str, Any]
) -> tuple[LabState, kinds.KindSpec, ClusterConfig]:
    """Network, files and processes of a new lab (blocking); torn down again if any step fails."""
    require_root()
    spec_kind = kinds.kind(kind)
    if not 1 <= nodes <= 9:
        raise LabError("--nodes must be between 1 and 9")
    name = check_lab_name(name or {"zookeeper": "zk", "zk-election": "zkelect"}.get(kind, kind))
    root = labs_root()
    with _locked(root):
        if (root / name / "lab.json").exists():
            raise LabError(f"lab {name!r} already exists; 'quorumwatch lab down {name}' first")
        used = {lab.index for lab in all_labs(root)}
        index = next(i for i in range(1, 251) if i not in used)
        path = root / name
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)
        node_names, support = spec_kind.names(nodes)
        plan = net.plan(name, index, node_names + support)
        try:
            spec = spec_kind.build(plan, path, options)
            shifts = _clock_shifts(options, spec.cluster_nodes)
        except BaseException:
            shutil.rmtree(path, ignore_errors=True)  # refused before anything ran: leave nothing
            raise
        state = LabState(
            name,
            kind,
            index,
            str(path),
            plan.hub,
            plan.host_if,
            plan.data_subnet,
            plan.mgmt_subnet,
            [
                NodeState(
                    n.name,
                    n.netns,
                    n.data_ip,
                    n.mgmt_ip,
                    [
                        *_as_user(spec.servers[n.name].user),
                        *shifts.get(n.name, []),
                        *spec.servers[n.name].argv,
                    ],
                    str(spec.servers[n.name].log),
                    clock=[*shifts[n.name], "date", "+%s.%N"] if n.name in shifts else None,
                    user=spec.servers[n.name].user,
                )
                for n in plan.nodes
            ],
            cluster_nodes=spec.cluster_nodes,
            leaders=spec.leaders,
        )
        state.save()
    try:
        net.check_free(plan)
        t = time.monotonic()
        state.net_built = True
        state.save()
        net.build(plan)
        say(
            f"network: {len(plan.nodes)} namespaces, data {plan.data_subnet}, management {plan.mgmt_subnet} "
            f"({time.monotonic() - t:.2f} s)"
        )
        for server in spec.servers.values():
            for file, text in server.files.items():
                file.parent.mkdir(parents=True, exist_ok=True)
                file.write_text(text, encoding="utf-8")
        # support first (the ZooKeeper ensemble participants elect through), then the cluster
        for node in sorted(state.nodes, key=lambda n: n.name in state.cluster_nodes):
            _start(state, node)
        state.save()
        if spec.form is not None:
            t = time.monotonic()
            spec.form()
            say(f"formed the cluster ({time.monotonic() - t:.2f} s)")
        cluster = _cluster_config(state, spec)
        cluster_file = path / "cluster.yaml"
        cluster_file.write_text(dump_cluster(cluster), encoding="utf-8")
        state.cluster_file = str(cluster_file)
        state.save()
    except BaseException:
        with contextlib.suppress(Exception):
            down_one(state)
        raise
    return state, spec, cluster


def _clock_shifts(options: dict[str, Any], nodes: list[str]) -> dict[str, list[str]]:
    """`--clock-offset n2=1.5`: that node's server runs under faketime, as on a host whose clock is
    1.5 s ahead; its clock command in the cluster file sees the same shift."""
    out = {}
    for node, seconds in (options.get("clock_offsets") or {}).items():
        if node not in nodes:
            raise LabError(f"--clock-offset: no cluster node {node!r} (nodes: {', '.join(nodes)})")
        require_programs(["faketime"])
        out[node] = ["faketime", "-f", f"{seconds:+g}s"]
    return out


def _cluster_config(state: LabState, spec: kinds.KindSpec) -> ClusterConfig:
    """A cluster file on which every fault kind works: data interface and address for link,
    partition and loss faults; server commands (run locally, by pid) for kill and pause."""
    qw = [sys.executable, "-m", "quorumwatch", "lab"]
    return ClusterConfig.model_validate(
        {
            "name": state.name,
            "probe": spec.probe,
            "interval": spec.interval,
            "deadline": spec.deadline,
            "nodes": [
                {
                    "name": n.name,
                    "address": f"{n.mgmt_ip}:{spec.port}",
                    "control": {"netns": n.netns},
                    "data_interface": "eth0",
                    "data_address": n.data_ip,
                    "server": {
                        "pid": [*qw, "pid", state.name, n.name],
                        "start": [*qw, "start", state.name, n.name],
                        "control": "local",
                    },
                    "logs": sorted({n.log, str(state.path / n.name / "console.log")}),
                    **({"clock": n.clock} if n.clock else {}),
                }
                for n in state.nodes
                if n.name in state.cluster_nodes
            ],
        }
    )


def _as_user(user: str | None) -> list[str]:
    """setpriv execs the server in place (runuser would fork and keep the pid the lab kills)."""
    if user is None:
        return []
    return ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "--reset-env", "--"]


def _chown_tree(path: Path, user: str) -> None:
    import pwd

    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise LabError(f"no system user {user!r} (it comes with the server's Debian package)") from None
    for dirpath, dirnames, filenames in os.walk(path):
        for name in [dirpath, *(os.path.join(dirpath, f) for f in dirnames + filenames)]:
            os.chown(name, entry.pw_uid, entry.pw_gid, follow_symlinks=False)


def _start(state: LabState, node: NodeState) -> None:
    node_dir = state.path / node.name
    node_dir.mkdir(parents=True, exist_ok=True)
    if node.user is not None:
        (node_dir / "console.log").touch()
        _chown_tree(node_dir, node.user)
    with open(node_dir / "console.log", "ab") as console:
        proc = subprocess.Popen(
            ["ip", "netns", "exec", node.netns, *node.argv],
            stdin=subprocess.DEVNULL,
            stdout=console,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=node_dir,
        )
    node.pid = proc.pid
    node.start_time = proc_start_time(proc.pid)


def wait_for_one_leader(state: LabState, cluster: ClusterConfig, timeout: float) -> str:
    """Probe until three ticks in a row show one agreed leader (every other node follows or observes)."""
    return asyncio.run(await_one_leader(state, cluster, timeout))


async def await_one_leader(state: LabState, cluster: ClusterConfig, within: float) -> str:
    """`wait_for_one_leader` on the caller's event loop."""
    timeout = within
    from quorumwatch.engine import Engine
    from quorumwatch.probes import make_probe

    good = 0
    leader = ""
    last: list[Tick] = []
    enough = asyncio.Event()

    def seen(tick: Tick) -> None:
        nonlocal good, leader
        last[:] = [tick]
        agreed = _agreed(tick, state.leaders)
        good = good + 1 if agreed is not None else 0
        if agreed is not None:
            leader = agreed
        if good >= 3:
            enough.set()
        for n in state.nodes:
            if n.pid is not None and not alive(n.pid, n.start_time):
                raise LabError(
                    f"{n.name}'s server exited during start-up; see {n.log} and "
                    f"{state.path / n.name / 'console.log'}"
                )

    async def probe_until() -> None:
        engine = Engine(
            [make_probe(cluster, n) for n in cluster.nodes], interval_s=0.1, deadline_s=0.08, sinks=[seen]
        )
        try:
            await engine.run(duration_s=timeout, stop=enough)
        finally:
            await engine.aclose()

    await probe_until()
    if good < 3:
        seen_roles = " ".join(o.role.letter for o in last[0].observations) if last else "nothing"
        raise LabError(f"no single agreed leader within {timeout:g} s (last matrix: [{seen_roles}])")
    return leader


def _agreed(tick: Tick, leaders: int) -> str | None:
    """The agreed leader(s) of one tick: `leaders` nodes leading, every other following or
    observing (`n1`; a sharded cluster's `n1, n2, n3`), else None."""
    from quorumwatch.model import Role

    if leaders == 1:
        return tick.agreed_leader
    roles = [o.role for o in tick.observations]
    if roles.count(Role.LEADER) != leaders or any(
        r not in (Role.LEADER, Role.FOLLOWER, Role.OBSERVER) for r in roles
    ):
        return None
    return ", ".join(o.node for o in tick.leaders)


def stop_node(name: str, node: str) -> NodeState:
    require_root()
    state = find_lab(name)
    n = state.node(node)
    if n.pid is None or not alive(n.pid, n.start_time):
        raise LabError(f"{node} of lab {name} is not running")
    kill_pid(n.pid, n.start_time)
    n.pid = n.start_time = None
    state.save()
    return n


def start_node(name: str, node: str) -> tuple[NodeState, bool]:
    """Start a node's server unless it runs; idempotent, so it can serve as a fault's heal.
    Returns the node and whether it was started now."""
    require_root()
    root = labs_root()
    with _locked(root):
        state = find_lab(name)
        n = state.node(node)
        if n.pid is not None and alive(n.pid, n.start_time):
            return n, False
        _start(state, n)
        state.save()
    return n, True


def node_pid(name: str, node: str) -> int:
    state = find_lab(name)
    n = state.node(node)
    if n.pid is None or not alive(n.pid, n.start_time):
        raise LabError(f"{node} of lab {name} is not running")
    return n.pid


def down_one(state: LabState) -> None:
    """Kill the lab's processes by pid, remove its namespaces, links, route and directory."""
    for n in state.nodes:
        if n.pid is not None:
            kill_pid(n.pid, n.start_time)
    # Anything else still living in our namespaces (a child a server spawned) goes too, by pid.
    for ns in [state.hub, *(n.netns for n in state.nodes)]:
        for pid in net.netns_pids(ns):
            kill_pid(pid)
    if state.net_built:
        net.teardown(state.name, state.index, state.host_if, state.data_subnet)
    else:
        net.teardown(state.name, None, None, None)
    shutil.rmtree(state.path, ignore_errors=True)


def down(name: str | None) -> list[str]:
    """Tear down one lab, or all; idempotent (a lab already gone is not an error)."""
    require_root()
    root = labs_root()
    with _locked(root):
        if name is None:
            labs = all_labs(root)
        else:
            check_lab_name(name)
            labs = [LabState.load(root / name)] if (root / name / "lab.json").is_file() else []
            if not labs:
                # a lab whose state is gone may still have left namespaces: clean by prefix
                net.teardown(name, None, None, None)
        for lab in labs:
            down_one(lab)
    return [lab.name for lab in labs]
