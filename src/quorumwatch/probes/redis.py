"""Redis (and Sentinel) through `ROLE`: master → leader, slave → follower, sentinel → observer.
Redis Cluster through `CLUSTER INFO` and `CLUSTER NODES`: leadership per slot range (groups)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import redis.asyncio as aioredis
import redis.exceptions
from redis.asyncio.connection import Connection

from quorumwatch.config import NodeConfig, RedisAccess, RedisClusterProbeConfig, reveal
from quorumwatch.model import Answer, GroupRole, Reason, Role
from quorumwatch.probes.base import GarbageAnswer


def _text(v: Any) -> str:
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


def parse_role(reply: Any) -> Answer:
    """Interpret a ROLE reply (pure)."""
    if not isinstance(reply, (list, tuple)) or not reply:
        raise GarbageAnswer("ROLE reply is not an array", repr(reply))
    kind = _text(reply[0])
    if kind == "master":
        return Answer(Role.LEADER)
    if kind == "slave":
        if len(reply) < 4:
            raise GarbageAnswer("short ROLE reply", repr(reply))
        state = _text(reply[3])
        return Answer(Role.FOLLOWER, leader=f"{_text(reply[1])}:{_text(reply[2])}", detail=state)
    if kind == "sentinel":
        return Answer(Role.OBSERVER)
    raise GarbageAnswer("unknown role", kind)


class _TlsConnection(Connection):
    """redis-py's connection with our verified context and server name (its own SSLConnection
    builds a context from file names and always verifies against the host it dials)."""

    def __init__(self, *, tls_context: Any, server_name: str | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._tls_context = tls_context
        self._server_name = server_name

    def _connection_arguments(self) -> Mapping[str, Any]:
        args = dict(super()._connection_arguments())
        args["ssl"] = self._tls_context
        args["server_hostname"] = self._server_name or self.host
        return args


def redis_client(
    host: str, port: int, cfg: RedisAccess | None, *, single: bool = False, **options: Any
) -> aioredis.Redis:
    """A client speaking what the cluster file says: ACL user and password (from the file, the
    environment or a file), TLS verified as `tls` says. Shared by the probe and the workload."""
    kwargs: dict[str, Any] = {"host": host, "port": port, **options}
    if cfg is not None:
        if cfg.username is not None:
            kwargs["username"] = cfg.username
        if cfg.password is not None:
            kwargs["password"] = reveal(cfg.password, "probe.password")
        if cfg.tls is not None:
            from quorumwatch.probes.tls import client_context

            kwargs.update(
                connection_class=_TlsConnection,
                tls_context=client_context(cfg.tls),
                server_name=cfg.tls.server_name,
            )
    client = aioredis.Redis(
        connection_pool=aioredis.ConnectionPool(**kwargs), single_connection_client=single
    )
    client.auto_close_connection_pool = True  # the pool is this client's own
    return client


class RedisProbe:
    def __init__(self, node: NodeConfig, cfg: RedisAccess) -> None:
        self.node = node.name
        self._host, self._port = node.host, node.port
        self._cfg = cfg
        self._client: aioredis.Redis | None = None

    async def ask(self) -> Answer:
        fresh = self._client is None
        if self._client is None:
            self._client = redis_client(self._host, self._port, self._cfg, single=True)
        try:
            return await self._query(self._client)
        except BaseException as exc:
            self._discard()
            if isinstance(exc, redis.exceptions.AuthenticationError):  # a ConnectionError too
                return Answer.unknown(Reason.ERROR, "authentication failed")
            if isinstance(exc, redis.exceptions.ConnectionError):
                cause = exc.__cause__ or exc.__context__
                hung_up = isinstance(cause, ConnectionResetError) or "closed by server" in str(exc)
                if fresh and hung_up and self._cfg.tls is not None:
                    # a TLS 1.3 server checks the client's certificate after the handshake, then
                    # hangs up on the first command
                    return Answer.unknown(
                        Reason.RESET,
                        "the node hung up on a new connection (does it want a client certificate?)",
                    )
                if isinstance(cause, OSError):
                    raise cause from None
                if "refused" in str(exc).lower():
                    raise ConnectionRefusedError(str(exc)) from None
                raise ConnectionResetError(str(exc)) from None
            if isinstance(exc, redis.exceptions.ResponseError):
                return Answer.unknown(Reason.ERROR, str(exc)[:120])
            if isinstance(exc, (redis.exceptions.InvalidResponse, redis.exceptions.DataError)):
                raise GarbageAnswer("not RESP", str(exc)) from None
            raise

    async def _query(self, client: aioredis.Redis) -> Answer:
        return parse_role(await client.execute_command("ROLE"))  # type: ignore[no-untyped-call]

    def _discard(self) -> None:
        # After a timeout the connection may still owe us a reply: never reuse it.
        client, self._client = self._client, None
        if client is not None:
            task = asyncio.get_running_loop().create_task(client.aclose())
            _pending.add(task)
            task.add_done_callback(_pending.discard)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


_pending: set[asyncio.Task[None]] = set()


def _slot_ranges(fields: list[str]) -> list[str]:
    """A CLUSTER NODES line's slots (`0-5460`, `5461`), without the `[slot->-id]` migrations."""
    return [f for f in fields if f and f[0].isdigit()]


