"""Scripted probes for engine and runner tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from quorumwatch.model import Answer, Role


class ScriptedProbe:
    """Answers after `delay(call_index)` seconds with `answer(call_index)`; `hang` never answers."""

    def __init__(
        self,
        node: str,
        answer: Callable[[int], Answer] = lambda i: Answer(Role.FOLLOWER),
        delay: Callable[[int], float] = lambda i: 0.001,
    ) -> None:
        self.node = node
        self._answer = answer
        self._delay = delay
        self.calls = 0
        self.cancelled = 0
        self.closed = False

    async def ask(self) -> Answer:
        i = self.calls
        self.calls += 1
        try:
            await asyncio.sleep(self._delay(i))
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        return self._answer(i)

    async def aclose(self) -> None:
        self.closed = True


HANG = 10_000.0
