"""The command probe: real local commands, exit codes and stdout patterns."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from quorumwatch.config import CommandProbeConfig, NodeConfig
from quorumwatch.executors import Completed
from quorumwatch.model import Reason, Role
from quorumwatch.probes.command import CommandProbe, expand_argv, interpret

NODE = NodeConfig(name="n1", address="10.0.0.1:8080")


def cfg(**kw: object) -> CommandProbeConfig:
    return CommandProbeConfig.model_validate({"kind": "command", **kw})


def done(code: int, out: bytes = b"", err: bytes = b"") -> Completed:
    return Completed(("x",), code, out, err)


def test_expand_keeps_each_argument_whole() -> None:
    argv = expand_argv(["curl", "http://{address}/x", "{name}; rm -rf /"], NODE)
    assert argv == ["curl", "http://10.0.0.1:8080/x", "n1; rm -rf /"]


def test_exit_code_rules() -> None:
    c = cfg(argv=["x"])
    assert interpret(c, done(0)).role is Role.LEADER
    assert interpret(c, done(1)).role is Role.FOLLOWER
    failed = interpret(c, done(255, err=b"ssh: connect to host: No route\n"))
    assert failed.role is Role.UNKNOWN and failed.reason is Reason.COMMAND
    assert failed.detail is not None and "No route" in failed.detail


def test_regex_rules_and_epoch() -> None:
    c = cfg(
        argv=["x"], leader_regex=r"^role: leader", follower_regex=r"^role: follower", epoch_regex=r"seq (\d+)"
    )
    a = interpret(c, done(0, b"role: leader\nseq 871\n"))
    assert (a.role, a.epoch) == (Role.LEADER, 871)
    assert interpret(c, done(0, b"role: follower\n")).role is Role.FOLLOWER
    odd = interpret(c, done(0, b"role: banana\n"))
    assert odd.role is Role.UNKNOWN and odd.reason is Reason.GARBAGE
    assert interpret(c, done(2, b"role: leader\n")).role is Role.UNKNOWN


def test_real_command_runs_locally() -> None:
    script = "import sys; print('role: leader seq 5'); sys.exit(0)"
    c = cfg(argv=[sys.executable, "-c", script], leader_regex="role: leader", epoch_regex=r"seq (\d+)")
    answer = asyncio.run(CommandProbe(NODE, c).ask())
    assert (answer.role, answer.epoch) == (Role.LEADER, 5)


def test_missing_command_is_unknown() -> None:
    answer = asyncio.run(CommandProbe(NODE, cfg(argv=["/nonexistent/qw-probe"])).ask())
    assert answer.role is Role.UNKNOWN and answer.reason is Reason.COMMAND


def test_hung_command_is_killed_on_cancel(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    script = f"import os, time; open({str(pidfile)!r}, 'w').write(str(os.getpid())); time.sleep(30)"
    c = cfg(argv=[sys.executable, "-c", script])

    async def main() -> None:
        probe = CommandProbe(NODE, c)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(1.0):
                await probe.ask()

    asyncio.run(main())
    pid = int(pidfile.read_text())
    assert not Path(f"/proc/{pid}").exists()