def parse_cluster(info: str, nodes: str) -> Answer:
    """A node's own view (pure): `CLUSTER NODES` names it `myself`; a master leads each slot range
    it owns, in its configEpoch; a replica follows its master's ranges. A master whose
    `cluster_state` is `fail` is not serving (it answers CLUSTERDOWN) whatever its flags say:
    `candidate` in its ranges (lab-facts.md: a cut-off master says `ROLE master` for ~10 s)."""
    state = next(
        (ln.split(":", 1)[1].strip() for ln in info.splitlines() if ln.startswith("cluster_state:")), None
    )
    if state not in ("ok", "fail"):
        raise GarbageAnswer("CLUSTER INFO without cluster_state", info)
    lines: dict[str, list[str]] = {}
    me: list[str] | None = None
    for raw in nodes.splitlines():
        f = raw.split()
        if not f:
            continue
        if len(f) < 8:
            raise GarbageAnswer("short CLUSTER NODES line", raw)
        lines[f[0]] = f
        if "myself" in f[2].split(","):
            me = f
    if me is None:
        raise GarbageAnswer("CLUSTER NODES names no `myself`", nodes)
    flags = me[2].split(",")
    try:
        epoch = int(me[6])
    except ValueError:
        raise GarbageAnswer(f"config epoch {me[6]!r} is not a number", nodes) from None
    if "master" in flags:
        ranges = _slot_ranges(me[8:])
        serving = state == "ok"
        role = Role.LEADER if serving else Role.CANDIDATE
        groups = tuple(GroupRole(r, role, epoch) for r in ranges)
        if not ranges:
            return Answer(Role.OBSERVER, epoch=epoch, self_id=me[0], detail="master without slots")
        detail = None if serving else "cluster_state:fail: refuses every command (CLUSTERDOWN)"
        return Answer(role, epoch=epoch, self_id=me[0], detail=detail, groups=groups)
    if "slave" in flags:
        master = lines.get(me[3])
        if master is None:
            return Answer(Role.FOLLOWER, self_id=me[0], leader=me[3], detail="master unknown to this node")
        try:
            master_epoch = int(master[6])
        except ValueError:
            raise GarbageAnswer(f"config epoch {master[6]!r} is not a number", nodes) from None
        groups = tuple(GroupRole(r, Role.FOLLOWER, master_epoch) for r in _slot_ranges(master[8:]))
        return Answer(Role.FOLLOWER, epoch=master_epoch, leader=me[3], self_id=me[0], groups=groups)
    raise GarbageAnswer(f"unexpected flags {me[2]!r}", nodes)


class RedisClusterProbe(RedisProbe):
    def __init__(self, node: NodeConfig, cfg: RedisClusterProbeConfig) -> None:
        super().__init__(node, cfg)

    async def _query(self, client: aioredis.Redis) -> Answer:
        info = await client.execute_command("CLUSTER", "INFO")  # type: ignore[no-untyped-call]
        nodes = await client.execute_command("CLUSTER", "NODES")  # type: ignore[no-untyped-call]
        return parse_cluster(_text(info), _text(nodes))
