"""Files shipped for running quorumwatch as a service: the systemd unit passes systemd's own check."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

UNIT = Path(__file__).resolve().parent.parent / "contrib" / "systemd" / "quorumwatch@.service"


SHARD_UNIT = UNIT.with_name("quorumwatch-shard@.service")


def _verify(
    unit_text: str, tmp_path: Path, template: str = "quorumwatch@", instance: str = "meta"
) -> subprocess.CompletedProcess[str]:
    (tmp_path / f"{template}.service").write_text(unit_text)
    analyze = shutil.which("systemd-analyze") or "systemd-analyze"
    return subprocess.run(
        [analyze, "verify", str(tmp_path / f"{template}{instance}.service")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_systemd_unit_verifies(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "quorumwatch"
    text = UNIT.read_text().replace("/usr/local/bin/quorumwatch", str(exe))
    r = _verify(text, tmp_path)
    assert r.returncode == 0 and "Unknown" not in r.stderr, r.stderr
    assert "KillSignal=SIGINT" in text and "--format jsonl --metrics" in text


def test_systemd_verify_can_fail(tmp_path: Path) -> None:
    r = _verify(UNIT.read_text().replace("/usr/local/bin/quorumwatch", "quorumwatch-not-here"), tmp_path)
    assert r.returncode != 0


def test_the_shard_template_verifies_and_runs_shard_k_of_n(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "quorumwatch"
    text = SHARD_UNIT.read_text().replace("/usr/local/bin/quorumwatch", str(exe))
    r = _verify(text, tmp_path, "quorumwatch-shard@", "1")
    assert r.returncode == 0 and "Unknown" not in r.stderr, r.stderr
    # what its ExecStart runs, for K=1 of N=3, through the same shell: a command line the CLI takes
    line = next(x for x in text.splitlines() if x.startswith("ExecStart="))
    clusters = tmp_path / "clusters"
    clusters.mkdir()
    script = (
        line.split("-c ", 1)[1]
        .strip("'")
        .replace("%i", "1")
        .replace("/etc/quorumwatch/clusters", str(clusters))
    )
    env = {"QUORUMWATCH_SHARDS": "3", "STATE_DIRECTORY": str(tmp_path / "state"), "PATH": "/usr/bin:/bin"}
    shown = subprocess.run(
        ["/bin/sh", "-c", f"echo {script}"], capture_output=True, text=True, env=env, check=True
    )
    assert "--shard 1/3" in shown.stdout and "--metrics 127.0.0.1:9501" in shown.stdout
    # every flag it passes is taken: it runs, finds no cluster in the empty directory, and says so
    argv = ["/bin/sh", "-c", script + " --duration 0.5"]
    ran = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60, check=False)
    assert ran.returncode == 1 and "shard 1/3: no cluster of" in ran.stderr, ran.stderr
