"""Issue 23's shard proof: two `watch --clusters DIR --shard K/2` processes over 110 clusters of
scripted etcd members, one real Prometheus server scraping both with the shipped rules: every
cluster is watched by exactly one shard, the fleet's recording rules count them all, a file added
later is picked up, and a certain dual leader in one cluster fires the shipped alert."""

from __future__ import annotations

import shutil
import subprocess
import urllib.parse
from pathlib import Path

import pytest

from tests.labkit import QW, wait_for
from tests.responders import EtcdLikeCluster
from tests.test_report_metrics_lab import alert_firing, free_port, get_json, process

pytestmark = pytest.mark.lab
RULES = Path(__file__).resolve().parent.parent / "contrib" / "prometheus"
CLUSTERS, DUAL = 110, 37


def query(web: int, expr: str) -> list[dict[str, object]] | None:
    """The instant vector of `expr`, None while Prometheus cannot answer."""
    got = get_json(f"http://127.0.0.1:{web}/api/v1/query?query={urllib.parse.quote(expr)}")
    if not isinstance(got, dict) or got.get("status") != "success":
        return None
    return list(got["data"]["result"])


def scalar(web: int, expr: str) -> float | None:
    result = query(web, expr)
    return float(result[0]["value"][1]) if result else None  # type: ignore[index]


def test_two_shards_watch_every_cluster_once_and_the_aggregate_alerts(tmp_path: Path) -> None:
    clusters = tmp_path / "clusters"
    clusters.mkdir()
    roles = [r for g in range(CLUSTERS + 1) for r in (["L", "L", "F"] if g == DUAL else ["F", "L", "F"])]
    ports, web = [free_port(), free_port()], free_port()
    targets = ", ".join(f"'127.0.0.1:{p}'" for p in ports)
    (tmp_path / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"rule_files: ['{RULES / 'quorumwatch-rules.yml'}', '{RULES / 'quorumwatch-fleet-rules.yml'}']\n"
        "scrape_configs:\n"
        f"  - job_name: quorumwatch\n    static_configs: [{{targets: [{targets}]}}]\n"
    )
    prom_argv = [
        shutil.which("prometheus") or "/usr/bin/prometheus",
        f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{web}",
    ]  # fmt: skip
    with EtcdLikeCluster(roles, size=3) as fake:
        for g in range(CLUSTERS):
            (clusters / f"c{g:03d}.yaml").write_text(fake.cluster_yaml(0.5, 0.25, f"c{g:03d}", g))

        def shard(k: int) -> list[str]:
            return [*QW, "watch", "--clusters", str(clusters), "--shard", f"{k}/2", "--rescan", "1s",
                    "--metrics", f"127.0.0.1:{ports[k]}", "--run-dir", str(tmp_path / f"shard{k}"),
                    "--changes-only", "--keep-ticks", "2s"]  # fmt: skip

        logs = [(tmp_path / f"shard{k}.out").open("w") for k in range(2)]
        with (
            process(shard(0), stdout=logs[0], stderr=subprocess.STDOUT) as s0,
            process(shard(1), stdout=logs[1], stderr=subprocess.STDOUT) as s1,
            process(prom_argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        ):
            wait_for(
                "Prometheus counting every cluster through the fleet rule",
                lambda: scalar(web, "quorumwatch:clusters_watched") == CLUSTERS or None,
                120,
            )
            wait_for(
                "every cluster's ticks scraped",
                lambda: (
                    scalar(web, "count(count by (cluster) (quorumwatch_ticks_total))") == CLUSTERS or None
                ),
                60,
            )
            assert scalar(web, "max(count by (cluster) (quorumwatch_ticks_total))") == 1  # never two shards
            assert scalar(web, "quorumwatch:clusters_watched_twice") == 0
            assert scalar(web, "quorumwatch:shards") == 2

            alert = wait_for(
                "the certain dual leader alert firing",
                lambda: alert_firing(web, "QuorumwatchDualLeaderCertain"),
                60,
            )
            assert alert["labels"] == {"alertname": "QuorumwatchDualLeaderCertain", "cluster": f"c{DUAL:03d}",
                                       "severity": "page"}  # fmt: skip
            assert scalar(web, "quorumwatch:clusters_dual_leader_certain") == 1
            # a file added while they run goes to one shard, which picks it up on its next look
            (clusters / f"c{CLUSTERS:03d}.yaml").write_text(
                fake.cluster_yaml(0.5, 0.25, f"c{CLUSTERS:03d}", CLUSTERS)
            )
            wait_for(
                "the added cluster watched",
                lambda: scalar(web, "quorumwatch:clusters_watched") == CLUSTERS + 1 or None,
                60,
            )
            for proc in (s0, s1):
                proc.send_signal(2)
            codes = [proc.wait(timeout=300) for proc in (s0, s1)]
        for log in logs:
            log.close()
    said = [(tmp_path / f"shard{k}.out").read_text() for k in range(2)]
    recorded = [{p.name for p in (tmp_path / f"shard{k}").iterdir() if p.is_dir()} for k in range(2)]
    assert recorded[0].isdisjoint(recorded[1])
    assert recorded[0] | recorded[1] == {f"c{g:03d}" for g in range(CLUSTERS + 1)}
    owner = next(k for k in range(2) if f"c{DUAL:03d}" in recorded[k])
    assert codes[owner] == 3 and codes[1 - owner] == 0, said
    assert "Traceback" not in said[0] + said[1]
