"""Where commands run: locally, inside a network namespace, or over SSH.

Commands are always argument lists. Over SSH the remote side needs one string, built with
`shlex.join` so that every argument stays exactly one argument.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
from dataclasses import dataclass
from typing import Protocol

from quorumwatch.config import NetnsControl, NodeConfig, SshControl, SshTarget


@dataclass(frozen=True, slots=True)
class Completed:
    argv: tuple[str, ...]
    returncode: int
    stdout: bytes
    stderr: bytes


class Executor(Protocol):
    """Runs one argv on a node and returns its exit code and output."""

    description: str

    async def run(self, argv: list[str], *, timeout: float | None = None) -> Completed: ...

    async def aclose(self) -> None: ...


MAX_OUTPUT = 1 << 20


class LocalExecutor:
    """Runs argv on this machine, optionally prefixed (e.g. by `ip netns exec NS`)."""

    def __init__(self, prefix: list[str] | None = None, description: str = "local") -> None:
        self._prefix = prefix or []
        self.description = description

    async def run(self, argv: list[str], *, timeout: float | None = None) -> Completed:
        full = [*self._prefix, *argv]
        proc = await asyncio.create_subprocess_exec(
            *full, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, start_new_session=True,
        )
        try:
            async with asyncio.timeout(timeout):
                out, err = await proc.communicate()
        except BaseException:
            # Deadline or cancellation: the command's whole process group goes, by its pid.
            _kill_group(proc.pid)
            await proc.wait()
            raise
        return Completed(tuple(argv), proc.returncode or 0, out[:MAX_OUTPUT], err[:MAX_OUTPUT])

    async def aclose(self) -> None:
        return None


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


class SshExecutor:
    """Runs argv on a remote node with asyncssh; host keys are checked against known_hosts."""

    def __init__(self, target: SshTarget) -> None:
        self._target = target
        self.description = f"ssh {target.user + '@' if target.user else ''}{target.host}:{target.port}"
        self._conn: object | None = None
        self._lock = asyncio.Lock()

    async def _connection(self) -> object:
        import asyncssh  # imported lazily: most runs never use SSH

        async with self._lock:
            if self._conn is None:
                t = self._target
                kwargs: dict[str, object] = {"port": t.port}
                if t.user:
                    kwargs["username"] = t.user
                if t.key:
                    kwargs["client_keys"] = [os.path.expanduser(t.key)]
                if t.known_hosts:
                    kwargs["known_hosts"] = os.path.expanduser(t.known_hosts)
                self._conn = await asyncssh.connect(t.host, **kwargs)  # type: ignore[arg-type]
            return self._conn

    async def run(self, argv: list[str], *, timeout: float | None = None) -> Completed:
        import asyncssh

        async with asyncio.timeout(timeout):
            conn = await self._connection()
            assert isinstance(conn, asyncssh.SSHClientConnection)
            result = await conn.run(shlex.join(argv), check=False, encoding=None)
        out = result.stdout if isinstance(result.stdout, bytes) else b""
        err = result.stderr if isinstance(result.stderr, bytes) else b""
        code = result.exit_status if result.exit_status is not None else 255
        return Completed(tuple(argv), code, out[:MAX_OUTPUT], err[:MAX_OUTPUT])

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            import asyncssh

            assert isinstance(conn, asyncssh.SSHClientConnection)
            conn.close()
            await conn.wait_closed()


def executor_for(node: NodeConfig) -> Executor:
    """The control channel of a node, as the cluster file names it."""
    control = node.control
    if isinstance(control, NetnsControl):
        return LocalExecutor(["ip", "netns", "exec", control.netns], f"netns {control.netns}")
    if isinstance(control, SshControl):
        return SshExecutor(control.ssh)
    return LocalExecutor()
