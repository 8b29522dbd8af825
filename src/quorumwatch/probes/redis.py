"""Redis (and Sentinel) through `ROLE`: master → leader, slave → follower, sentinel → observer."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import redis.asyncio as aioredis
import redis.exceptions
from redis.asyncio.connection import Connection

from quorumwatch.config import NodeConfig, RedisProbeConfig, reveal
from quorumwatch.model import Answer, Reason, Role
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
    host: str, port: int, cfg: RedisProbeConfig | None, *, single: bool = False, **options: Any
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
    def __init__(self, node: NodeConfig, cfg: RedisProbeConfig) -> None:
        self.node = node.name
        self._host, self._port = node.host, node.port
        self._cfg = cfg
        self._client: aioredis.Redis | None = None

    async def ask(self) -> Answer:
        fresh = self._client is None
        if self._client is None:
            self._client = redis_client(self._host, self._port, self._cfg, single=True)
        try:
            reply = await self._client.execute_command("ROLE")  # type: ignore[no-untyped-call]
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
        return parse_role(reply)

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
