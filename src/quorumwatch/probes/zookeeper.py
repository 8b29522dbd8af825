"""ZooKeeper through a four-letter word (`srvr`, or `mntr`) on the client port.

Mode leader/follower/observer; "not currently serving requests" means the server is looking for a
leader (candidate). The epoch is the high 32 bits of the zxid.
"""

from __future__ import annotations

import asyncio

from quorumwatch.config import NodeConfig, ZookeeperProbeConfig
from quorumwatch.model import Answer, Reason, Role
from quorumwatch.probes.base import GarbageAnswer

MAX_ANSWER = 64 * 1024

_MODES = {
    "leader": Role.LEADER,
    "follower": Role.FOLLOWER,
    "observer": Role.OBSERVER,
    "standalone": Role.LEADER,
    "read-only": Role.CANDIDATE,
    "looking": Role.CANDIDATE,
}


def parse_4lw(command: str, data: bytes) -> Answer:
    """Interpret a `srvr` or `mntr` answer (pure)."""
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise GarbageAnswer("not ASCII", data) from None
    if "not currently serving requests" in text:
        return Answer(Role.CANDIDATE)
    if "not in the whitelist" in text or "not executed" in text:
        return Answer.unknown(Reason.ERROR, f"'{command}' refused: add it to 4lw.commands.whitelist")
    fields: dict[str, str] = {}
    sep = "\t" if command == "mntr" else ":"
    for line in text.splitlines():
        key, found, value = line.partition(sep)
        if found:
            fields[key.strip()] = value.strip()
    mode = fields.get("zk_server_state" if command == "mntr" else "Mode")
    if mode is None or mode not in _MODES:
        raise GarbageAnswer(f"no server mode in '{command}' answer", data)
    epoch = None
    zxid = fields.get("Zxid") or fields.get("zk_zxid")
    if zxid is not None:
        try:
            epoch = int(zxid, 0) >> 32
        except ValueError:
            raise GarbageAnswer("bad Zxid", zxid) from None
    return Answer(_MODES[mode], epoch=epoch)


class ZookeeperProbe:
    def __init__(self, node: NodeConfig, cfg: ZookeeperProbeConfig) -> None:
        self.node = node.name
        self._host, self._port = node.host, node.port
        self._command = cfg.command

    async def ask(self) -> Answer:
        reader, writer = await asyncio.open_connection(self._host, self._port)
        try:
            writer.write(self._command.encode())
            data = b""
            while len(data) <= MAX_ANSWER:
                chunk = await reader.read(65536)
                if not chunk:
                    break
                data += chunk
            else:
                raise GarbageAnswer(f"answer larger than {MAX_ANSWER} bytes", data)
        finally:
            writer.transport.abort()
        if not data:
            raise EOFError("closed without an answer")
        return parse_4lw(self._command, data)

    async def aclose(self) -> None:
        return None
