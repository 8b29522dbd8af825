"""The `metrics` probe: leadership read from a Prometheus exposition, on literal pages, a scripted
node, and a real etcd lab's own /metrics."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from quorumwatch.config import ConfigError, MetricsProbeConfig, NodeConfig, load_cluster
from quorumwatch.lab.manager import LabState
from quorumwatch.model import Reason, Role
from quorumwatch.probes.base import GarbageAnswer
from quorumwatch.probes.metrics import MetricsProbe, interpret
from tests.responders import answer_of, http_response, read_http_request, serve

ETCD_PAGE = b"""\
# HELP etcd_server_has_leader Whether or not a leader exists. 1 is existence, 0 is not.
# TYPE etcd_server_has_leader gauge
etcd_server_has_leader 1
# HELP etcd_server_is_leader Whether or not this member is a leader. 1 if is, 0 otherwise.
# TYPE etcd_server_is_leader gauge
etcd_server_is_leader 1
# HELP etcd_server_leader_changes_seen_total The number of leader changes seen.
# TYPE etcd_server_leader_changes_seen_total counter
etcd_server_leader_changes_seen_total 3
"""

KUBE_PAGE = b"""\
# HELP leader_election_master_status [ALPHA] Gauge of if the reporting system is master of the relevant lease.
# TYPE leader_election_master_status gauge
leader_election_master_status{name="kube-controller-manager"} 1
leader_election_master_status{name="cloud-controller-manager"} 0
"""


PATRONI_PAGE = b"""\
# HELP patroni_primary Value is 1 if this node is the leader, 0 otherwise.
# TYPE patroni_primary gauge
patroni_primary{scope="qw-pgx"} 1
# HELP patroni_postgres_timeline Postgres timeline of this node (if running), 0 otherwise.
# TYPE patroni_postgres_timeline counter
patroni_postgres_timeline{scope="qw-pgx"} 4
"""
"""Patroni 3.0.2's own page (the lab's): the timeline is TYPE counter without a `_total` suffix."""


def test_a_counter_without_its_total_suffix_is_read_as_the_page_spells_it() -> None:
    c = cfg(leader_metric="patroni_primary", epoch_metric="patroni_postgres_timeline")
    a = interpret(c, 200, PATRONI_PAGE)
    assert (a.role, a.epoch) == (Role.LEADER, 4)


def cfg(**kw: object) -> MetricsProbeConfig:
    return MetricsProbeConfig.model_validate({"kind": "metrics", **kw})


def test_a_gauge_equal_to_the_leader_value_is_a_leader() -> None:
    c = cfg(leader_metric="etcd_server_is_leader")
    assert interpret(c, 200, ETCD_PAGE).role is Role.LEADER
    follower = ETCD_PAGE.replace(b"etcd_server_is_leader 1", b"etcd_server_is_leader 0")
    assert interpret(c, 200, follower).role is Role.FOLLOWER


def test_labels_pick_one_sample_and_an_epoch_comes_from_its_own_metric() -> None:
    c = cfg(leader_metric="leader_election_master_status", leader_labels={"name": "kube-controller-manager"})
    assert interpret(c, 200, KUBE_PAGE).role is Role.LEADER
    other = cfg(
        leader_metric="leader_election_master_status", leader_labels={"name": "cloud-controller-manager"}
    )
    assert interpret(other, 200, KUBE_PAGE).role is Role.FOLLOWER
    with_epoch = cfg(
        leader_metric="etcd_server_is_leader", epoch_metric="etcd_server_leader_changes_seen_total"
    )
    a = interpret(with_epoch, 200, ETCD_PAGE)
    assert (a.role, a.epoch) == (Role.LEADER, 3)


@pytest.mark.parametrize(
    ("page", "c", "what"),
    [
        (ETCD_PAGE, {"leader_metric": "patroni_primary"}, "no sample patroni_primary"),
        (KUBE_PAGE, {"leader_metric": "leader_election_master_status"}, "2 samples match"),
        (KUBE_PAGE, {"leader_metric": "leader_election_master_status", "leader_labels": {"name": "x"}},
         'no sample leader_election_master_status{name="x"}'),
        (b"<html>oops</html>", {"leader_metric": "etcd_server_is_leader"}, "no sample"),
        (b"etcd_server_is_leader one\n", {"leader_metric": "etcd_server_is_leader"},
         "not a Prometheus exposition"),
        (ETCD_PAGE.replace(b"changes_seen_total 3", b"changes_seen_total 2.5"),
         {"leader_metric": "etcd_server_is_leader", "epoch_metric": "etcd_server_leader_changes_seen_total"},
         "is 2.5, not an epoch"),
        (b"etcd_server_is_leader NaN\n", {"leader_metric": "etcd_server_is_leader"}, "is NaN"),
    ],
)  # fmt: skip
def test_a_page_that_does_not_say_is_garbage_never_a_follower(
    page: bytes, c: dict[str, object], what: str
) -> None:
    with pytest.raises(GarbageAnswer, match=what.replace("{", r"\{").replace("}", r"\}")):
        interpret(cfg(**c), 200, page)


def test_an_error_status_is_unknown() -> None:
    a = interpret(cfg(leader_metric="etcd_server_is_leader"), 503, b"")
    assert a.role is Role.UNKNOWN and a.reason is Reason.HTTP_STATUS


def test_bad_settings_are_refused_at_load(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text(
        "name: c\nprobe: {kind: metrics, leader_metric: 'is leader'}\n"
        "nodes: [{name: n1, address: '127.0.0.1:1'}]\n"
    )
    with pytest.raises(ConfigError, match=r"probe\.leader_metric: not a Prometheus metric name: 'is leader'"):
        load_cluster(f)


def test_probe_end_to_end_against_a_scripted_node() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while req := await read_http_request(reader):
            assert req.startswith(b"GET /metrics ")
            writer.write(http_response(ETCD_PAGE))
            await writer.drain()

    async def main() -> Role:
        async with serve(handler) as port:
            node = NodeConfig(name="n1", address=f"127.0.0.1:{port}")
            return (await answer_of(MetricsProbe(node, cfg(leader_metric="etcd_server_is_leader")))).role

    assert asyncio.run(main()) is Role.LEADER


@pytest.mark.lab
@pytest.mark.shared_lab("etcd")
def test_a_real_etcd_lab_s_own_metrics_name_the_one_leader_its_status_names(
    shared_lab: tuple[LabState, Path],
) -> None:
    """etcd's /metrics (on its client port) against its maintenance status: same leader."""
    _, cluster_file = shared_lab
    etcd = load_cluster(cluster_file)
    metrics = etcd.model_copy(update={"probe": cfg(leader_metric="etcd_server_is_leader")})

    def roles(cluster: object) -> dict[str, Role]:
        return {n: role for n, (role, _) in asyncio.run(_answers(cluster)).items()}

    by_status, by_metrics = roles(etcd), roles(metrics)
    assert by_status == by_metrics  # a steady lab: no election between the two asks
    assert sorted(by_metrics.values(), key=str) == sorted(
        [Role.LEADER, Role.FOLLOWER, Role.FOLLOWER], key=str
    )


