"""The zk-election participant's glog output format (what log forensics will parse)."""

from __future__ import annotations

import re
from pathlib import Path

from quorumwatch.lab.participant import GlogWriter


def test_glog_header_and_line_format(tmp_path: Path) -> None:
    path = tmp_path / "participant.INFO"
    w = GlogWriter(str(path))
    w.log("[ROLE CHANGE] I am the leader now.  seq is 871", line=101)
    w.log("cannot read", level="W", line=7)
    again = GlogWriter(str(path))  # reopening appends, without a second header
    again.log("Start the leader role", line=103)
    lines = path.read_text().splitlines()
    assert re.fullmatch(r"Log file created at: \d{4}/\d\d/\d\d \d\d:\d\d:\d\d", lines[0])
    assert sum(1 for s in lines if s.startswith("Log file created at:")) == 1
    body = [s for s in lines if s[:1] in "IWEF" and s[1:2].isdigit()]
    assert len(body) == 3
    pattern = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d{6} +\d+ participant\.py:\d+\] (.*)$")
    msgs = [m.group(1) for s in body if (m := pattern.match(s))]
    assert msgs == ["[ROLE CHANGE] I am the leader now.  seq is 871", "cannot read", "Start the leader role"]
    assert body[1].startswith("W")
