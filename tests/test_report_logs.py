"""`logs --timeline` lines, and the lnav format shipped for them read by a real lnav (Debian's)."""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
from pathlib import Path

from quorumwatch.logs.scan import run_logs
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


def _render(files: dict[str, list[Path]]) -> list[str]:
    import datetime as dt

    from quorumwatch.report.logs import render

    out: list[str] = []
    r = run_logs(files, None, tz=dt.UTC, year=2026, skew_s=0.0, offsets_s={})
    render(r, 5.0, False, out.append)
    return out


def test_overlaps_without_epochs_print_none_and_stray_first_lines_are_shown(tmp_path: Path) -> None:
    """keepalived names no epoch: the overlap line says nothing of epochs (not `None / None`); a
    paste's stray first line, before any record, is an example of a line without a timestamp."""
    keep = ROOT / "tests" / "fixtures" / "logs" / "keepalived"
    n1 = tmp_path / "n1" / "console.log"
    n1.parent.mkdir()
    n1.write_text("Attaching to keepalived_n1\n" + (keep / "n1" / "console.log").read_text())
    out = _render({"n1": [n1], "n2": [keep / "n2" / "console.log"]})
    (overlap,) = [line for line in out if line.startswith("  dual_leader")]
    assert "None" not in overlap and "epochs" not in overlap and overlap.startswith("  dual_leader n1 + n2 ")
    i = out.index("1 lines without a timestamp (continuations attach to the record before them), e.g.:")
    assert out[i + 1] == f"  {n1}: Attaching to keepalived_n1"


def test_headers_alone_are_not_announced_with_an_empty_e_g(tmp_path: Path) -> None:
    zk = ROOT / "tests" / "fixtures" / "logs" / "zkelect"
    out = _render({n: [zk / n / f"{n}.INFO"] for n in ("n1", "n2", "n3")})
    assert (
        "9 lines without a timestamp (continuations attach to the record before them; all are "
        "continuations or file headers)" in out
    )
    assert not any(line.endswith("e.g.:") for line in out)


def test_a_silent_file_names_the_pack_that_nearly_fits(tmp_path: Path) -> None:
    """ZooKeeper lines that name an epoch but no role: the file's line says the zookeeper pack was
    tried and how many of its phrases occur, instead of a --pack hint that would not help."""
    p = tmp_path / "n1" / "zookeeper.log"
    p.parent.mkdir()
    p.write_text(
        "2019-03-02 11:04:52,117 - INFO  [QuorumPeer[myid=1]:Leader@475] - Have quorum of supporters, sids: "
        "[ 1,2 ]; starting up and setting last processed zxid: 0x100000000\n"
    )
    out = _render({"n1": [p]})
    assert out[0] == "verdict: inconclusive"
    assert (
        f"  {p} (n1): 1 lines, 1 records, format log4j, no leadership event (pack zookeeper tried); "
        "nearest pack zookeeper: 1 of its 4 phrases occur" in out
    )
