"""The Probe boundary and the mapping of failures to honest "unknown" answers."""

from __future__ import annotations

import asyncio
import errno
import ssl
from typing import Any, Protocol, runtime_checkable

from quorumwatch.model import Answer, Reason, excerpt


class Probe(Protocol):
    """Asks one node "what is your role, in which epoch, and who do you think leads?".

    `ask` may be cancelled at any await (the engine enforces the deadline); it must then leave
    itself ready for the next call, e.g. by dropping a half-used connection.
    """

    node: str

    async def ask(self) -> Answer: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class SendingProbe(Probe, Protocol):
    """A probe that can put its question on an open connection without awaiting anything, so the
    engine needs no task for it: with a hundred clusters in one process, per-probe tasks were a
    large share of the loop's work (docs/benchmarks.md)."""

    def send(self) -> asyncio.Future[Any] | None:
        """The reply's future (cancelling it abandons the question), or None when asking needs
        awaiting (no open connection yet): the engine then runs `ask` in a task."""
        ...

    def interpret(self, reply: Any) -> Answer:
        """What a reply means (pure); GarbageAnswer for nonsense."""
        ...


@runtime_checkable
class Connecting(Protocol):
    """A probe that can open its connection before the first tick, so that tick asks instead of
    connecting (a hundred clusters starting at once made their first ticks time out, which the
    analysis must then count as nodes that could have led)."""

    async def connect(self) -> None:
        """Open the connection; a failure is left for the first question to report."""
        ...


class GarbageAnswer(Exception):
    """The node answered, but not in a form we understand."""

    def __init__(self, what: str, data: bytes | str = b"") -> None:
        super().__init__(what)
        self.what = what
        self.data = data

    def answer(self) -> Answer:
        shown = f"{self.what}: {excerpt(self.data)!r}" if self.data else self.what
        return Answer.unknown(Reason.GARBAGE, shown)


def plain_to_tls(status: int, body: bytes) -> Answer | None:
    """A TLS port given plain HTTP (Go's servers, etcd among them, answer 400 and say so): an error
    that names the cause, not garbage."""
    if status == 400 and b"HTTP request to an HTTPS server" in body[:512]:
        return Answer.unknown(Reason.ERROR, "this port speaks TLS: it refused a plain HTTP request")
    return None


_UNREACHABLE = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ENETDOWN}


def classify(exc: BaseException) -> Answer:
    """Turn a transport failure into an unknown answer with a reason; never into a role."""
    if isinstance(exc, GarbageAnswer):
        return exc.answer()
    if isinstance(exc, ssl.SSLError):
        from quorumwatch.probes.tls import describe

        return Answer.unknown(Reason.ERROR, describe(exc))
    if isinstance(exc, TimeoutError):
        return Answer.unknown(Reason.TIMEOUT, "no answer before the deadline")
    if isinstance(exc, ConnectionRefusedError):
        return Answer.unknown(Reason.REFUSED, "connection refused")
    if isinstance(exc, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)):
        return Answer.unknown(Reason.RESET, "connection reset")
    if isinstance(exc, asyncio.IncompleteReadError) or (isinstance(exc, EOFError) and not str(exc)):
        return Answer.unknown(Reason.CLOSED, "connection closed before a full answer")
    if isinstance(exc, EOFError):
        return Answer.unknown(Reason.CLOSED, str(exc))
    if isinstance(exc, OSError) and exc.errno in _UNREACHABLE:
        return Answer.unknown(Reason.UNREACHABLE, exc.strerror or "unreachable")
    if isinstance(exc, OSError):
        return Answer.unknown(Reason.ERROR, exc.strerror or str(exc))
    return Answer.unknown(Reason.ERROR, f"{type(exc).__name__}: {exc}"[:120])
