"""Probes: one module per kind, all behind the `Probe` protocol."""

from __future__ import annotations

from quorumwatch.config import (
    ClusterConfig,
    CommandProbeConfig,
    EtcdProbeConfig,
    HttpProbeConfig,
    MetricsProbeConfig,
    NodeConfig,
    PatroniProbeConfig,
    RedisClusterProbeConfig,
    RedisProbeConfig,
    ZookeeperProbeConfig,
    reveal,
)
from quorumwatch.probes.base import Probe, classify


def check_access(cluster: ClusterConfig) -> None:
    """Fail at load, with a one-line ConfigError, on TLS files or secrets the probes could not use
    (rather than on the first tick, or as one error per node)."""
    from quorumwatch.probes.tls import client_context

    cfg = cluster.probe
    if isinstance(cfg, (RedisProbeConfig, RedisClusterProbeConfig)) and cfg.password is not None:
        reveal(cfg.password, "probe.password")
    redis_kinds = (RedisProbeConfig, RedisClusterProbeConfig)
    if isinstance(cfg, (EtcdProbeConfig, HttpProbeConfig, *redis_kinds)) and cfg.tls_settings:
        client_context(cfg.tls_settings)


def make_probe(cluster: ClusterConfig, node: NodeConfig) -> Probe:
    """The probe the cluster file asks for, aimed at one node."""
    cfg = cluster.probe
    if isinstance(cfg, EtcdProbeConfig):
        from quorumwatch.probes.etcd import EtcdProbe

        return EtcdProbe(node, cfg)
    if isinstance(cfg, ZookeeperProbeConfig):
        from quorumwatch.probes.zookeeper import ZookeeperProbe

        return ZookeeperProbe(node, cfg)
    if isinstance(cfg, RedisProbeConfig):
        from quorumwatch.probes.redis import RedisProbe

        return RedisProbe(node, cfg)
    if isinstance(cfg, RedisClusterProbeConfig):
        from quorumwatch.probes.redis import RedisClusterProbe

        return RedisClusterProbe(node, cfg)
    if isinstance(cfg, HttpProbeConfig):
        from quorumwatch.probes.http import HttpProbe

        return HttpProbe(node, cfg)
    if isinstance(cfg, PatroniProbeConfig):
        from quorumwatch.probes.patroni import PatroniProbe

        return PatroniProbe(node, cfg)
    if isinstance(cfg, MetricsProbeConfig):
        from quorumwatch.probes.metrics import MetricsProbe

        return MetricsProbe(node, cfg)
    if isinstance(cfg, CommandProbeConfig):
        from quorumwatch.probes.command import CommandProbe

        return CommandProbe(node, cfg)
    raise AssertionError(f"unhandled probe kind {cfg!r}")


__all__ = ["Probe", "classify", "make_probe"]
