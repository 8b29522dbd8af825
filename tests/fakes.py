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


class ScriptedSender(ScriptedProbe):
    """A probe with an open connection (`SendingProbe`): `send` returns the reply's future, which
    resolves after `delay(i)` with `reply(i)` (an exception is raised through it); the first
    `connect_ticks` questions need awaiting (no connection yet), as after a start."""

    def __init__(
        self,
        node: str,
        reply: Callable[[int], object] = lambda i: Answer(Role.FOLLOWER),
        delay: Callable[[int], float] = lambda i: 0.001,
        connect_ticks: int = 1,
    ) -> None:
        def answer(i: int) -> Answer:
            value = reply(i)
            if isinstance(value, BaseException):
                raise value
            return self.interpret(value)

        super().__init__(node, answer=answer, delay=delay)
        self._reply = reply
        self._connect_ticks = connect_ticks
        self.sent = 0
        self.abandoned = 0

    def send(self) -> asyncio.Future[object] | None:
        if self.calls < self._connect_ticks:
            return None
        i = self.calls
        self.calls += 1
        self.sent += 1
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[object] = loop.create_future()

        def resolve() -> None:
            if fut.done():  # abandoned at its deadline
                return
            value = self._reply(i)
            if isinstance(value, BaseException):
                fut.set_exception(value)
            else:
                fut.set_result(value)

        def abandoned(f: asyncio.Future[object]) -> None:
            self.abandoned += f.cancelled()

        fut.add_done_callback(abandoned)
        loop.call_later(self._delay(i), resolve)
        return fut

    def interpret(self, reply: object) -> Answer:
        if isinstance(reply, Answer):
            return reply
        from quorumwatch.probes.base import GarbageAnswer

        raise GarbageAnswer("not an answer", repr(reply))
