"""What ships works as users install it: the built wheel in a clean venv, not the editable checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

from tests.responders import EtcdLikeCluster

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def run(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        [str(venv / "bin" / "quorumwatch"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env=env,
        check=False,
    )


def test_wheel_carries_the_data_files_users_need(installed: Path) -> None:
    (wheel,) = (installed.parent / "dist").glob("quorumwatch-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    packs = sorted(p.name for p in (ROOT / "src" / "quorumwatch" / "logs" / "packs").glob("*.yaml"))
    assert len(packs) >= 11  # every built-in pack, each one a user's `--pack NAME`
    for f in packs:
        assert f"quorumwatch/logs/packs/{f}" in names, f
    assert "quorumwatch/py.typed" in names and "quorumwatch/lab/participant.py" in names
    assert not any(n.startswith("tests/") for n in names)


def test_installed_cli_reads_logs_with_builtin_packs(installed: Path, tmp_path: Path) -> None:
    logs = FIXTURES / "logs" / "etcd"
    r = run(
        installed, "logs", "--pack", "etcd", *(f"{d.name}={d}/*.log" for d in logs.iterdir()), cwd=tmp_path
    )
    assert r.returncode == 3, r.stderr  # the same as from the checkout: the packs were found
    assert "verdict: dual_leader" in r.stdout
    assert "dual_leader n1 + n2 (epochs 2 / 3)" in r.stdout
    mod = subprocess.run(
        [str(installed / "bin" / "python"), "-c", "import quorumwatch, sys; print(quorumwatch.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    assert str(installed) in mod.stdout  # the installed copy, not the checkout


def test_installed_cli_counts_lines_with_numpy_and_runs_a_shard(installed: Path, tmp_path: Path) -> None:
    """The installed wheel's dependencies include the vectorised line counts (numpy), and a shard
    of an empty directory runs and says it examined nothing."""
    probe = "from quorumwatch.logs import linecount; print(linecount.available())"
    mod = subprocess.run([str(installed / "bin" / "python"), "-c", probe], capture_output=True, text=True,
                         check=True, cwd=tmp_path)  # fmt: skip
    assert mod.stdout.strip() == "True"
    (tmp_path / "fleet").mkdir()
    r = run(installed, "watch", "--clusters", str(tmp_path / "fleet"), "--shard", "0/2", "--duration", "0.3",
            cwd=tmp_path)  # fmt: skip
    assert r.returncode == 1 and "shard 0/2: no cluster of" in r.stderr, r.stderr


def test_installed_cli_measures_harm(installed: Path, tmp_path: Path) -> None:
    with EtcdLikeCluster(["L", "F", "F"], keep_writes=False) as c:
        (tmp_path / "c.yaml").write_text(c.cluster_yaml())
        (tmp_path / "w.yaml").write_text("workload: {kind: set, rate: 40}\n")
        r = run(
            installed,
            "watch",
            "c.yaml",
            "--duration",
            "1",
            "--workload",
            "w.yaml",
            "--run-dir",
            "r",
            cwd=tmp_path,
        )
    assert r.returncode == 6, r.stderr
    assert "harm: data loss — " in r.stderr and (tmp_path / "r" / "results.json").is_file()


def test_sdist_carries_tests_fixtures_examples_and_docs(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "-o", str(tmp_path), str(ROOT)],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    (sdist,) = tmp_path.glob("quorumwatch-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    for needed in ("LICENSE", "docs/design.md", "docs/api.md", "docs/results.schema.json",
                   "examples/etcd-leader-link-down-writes.yaml", "tests/test_api.py", "tests/conftest.py",
                   "tests/fixtures/logs/etcd/n1/n1.log", "scripts/setup.sh", "Makefile"):  # fmt: skip
        assert needed in names, needed
    assert not any(n.startswith("test-artifacts") or "__pycache__" in n for n in names)


def test_wheel_metadata_has_one_version_licence_and_the_pytest_plugin(installed: Path) -> None:
    (wheel,) = (installed.parent / "dist").glob("quorumwatch-*.whl")
    from quorumwatch._version import __version__

    assert wheel.name.startswith(f"quorumwatch-{__version__}-")
    z = zipfile.ZipFile(wheel)
    meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
    text = z.read(meta).decode()
    assert f"Version: {__version__}" in text and "License-Expression: MIT" in text
    assert "Classifier: Framework :: Pytest" in text
    points = z.read(meta.replace("METADATA", "entry_points.txt")).decode()
    assert "[pytest11]" in points and "quorumwatch = quorumwatch.pytest_plugin" in points
    version = subprocess.run(
        [str(installed / "bin" / "quorumwatch"), "--version"], capture_output=True, text=True, check=True
    )
    assert __version__ in version.stdout
