"""Analysing a recorded run: load its history, analyse, write results.json (I/O at the edge)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from quorumwatch.analysis import Analysis, analyze
from quorumwatch.report.results import results
from quorumwatch.store import HISTORY_FILE, History

RESULTS_FILE = "results.json"


def analyze_run(run_dir: Path) -> tuple[Analysis, dict[str, Any]]:
    history = History.open(run_dir / HISTORY_FILE)
    try:
        ticks = list(history.ticks())
        events = history.events()
        meta = history.meta()
    finally:
        history.close()
    interval = float(meta.get("interval_s", "0") or 0)
    deadline = float(meta.get("deadline_s", "0") or 0)
    a = analyze(ticks, events, interval_s=interval, deadline_s=deadline)
    offset = ticks[0].wall_ns - ticks[0].started_ns if ticks else 0
    data = results(
        a,
        offset,
        {
            "cluster": meta.get("cluster"),
            "probe": meta.get("probe"),
            "interval_s": interval,
            "deadline_s": deadline,
            "ticks": len(ticks),
        },
    )
    tmp = run_dir / (RESULTS_FILE + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    tmp.replace(run_dir / RESULTS_FILE)
    return a, data
