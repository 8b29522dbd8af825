"""Where commands run: locally, inside a network namespace, or over SSH.

Commands are always argument lists. Over SSH the remote side needs one string, built with
`shlex.join` so that every argument stays exactly one argument.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import shlex
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from quorumwatch.config import Control, NetnsControl, NodeConfig, SshControl, SshTarget


@dataclass(frozen=True, slots=True)
class Completed:
    argv: tuple[str, ...]
    returncode: int
    stdout: bytes
    stderr: bytes


class Executor(Protocol):
    """Runs one argv on a node and returns its exit code and output. Callers bound it with
    `asyncio.timeout`; on cancellation the command is killed."""

    description: str

    async def run(self, argv: list[str]) -> Completed: ...

    async def aclose(self) -> None: ...


MAX_OUTPUT = 1 << 20


class LocalExecutor:
    """Runs argv on this machine, optionally prefixed (e.g. by `ip netns exec NS`)."""

    def __init__(self, prefix: list[str] | None = None, description: str = "local") -> None:
        self._prefix = prefix or []
        self.description = description

    async def run(self, argv: list[str]) -> Completed:
        full = [*self._prefix, *argv]
        proc = await asyncio.create_subprocess_exec(
            *full,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        try:
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
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


class SshExecutor:
    """Runs argv on a remote node with asyncssh; host keys are checked against known_hosts."""

    def __init__(self, target: SshTarget) -> None:
        self._target = target
        self.description = f"ssh {target.user + '@' if target.user else ''}{target.host}:{target.port}"
        self._conn: object | None = None
        self._lock = asyncio.Lock()
        self._key = os.path.expanduser(target.key) if target.key else None
        self._known_hosts = os.path.expanduser(target.known_hosts) if target.known_hosts else None

    async def _connection(self) -> object:
        import asyncssh  # imported lazily: most runs never use SSH

        async with self._lock:
            if self._conn is None:
                t = self._target
                kwargs: dict[str, object] = {"port": t.port}
                if t.user:
                    kwargs["username"] = t.user
                if self._key:
                    kwargs["client_keys"] = [self._key]
                if self._known_hosts:
                    kwargs["known_hosts"] = self._known_hosts
                self._conn = await asyncssh.connect(t.host, **kwargs)
            return self._conn

    async def run(self, argv: list[str]) -> Completed:
        import asyncssh

        try:
            conn = await self._connection()
            assert isinstance(conn, asyncssh.SSHClientConnection)
            result = await conn.run(shlex.join(argv), check=False, encoding=None)
        except asyncssh.Error as exc:
            # host key not verifiable, auth refused, disconnects: the node is unreachable for control
            self._conn = None
            raise ConnectionError(f"{self.description}: {type(exc).__name__}: {exc.reason}") from None
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
    return executor_for_control(node.control)


def executor_for_control(control: Control) -> Executor:
    if isinstance(control, NetnsControl):
        return LocalExecutor(["ip", "netns", "exec", control.netns], f"netns {control.netns}")
    if isinstance(control, SshControl):
        return SshExecutor(control.ssh)
    return LocalExecutor()


async def fetch_files(node: NodeConfig, dest: Path) -> list[Path]:
    """Copy the node's log files (globs allowed) into dest. Local and netns nodes share this
    machine's file system; SSH nodes are fetched over SFTP."""
    control = node.control
    if not isinstance(control, SshControl):
        return await asyncio.to_thread(_copy_local, node.logs, dest)
    import asyncssh

    await asyncio.to_thread(dest.mkdir, parents=True, exist_ok=True)
    copied: list[Path] = []
    ex = SshExecutor(control.ssh)
    try:
        conn = await ex._connection()
        assert isinstance(conn, asyncssh.SSHClientConnection)
        async with conn.start_sftp_client() as sftp:
            for pattern in node.logs:
                for remote in await sftp.glob(pattern):
                    await sftp.get(remote, str(dest))
                    copied.append(dest / Path(str(remote)).name)
    finally:
        await ex.aclose()
    return copied


def _copy_local(patterns: list[str], dest: Path) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    copied = []
    for pattern in patterns:
        for src in sorted(glob.glob(os.path.expanduser(pattern))):
            if os.path.isfile(src):
                target = dest / Path(src).name
                shutil.copy2(src, target)
                copied.append(target)
    return copied
