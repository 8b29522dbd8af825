"""etcd v3 through its JSON gateway: `POST /v3/maintenance/status` with body `{}`.

Leader when `leader == header.member_id`; epoch is `raftTerm`. Member ids are 64-bit and arrive as
decimal strings; we show them in hex as etcd's own logs and etcdctl do.
"""

from __future__ import annotations

import json
from typing import Any

from quorumwatch.config import EtcdProbeConfig, NodeConfig
from quorumwatch.model import Answer, Role
from quorumwatch.probes.base import GarbageAnswer, plain_to_tls
from quorumwatch.probes.transport import RequestProbe


def parse_status(status: int, body: bytes) -> Answer:
    """Interpret one maintenance/status answer (pure, for tests on captured answers)."""
    if status != 200:
        if (tls := plain_to_tls(status, body)) is not None:
            return tls
        raise GarbageAnswer(f"HTTP {status}", body)
    try:
        doc = json.loads(body)
        header = doc["header"]
        me = _member_id(header["member_id"])
        leader_raw = doc.get("leader", "0")
        leader = _member_id(leader_raw)
        term = int(doc.get("raftTerm", 0))
    except (ValueError, KeyError, TypeError) as exc:
        raise GarbageAnswer(f"not an etcd status ({type(exc).__name__})", body) from None
    if leader == 0:
        # A member that knows no leader is campaigning or waiting for one.
        return Answer(Role.CANDIDATE, epoch=term, self_id=_hex(me))
    role = Role.LEADER if leader == me else Role.FOLLOWER
    return Answer(role, epoch=term, leader=_hex(leader), self_id=_hex(me))


def _member_id(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise TypeError("member id must be a string or integer")
    n = int(value)
    if not 0 <= n < 1 << 64:
        raise ValueError("member id out of range")
    return n


def _hex(n: int) -> str:
    return format(n, "x")


class EtcdProbe(RequestProbe):
    def __init__(self, node: NodeConfig, cfg: EtcdProbeConfig) -> None:
        super().__init__(node, cfg.tls_settings, "POST", cfg.path, b"{}")

    def read(self, status: int, body: bytes) -> Answer:
        return parse_status(status, body)
