"""Prometheus metrics: leadership as a node's exporter already publishes it (`etcd_server_is_leader`,
Patroni's `patroni_primary`, kube's `leader_election_master_status`, `vault_core_active`), read
from one scrape per tick, so every node's answer has its own [send, receive] window, unlike an
alert rule's `sum(...) > 1` over scrapes taken at different instants."""

from __future__ import annotations

import math

from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from quorumwatch.config import MetricsProbeConfig, NodeConfig
from quorumwatch.model import Answer, Reason, Role
from quorumwatch.probes.base import GarbageAnswer, plain_to_tls
from quorumwatch.probes.transport import RequestProbe


def _wanted(body: str, names: set[str]) -> str:
    """The exposition's lines about `names` only (their samples, `# TYPE` and `# HELP`): an
    exporter's whole page runs to thousands of lines (etcd's: ~1,500), and the parser is pure
    Python; the lines kept parse exactly as they would in the whole page."""
    kept = []
    for line in body.splitlines():
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 3 and parts[1] in ("TYPE", "HELP") and _family(parts[2], names):
                kept.append(line)
            continue
        name = line.split("{", 1)[0].split(None, 1)[0] if line.strip() else ""
        if name in names:
            kept.append(line)
    return "\n".join(kept) + "\n"


def _family(family: str, names: set[str]) -> bool:
    return any(n == family or n.startswith(family + "_") for n in names)


def _named(sample: str, family: Metric, name: str) -> bool:
    """The sample as the page spells it. The parser renames a counter's samples `<name>_total`
    even where the page has no suffix (Patroni's `patroni_postgres_timeline`, TYPE counter)."""
    return sample == name or (family.type == "counter" and family.name == name and sample == name + "_total")


def _value(cfg_name: str, labels: dict[str, str], text: str, body: bytes) -> float:
    """The one sample named `cfg_name` whose labels include `labels`."""
    try:
        found = [
            s
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if _named(s.name, family, cfg_name) and all(s.labels.get(k) == v for k, v in labels.items())
        ]
    except ValueError as exc:
        raise GarbageAnswer(f"not a Prometheus exposition: {exc}", body) from None
    wanted = cfg_name + ("{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else "")
    if not found:
        raise GarbageAnswer(f"no sample {wanted}", body)
    if len(found) > 1:
        raise GarbageAnswer(f"{len(found)} samples match {wanted}: name labels that pick one", body)
    return float(found[0].value)


def interpret(cfg: MetricsProbeConfig, status: int, body: bytes) -> Answer:
    """Role (and epoch) from one scrape (pure)."""
    if (tls := plain_to_tls(status, body)) is not None:
        return tls
    if not 200 <= status < 300:
        return Answer.unknown(Reason.HTTP_STATUS, f"HTTP {status}")
    names = {cfg.leader_metric} | ({cfg.epoch_metric} if cfg.epoch_metric else set())
    text = _wanted(body.decode("utf-8", errors="replace"), names)
    value = _value(cfg.leader_metric, cfg.leader_labels, text, body)
    epoch = None
    if cfg.epoch_metric is not None:
        raw = _value(cfg.epoch_metric, cfg.epoch_labels, text, body)
        if not math.isfinite(raw) or raw != int(raw) or raw < 0:
            raise GarbageAnswer(f"{cfg.epoch_metric} is {raw:g}, not an epoch", body)
        epoch = int(raw)
    if math.isnan(value):
        raise GarbageAnswer(f"{cfg.leader_metric} is NaN", body)
    return Answer(Role.LEADER if value == cfg.leader_value else Role.FOLLOWER, epoch=epoch)


class MetricsProbe(RequestProbe):
    def __init__(self, node: NodeConfig, cfg: MetricsProbeConfig) -> None:
        super().__init__(node, cfg.tls_settings, "GET", cfg.path)
        self._cfg = cfg

    def read(self, status: int, body: bytes) -> Answer:
        return interpret(self._cfg, status, body)
