"""The packages' dependency directions (issue 10): pure layers never import the edges above them.

Reads every module's imports (including those inside functions) with `ast`, so a lazy import
cannot hide a wrong direction."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "quorumwatch"

ALLOWED: dict[str, set[str]] = {
    "_serial": set(),
    "_version": set(),
    "model": set(),
    "config": set(),
    "analysis": {"model"},
    "store": {"model", "analysis"},
    "executors": {"config"},
    "logs": {"model", "analysis", "config", "_serial"},
    "probes": {"config", "executors", "model"},
    "faults": {"config", "executors", "model"},
    "offsets": {"config", "executors"},
    "engine": {"model", "probes"},
    "report": {"model", "analysis", "logs", "_serial"},
    "check": {"config", "engine", "model", "probes", "report"},
    "workload": {"analysis", "config", "engine", "executors", "model", "probes", "store"},
    "scenario": {"config", "faults", "workload"},
    "lab": {"check", "config", "engine", "model", "probes", "report"},
    "rundir": {"analysis", "offsets", "config", "logs", "model", "report", "store", "_serial"},
    "sentinels": {"analysis", "config", "engine", "model", "probes"},
    "shards": {"config"},
    "watcher": {
        "analysis",
        "config",
        "engine",
        "model",
        "probes",
        "report",
        "sentinels",
        "store",
        "workload",
        "_version",
    },
    # the fault schedule only: the engine, the workload and the output are the session's
    "experiment": {
        "analysis",
        "config",
        "engine",
        "executors",
        "faults",
        "model",
        "offsets",
        "scenario",
        "store",
    },
    "session": {
        "analysis",
        "config",
        "experiment",
        "model",
        "report",
        "rundir",
        "watcher",
        "scenario",
        "shards",
        "store",
    }
    | {"workload"},
    "cli": {"*"},
    "api": {"*"},
    "testing": {"*"},
    "pytest_plugin": {"testing"},
    "__main__": {"cli"},
    "__init__": {"*"},
}
"""Each unit (top-level module or package of quorumwatch) and what it may import besides itself."""


def _imports() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).parts
        unit = rel[0].removesuffix(".py")
        deps = found.setdefault(unit, set())
        package = [unit] if len(rel) > 1 else []
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom):
                if node.level:  # relative: resolve against the unit's own package
                    names = [".".join(["quorumwatch", *package, node.module or ""])]
                elif node.module:
                    names = [node.module] if node.module != "quorumwatch" else [
                        f"quorumwatch.{a.name}" for a in node.names
                    ]  # fmt: skip
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                parts = name.split(".")
                if parts[0] == "quorumwatch" and len(parts) > 1 and parts[1] != unit:
                    deps.add(parts[1])
    return found


def test_every_unit_is_declared() -> None:
    assert set(_imports()) - {"py"} <= set(ALLOWED), "declare new modules in ALLOWED"


@pytest.mark.parametrize("unit", sorted(u for u, deps in ALLOWED.items() if "*" not in deps))
def test_dependency_directions(unit: str) -> None:
    actual = _imports().get(unit, set())
    assert actual <= ALLOWED[unit], f"{unit} imports {sorted(actual - ALLOWED[unit])}"


def test_allowed_graph_has_no_cycle() -> None:
    graph = {u: {d for d in deps if d != "*"} for u, deps in ALLOWED.items()}
    graphlib.TopologicalSorter(graph).static_order()  # raises CycleError on a cycle


def test_pure_layers_do_no_io() -> None:
    """analysis (the linearizability checker and its history readers too) and the log rules
    (envelopes, formats, forensics, joined) never open files, sockets or databases: that is the
    orchestration's job."""
    pure = [*sorted((SRC / "analysis").glob("*.py")), *(SRC / "logs" / f for f in (
        "envelopes.py", "formats.py", "forensics.py", "joined.py"))]  # fmt: skip
    banned = {"sqlite3", "socket", "subprocess", "asyncio", "os", "shutil", "glob"}
    for path in pure:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            mods = (
                [a.name.split(".")[0] for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module.split(".")[0]]
                if isinstance(node, ast.ImportFrom) and node.module
                else []
            )
            assert not set(mods) & banned, f"{path.name} imports {set(mods) & banned}"
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id != "open", f"{path.name} calls open()"
