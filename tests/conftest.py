"""Shared fixtures. Lab tests need root; whatever they start is torn down, on failure too."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from quorumwatch.lab.manager import LabState
from tests.labkit import LabPool

ROOT_DIR = Path(__file__).resolve().parent.parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # modules with lab tests run last, each whole (its module fixtures set up once): a lab shared
    # between them then idles only beside other lab tests, never beside the timing of unit tests
    with_labs = {item.path for item in items if "lab" in item.keywords}
    items.sort(key=lambda item: item.path in with_labs)
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="lab tests need root (network namespaces)")
    for item in items:
        if "lab" in item.keywords:
            item.add_marker(skip)


pytest_plugins = ("pytester",)


@pytest.fixture(scope="session")
def labs() -> Iterator[LabPool]:
    """Lab clusters shared by the lab tests that leave them as they found them (see LabPool)."""
    pool = LabPool()
    try:
        yield pool
    finally:
        pool.close()


def _shared_key(item: pytest.Item) -> tuple[str, int, tuple[str, ...]] | None:
    mark = item.get_closest_marker("shared_lab")
    if mark is None:
        return None
    return LabPool.key(*mark.args, **mark.kwargs)


@pytest.fixture
def shared_lab(request: pytest.FixtureRequest, labs: LabPool) -> Iterator[tuple[LabState, Path]]:
    """The lab the test's `shared_lab` marker names, shared with the other tests that name it; torn
    down after the last of them (the session's end at the latest)."""
    item = request.node
    key = _shared_key(item)
    assert key is not None, "a test using `shared_lab` needs a @pytest.mark.shared_lab(kind, ...)"
    yield labs.get(*key)
    items = request.session.items
    later = items[items.index(item) + 1 :]
    if not any(_shared_key(i) == key for i in later):
        labs.release(*key)


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv with only the wheel (and its dependencies from the package index) installed."""
    tmp = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp / "dist"), str(ROOT_DIR)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = (tmp / "dist").glob("quorumwatch-*.whl")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", str(wheel)], check=True, capture_output=True, timeout=600
    )
    return venv
