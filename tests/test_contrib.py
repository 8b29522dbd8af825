"""Files shipped for running quorumwatch as a service: the systemd unit passes systemd's own check."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

UNIT = Path(__file__).resolve().parent.parent / "contrib" / "systemd" / "quorumwatch@.service"


def _verify(unit_text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    (tmp_path / "quorumwatch@.service").write_text(unit_text)
    analyze = shutil.which("systemd-analyze") or "systemd-analyze"
    return subprocess.run(
        [analyze, "verify", str(tmp_path / "quorumwatch@meta.service")],
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
