"""A user's own command as a probe: leader by exit code or by a stdout pattern; epoch by a group."""

from __future__ import annotations

import re

from quorumwatch.config import CommandProbeConfig, NodeConfig
from quorumwatch.executors import Completed, Executor, executor_for
from quorumwatch.model import Answer, Reason, Role, excerpt


def expand_argv(
    argv: list[str], node: NodeConfig, value: str | None = None, extra: dict[str, str] | None = None
) -> list[str]:
    """Fill `{name}`, `{address}`, `{host}`, `{port}` (and a workload's `{value}`, `{key}`,
    `{expect}`) inside arguments, in one pass (a filled-in value is never expanded again); never
    split or join them."""
    values = {"name": node.name, "address": node.address, "host": node.host, "port": str(node.port)}
    if value is not None:
        values["value"] = value
    values.update(extra or {})
    pattern = re.compile("|".join("\\{" + re.escape(k) + "\\}" for k in values))
    return [pattern.sub(lambda m: values[m.group(0)[1:-1]], arg) for arg in argv]


def interpret(cfg: CommandProbeConfig, done: Completed) -> Answer:
    """Role from a finished command (pure)."""
    stdout = done.stdout.decode("utf-8", "replace")
    epoch = None
    if cfg.epoch_regex:
        m = re.search(cfg.epoch_regex, stdout, re.MULTILINE)
        if m:
            try:
                epoch = int(m.group(1) if m.groups() else m.group(0))
            except ValueError:
                return Answer.unknown(Reason.GARBAGE, f"epoch is not a number: {excerpt(m.group(0))!r}")
    if cfg.leader_regex or cfg.follower_regex:
        if done.returncode != 0:
            return _failed(done)
        if cfg.leader_regex and re.search(cfg.leader_regex, stdout, re.MULTILINE):
            return Answer(Role.LEADER, epoch=epoch)
        if cfg.follower_regex is None or re.search(cfg.follower_regex, stdout, re.MULTILINE):
            return Answer(Role.FOLLOWER, epoch=epoch)
        return Answer.unknown(Reason.GARBAGE, f"output matches neither pattern: {excerpt(stdout)!r}")
    if done.returncode == cfg.leader_exit_code:
        return Answer(Role.LEADER, epoch=epoch)
    if done.returncode == cfg.follower_exit_code:
        return Answer(Role.FOLLOWER, epoch=epoch)
    return _failed(done)


def _failed(done: Completed) -> Answer:
    err = done.stderr.decode("utf-8", "replace").strip().splitlines()
    tail = f": {excerpt(err[-1])}" if err else ""
    return Answer.unknown(Reason.COMMAND, f"exit code {done.returncode}{tail}")


class CommandProbe:
    def __init__(self, node: NodeConfig, cfg: CommandProbeConfig, executor: Executor | None = None) -> None:
        self.node = node.name
        self._cfg = cfg
        self._argv = expand_argv(cfg.argv, node)
        self._executor = executor or executor_for(node)

    async def ask(self) -> Answer:
        try:
            done = await self._executor.run(self._argv)
        except FileNotFoundError:
            return Answer.unknown(Reason.COMMAND, f"command not found: {self._argv[0]}")
        return interpret(self._cfg, done)

    async def aclose(self) -> None:
        await self._executor.aclose()
