"""`logs --timeline` lines, and the lnav format shipped for them read by a real lnav (Debian's)."""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
from pathlib import Path

from quorumwatch.logs.command import run_logs
from quorumwatch.report.logs import timeline_lines

ROOT = Path(__file__).resolve().parent.parent
ETCD = ROOT / "tests" / "fixtures" / "logs" / "etcd"
FORMAT = ROOT / "contrib" / "lnav" / "quorumwatch.json"


def _timeline() -> list[str]:
    import datetime as dt

    files = {n: [ETCD / n / f"{n}.log"] for n in ("n1", "n2", "n3")}
    r = run_logs(files, None, tz=dt.UTC, year=None, skew_s=0.0, offsets_s={})
    return timeline_lines(r.forensics)


def test_timeline_lines_are_every_event_in_time_order() -> None:
    lines = _timeline()
    assert len(lines) == 51
    assert lines == sorted(lines, key=lambda s: s[:26])
    starts = [s for s in lines if " leader_start " in s]
    assert [s.split()[2:4] for s in starts] == [
        ["n1", "leader_start"],
        ["n2", "leader_start"],
        ["n3", "leader_start"],
    ]
    assert starts[0].split()[4] == "epoch=2" and "/etcd/n1/n1.log:" in starts[0]


def _lnav(query: str, log: Path, home: Path) -> list[dict[str, str]]:
    formats = home / "lnav" / "formats" / "installed"
    formats.mkdir(parents=True, exist_ok=True)
    shutil.copy(FORMAT, formats / "quorumwatch.json")
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home)}
    r = subprocess.run(
        ["lnav", "-n", "-c", f";{query}", "-c", ":write-csv-to -", str(log)],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert r.returncode == 0 and not r.stdout.startswith("✘"), r.stdout + r.stderr
    return list(csv.DictReader(io.StringIO(r.stdout)))


def test_lnav_reads_the_timeline_with_the_shipped_format(tmp_path: Path) -> None:
    log = tmp_path / "merged.log"
    log.write_text("\n".join(_timeline()) + "\n")
    rows = _lnav(
        "SELECT node, event, epoch, log_level FROM quorumwatch_log "
        "WHERE event = 'leader_start' ORDER BY log_line",
        log, tmp_path / "home",
    )  # fmt: skip
    assert [(r["node"], r["epoch"], r["log_level"]) for r in rows] == [
        ("n1", "2", "warning"),
        ("n2", "3", "warning"),
        ("n3", "4", "warning"),
    ]
    (total,) = _lnav("SELECT count(*) AS n FROM quorumwatch_log", log, tmp_path / "home")
    assert total["n"] == "51"


def test_lnav_reads_watch_lines_too(tmp_path: Path) -> None:
    log = tmp_path / "watch.log"
    log.write_text(
        "2026/11/27 01:38:34.037948 quorum matrix: [F F X]\n"
        "2026/11/27 01:38:34.735999 more than 1 leader appear at this tick, cnt=2: n1 (epoch 3)\n"
        "2026/11/27 01:38:34.735999 quorum matrix: [L L X]\n"
    )
    rows = _lnav(
        "SELECT log_level, count(*) AS n FROM quorumwatch_log GROUP BY 1 ORDER BY 1", log, tmp_path / "h"
    )
    assert {r["log_level"]: r["n"] for r in rows} == {"error": "1", "info": "2"}
