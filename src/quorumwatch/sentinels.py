"""Redis Sentinel's view, an actor beside the probes: every tick, each Sentinel's
`SENTINEL get-master-addr-by-name NAME`, compared with the nodes' own roles in that tick, and a
`SentinelView` event recorded whenever the picture changes (analysis/sentinels.py reads them)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Callable
from typing import Any

from quorumwatch.analysis.sentinels import sentinel_state
from quorumwatch.config import ClusterConfig, RedisProbeConfig, split_hostport
from quorumwatch.engine import TickFeed
from quorumwatch.model import Event, Role, SentinelView


class SentinelWatch:
    """One cluster's sentinels, asked once per tick with the tick's deadline; an unanswered ask is
    `null` for that sentinel (never a guess)."""

    def __init__(self, cluster: ClusterConfig, record: Callable[[Event], None]) -> None:
        assert isinstance(cluster.probe, RedisProbeConfig)
        self.cfg = cluster.probe
        self.deadline_s = cluster.deadline
        self.record = record
        self._by_address: dict[str, str] = {}
        for n in cluster.nodes:
            self._by_address[n.address] = n.name
            if n.data_address is not None:
                self._by_address[f"{n.data_address}:{n.port}"] = n.name
        self._clients: dict[str, Any] = {}
        self._last: tuple[str, tuple[tuple[str, str | None], ...], tuple[str, ...]] | None = None

    def _client(self, address: str) -> Any:
        from quorumwatch.probes.redis import redis_client

        if address not in self._clients:
            host, port = split_hostport(address)
            self._clients[address] = redis_client(host, port, None, single=True, decode_responses=True)
        return self._clients[address]

    async def _ask(self, address: str) -> str | None:
        try:
            async with asyncio.timeout(self.deadline_s):
                reply = await self._client(address).execute_command(
                    "SENTINEL", "get-master-addr-by-name", self.cfg.master_name
                )
        except Exception:  # a timeout, a refusal, an error reply: no answer from this sentinel
            client = self._clients.pop(address, None)  # a late reply must never be read as the next
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.aclose()
            return None
        if not isinstance(reply, list | tuple) or len(reply) != 2:
            return None
        found = f"{reply[0]}:{reply[1]}"
        return self._by_address.get(found, found)

    async def run(self, feed: TickFeed, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        ended = loop.create_task(stop.wait())
        try:
            while not stop.is_set():
                nxt = loop.create_task(feed.next())
                await asyncio.wait([nxt, ended], return_when=asyncio.FIRST_COMPLETED)
                if not nxt.done():
                    nxt.cancel()
                    break
                tick = nxt.result()
                addresses = list(self.cfg.sentinels)
                answers = await asyncio.gather(*(self._ask(a) for a in addresses))
                named = tuple(zip(addresses, answers, strict=True))
                masters = tuple(o.node for o in tick.observations if o.role is Role.LEADER)
                state = sentinel_state(dict(named), masters)
                if (state, named, masters) == self._last:
                    continue
                self._last = (state, named, masters)
                body = SentinelView(state, dict(named), masters, tick.index)
                try:
                    self.record(Event.of(int(loop.time() * 1e9), time.time_ns(), None, body))
                except sqlite3.Error:
                    break  # the history cannot be written: the probes' record goes on without this
        finally:
            ended.cancel()
            for client in self._clients.values():
                with contextlib.suppress(Exception):
                    await client.aclose()
            self._clients.clear()
