"""Issue 11's proof: `watch --metrics` over the zk-election `keep` lab prints the certain dual leader
live, and a real Prometheus server scraping it fires the shipped QuorumwatchDualLeaderCertain alert."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import shutil
import signal
import socket
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from quorumwatch.lab.manager import LabState
from tests.labkit import QW, links_down, qw, wait_for
from tests.results_contract import read_results

pytestmark = pytest.mark.lab
RULES = Path(__file__).resolve().parent.parent / "contrib" / "prometheus" / "quorumwatch-rules.yml"


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUORUMWATCH_STATE", str(tmp_path / "state"))


def get_json(url: str) -> object:
    """The JSON at url, None while it cannot be had (the server still starting)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return json.load(r)
    except (OSError, ValueError):
        return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def alert_firing(web: int, name: str) -> dict[str, object] | None:
    """The first firing alert `name` of the Prometheus server on port `web`, None while none is."""
    got = get_json(f"http://127.0.0.1:{web}/api/v1/alerts")
    alerts = got["data"]["alerts"] if isinstance(got, dict) else []
    mine = [a for a in alerts if a["labels"]["alertname"] == name and a["state"] == "firing"]
    return dict(mine[0]) if mine else None


@contextlib.contextmanager
def process(argv: list[str], **kw: object) -> Iterator[subprocess.Popen[str]]:
    """A process for the test's duration, ended by pid (SIGINT first, then SIGKILL)."""
    proc = subprocess.Popen(argv, text=True, **kw)  # type: ignore[call-overload]
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


@pytest.mark.shared_lab("zk-election", 3, ("--on-suspend", "keep"))
def test_prometheus_fires_the_certain_dual_leader_alert(
    shared_lab: tuple[LabState, Path], tmp_path: Path
) -> None:
    metrics, web = free_port(), free_port()
    (tmp_path / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"rule_files: ['{RULES}']\n"
        "scrape_configs:\n"
        f"  - job_name: quorumwatch\n    static_configs: [{{targets: ['127.0.0.1:{metrics}']}}]\n"
    )
    lines: list[str] = []
    state, cluster_file = shared_lab
    netns = {n.name: n.netns for n in state.nodes}
    watch_argv = [*QW, "watch", str(cluster_file), "--metrics", f"127.0.0.1:{metrics}", "--run-dir",
                  str(tmp_path / "run"), "--changes-only"]  # fmt: skip
    prom_argv = [
        shutil.which("prometheus") or "/usr/bin/prometheus",
        f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{web}",
    ]  # fmt: skip
    with (
        process(watch_argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as watch,
        process(prom_argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
    ):
        out = watch.stdout
        assert out is not None
        reader = threading.Thread(target=lambda: lines.extend(iter(out.readline, "")), daemon=True)
        reader.start()
        check = json.loads(qw("check", str(cluster_file), "--json").stdout)
        (old,) = check["leaders"]

        def scraped() -> bool | None:
            got = get_json(f"http://127.0.0.1:{web}/api/v1/targets")
            targets = got["data"]["activeTargets"] if isinstance(got, dict) else []
            return True if targets and targets[0]["health"] == "up" else None

        wait_for("prometheus scraping the watch", scraped, 60)
        subprocess.run(["ip", "-n", netns[old], "link", "set", "eth0", "down"], check=True)
        try:
            proven = wait_for(
                "the live certain dual leader line",
                lambda: next((s for s in list(lines) if "dual leader (certain since" in s), None),
                60,
            )

            alert = wait_for(
                "the QuorumwatchDualLeaderCertain alert firing",
                lambda: alert_firing(web, "QuorumwatchDualLeaderCertain"),
                60,
            )
        finally:
            subprocess.run(["ip", "-n", netns[old], "link", "set", "eth0", "up"], check=True)
        assert links_down(state) == []
    expected = {"alertname": "QuorumwatchDualLeaderCertain", "cluster": state.name, "severity": "page"}
    assert alert["labels"] == expected
    assert old in proven
    # the line came within a tick or two of the overlap becoming provable (its start, in results.json)
    results = read_results(tmp_path / "run")
    certain = [d for d in results["dual_leaders"] if d["certain"]]
    assert certain and results["verdict"] == "dual_leader"
    printed = dt.datetime.strptime(proven[:26], "%Y/%m/%d %H:%M:%S.%f").astimezone(dt.UTC)
    start = dt.datetime.fromisoformat(certain[0]["start"].replace("Z", "+00:00"))
    assert 0 <= (printed - start).total_seconds() < 1.0, (proven, certain[0])
