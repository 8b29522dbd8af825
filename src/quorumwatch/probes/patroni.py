"""Patroni's REST API `/patroni`: the node's role and PostgreSQL's state, with the timeline as epoch.

A status-only probe (`/leader`, the http kind's status mode) over-reports a stale primary: Patroni
keeps answering 200 there for seconds after PostgreSQL stopped taking writes (`"role": "master",
"state": "stopping"`, ../shared/lab-facts.md). Here a primary counts as leader only while its
PostgreSQL is `running`; one that is stopping, demoting or restarting is a `candidate` (it leads
nothing), and the answer's detail says which state it was in.
"""

from __future__ import annotations

import json
from typing import Any

from quorumwatch.config import NodeConfig, PatroniProbeConfig
from quorumwatch.model import Answer, Reason, Role
from quorumwatch.probes.base import GarbageAnswer, plain_to_tls
from quorumwatch.probes.transport import RequestProbe

PRIMARY_ROLES = frozenset({"master", "primary", "standby_leader"})
"""Patroni 3.0 says `master`, 3.1 and later `primary`; a standby cluster's leader is `standby_leader`."""
REPLICA_ROLES = frozenset({"replica", "sync_standby", "standby", "uninitialized"})


def interpret(status: int, body: bytes) -> Answer:
    """Role, epoch (timeline) and name from one `/patroni` answer (pure). Patroni answers 200 on a
    running node and 503 on one whose PostgreSQL is not running, with the same document."""
    if (tls := plain_to_tls(status, body)) is not None:
        return tls
    if status not in (200, 503):
        return Answer.unknown(Reason.HTTP_STATUS, f"HTTP {status}")
    try:
        doc: Any = json.loads(body)
    except ValueError:
        raise GarbageAnswer("not JSON", body) from None
    if not isinstance(doc, dict):
        raise GarbageAnswer("not a JSON object", body)
    role, state = doc.get("role"), doc.get("state")
    if not isinstance(role, str) or not isinstance(state, str):
        raise GarbageAnswer("no role and state", body)
    timeline = doc.get("timeline")
    if timeline is not None and (not isinstance(timeline, int) or isinstance(timeline, bool) or timeline < 0):
        raise GarbageAnswer(f"timeline {timeline!r} is not a number", body)
    patroni = doc.get("patroni")
    name = patroni.get("name") if isinstance(patroni, dict) else None
    self_id = name if isinstance(name, str) else None
    if role in PRIMARY_ROLES:
        if state == "running":
            return Answer(Role.LEADER, epoch=timeline, self_id=self_id)
        return Answer(Role.CANDIDATE, epoch=timeline, self_id=self_id, detail=f"{role} {state}: not serving")
    if role in REPLICA_ROLES:
        if state == "running":
            return Answer(Role.FOLLOWER, epoch=timeline, self_id=self_id)
        return Answer(Role.CANDIDATE, epoch=timeline, self_id=self_id, detail=f"{role} {state}")
    raise GarbageAnswer(f"unexpected role {role!r}", body)


class PatroniProbe(RequestProbe):
    def __init__(self, node: NodeConfig, cfg: PatroniProbeConfig) -> None:
        super().__init__(node, cfg.tls_settings, "GET", cfg.path)

    def read(self, status: int, body: bytes) -> Answer:
        return interpret(status, body)