async def _answers(cluster: object) -> dict[str, tuple[Role, int | None]]:
    from quorumwatch.config import ClusterConfig
    from quorumwatch.probes import make_probe

    assert isinstance(cluster, ClusterConfig)
    answers = [await answer_of(make_probe(cluster, n)) for n in cluster.nodes]
    return {n.name: (a.role, a.epoch) for n, a in zip(cluster.nodes, answers, strict=True)}


@pytest.mark.lab
@pytest.mark.shared_lab("patroni")
def test_a_real_patroni_lab_s_metrics_name_the_primary_and_timeline_its_rest_api_names(
    shared_lab: tuple[LabState, Path],
) -> None:
    """Patroni's own /metrics (the README's preset: `patroni_primary`, `patroni_postgres_timeline`)
    against its /patroni: the same primary, in the same timeline."""
    _, cluster_file = shared_lab
    patroni = load_cluster(cluster_file)
    preset = cfg(leader_metric="patroni_primary", epoch_metric="patroni_postgres_timeline")
    metrics = patroni.model_copy(update={"probe": preset})
    by_api, by_metrics = asyncio.run(_answers(patroni)), asyncio.run(_answers(metrics))
    assert {n: role for n, (role, _) in by_metrics.items()} == {n: role for n, (role, _) in by_api.items()}
    (leader,) = [n for n, (role, _) in by_api.items() if role is Role.LEADER]
    timeline = by_api[leader][1]
    assert timeline is not None and timeline >= 1 and by_metrics[leader][1] == timeline
