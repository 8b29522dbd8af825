"""Redis (and Sentinel) through `ROLE`: master → leader, slave → follower, sentinel → observer."""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aioredis
import redis.exceptions

from quorumwatch.config import NodeConfig, RedisProbeConfig
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


class RedisProbe:
    def __init__(self, node: NodeConfig, cfg: RedisProbeConfig) -> None:
        self.node = node.name
        self._host, self._port = node.host, node.port
        self._password = cfg.password
        self._client: aioredis.Redis | None = None

    async def ask(self) -> Answer:
        if self._client is None:
            self._client = aioredis.Redis(
                host=self._host,
                port=self._port,
                password=self._password,
                single_connection_client=True,
            )
        try:
            reply = await self._client.execute_command("ROLE")  # type: ignore[no-untyped-call]
        except BaseException as exc:
            self._discard()
            if isinstance(exc, redis.exceptions.ConnectionError):
                cause = exc.__cause__ or exc.__context__
                if isinstance(cause, OSError):
                    raise cause from None
                if "refused" in str(exc).lower():
                    raise ConnectionRefusedError(str(exc)) from None
                raise ConnectionResetError(str(exc)) from None
            if isinstance(exc, redis.exceptions.AuthenticationError):
                return Answer.unknown(Reason.ERROR, "authentication failed")
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
