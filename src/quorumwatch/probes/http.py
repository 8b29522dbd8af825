"""Generic HTTP: leader by status code (Patroni `/leader`) or by a JSON field's value."""

from __future__ import annotations

import json
from typing import Any

from quorumwatch.config import HttpProbeConfig, NodeConfig
from quorumwatch.model import Answer, Reason, Role
from quorumwatch.probes.base import GarbageAnswer, plain_to_tls
from quorumwatch.probes.transport import RequestProbe

_MISSING = object()


def dig(doc: Any, dotted: str) -> Any:
    """`a.b.0.c` into nested JSON (`.` is the whole document); _MISSING when a step is absent."""
    if dotted == ".":
        return doc
    cur = doc
    for part in dotted.split("."):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            return _MISSING
    return cur


def interpret(cfg: HttpProbeConfig, status: int, body: bytes) -> Answer:
    """Role from one HTTP answer (pure)."""
    if (tls := plain_to_tls(status, body)) is not None:
        return tls
    if cfg.json_field is None:
        if status in cfg.leader_status:
            return Answer(Role.LEADER)
        if status in cfg.follower_status or (not cfg.follower_status and status < 500):
            return Answer(Role.FOLLOWER)
        return Answer.unknown(Reason.HTTP_STATUS, f"HTTP {status}")
    if not 200 <= status < 300:
        return Answer.unknown(Reason.HTTP_STATUS, f"HTTP {status}")
    try:
        doc = json.loads(body)
    except ValueError:
        raise GarbageAnswer("not JSON", body) from None
    value = dig(doc, cfg.json_field)
    if value is _MISSING:
        raise GarbageAnswer(f"no field {cfg.json_field!r}", body)
    epoch = None
    if cfg.epoch_field:
        raw = dig(doc, cfg.epoch_field)
        try:
            epoch = None if raw is _MISSING or raw is None else int(raw)
        except (TypeError, ValueError):
            raise GarbageAnswer(f"field {cfg.epoch_field!r} is not a number", body) from None
    leader = None
    if cfg.leader_id_field:
        raw = dig(doc, cfg.leader_id_field)
        leader = None if raw is _MISSING or raw is None else str(raw)
    if cfg.role_values is not None:
        name = cfg.role_values.get(str(value))
        if name is None:
            raise GarbageAnswer(f"unexpected {cfg.json_field} {value!r}", body)
        return Answer(Role(name), epoch=epoch, leader=leader)
    role = Role.LEADER if value == cfg.leader_value else Role.FOLLOWER
    return Answer(role, epoch=epoch, leader=leader)


def for_node(cfg: HttpProbeConfig, node: NodeConfig) -> HttpProbeConfig:
    """Fill `{name}`, `{address}`, `{host}`, `{port}` in a string leader_value: Consul's
    /v1/status/leader answers the leader's server address on every node, so a node leads when the
    answer is its own address (leader_value: "{host}:8300")."""
    if not isinstance(cfg.leader_value, str) or "{" not in cfg.leader_value:
        return cfg
    value = cfg.leader_value
    for key, v in (
        ("{name}", node.name),
        ("{address}", node.address),
        ("{host}", node.host),
        ("{port}", str(node.port)),
    ):
        value = value.replace(key, v)
    return cfg.model_copy(update={"leader_value": value})


class HttpProbe(RequestProbe):
    def __init__(self, node: NodeConfig, cfg: HttpProbeConfig) -> None:
        body = cfg.body.encode() if cfg.body is not None else None
        super().__init__(node, cfg.tls_settings, cfg.method, cfg.path, body)
        self._cfg = for_node(cfg, node)

    def read(self, status: int, body: bytes) -> Answer:
        return interpret(self._cfg, status, body)
