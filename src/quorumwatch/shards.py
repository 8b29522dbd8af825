"""Watches sharded over processes and hosts: `watch --clusters DIR --shard K/N`.

Every shard reads the same directory of cluster files and watches those whose file names hash to
it, so N processes (a systemd template, a StatefulSet whose ordinal is K) split a fleet with no
coordinator: each file falls to exactly one shard, and adding a shard moves only the files that
fall to the new one (rendezvous hashing). A shard picks up files added, changed or removed on
SIGHUP and on a poll.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from quorumwatch.config import ClusterConfig, ConfigError

SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Shard:
    """Shard `index` of `count` (0 ≤ index < count: a StatefulSet's ordinal is `index`)."""

    index: int = 0
    count: int = 1

    @classmethod
    def parse(cls, text: str) -> Shard:
        """`K/N`; ValueError with a one-line reason otherwise."""
        m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
        if m is None:
            raise ValueError(f"{text!r} is not K/N (shard K of N, counted from 0)")
        index, count = int(m[1]), int(m[2])
        if count < 1 or index >= count:
            raise ValueError(f"{text!r}: K must be at least 0 and below N (0/{max(count, 1)} to "
                             f"{max(count, 1) - 1}/{max(count, 1)})")  # fmt: skip
        return cls(index, count)

    def owns(self, file_name: str) -> bool:
        return shard_of(file_name, self.count) == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def shard_of(file_name: str, count: int) -> int:
    """The shard of `count` a cluster file belongs to: the one whose hash of (shard, name) is
    highest. The same on every process and host (no per-process hash seed)."""

    def weight(k: int) -> bytes:
        return hashlib.blake2b(f"{k}\0{file_name}".encode(), digest_size=8).digest()

    return max(range(count), key=weight)


def cluster_files(directory: Path) -> list[Path]:
    """The cluster files of a directory: `*.yaml` and `*.yml`, not hidden (editors' and
    deployment tools' temporary files start with a dot), in name order."""
    return sorted(
        p for p in directory.iterdir() if p.suffix in SUFFIXES and not p.name.startswith(".") and p.is_file()
    )


@dataclass(frozen=True)
class Scan:
    """What one look at the directory found for this shard."""

    clusters: Mapping[str, ClusterConfig]
    """By file name: the shard's files that loaded."""
    errors: tuple[str, ...] = ()
    """One line per file that did not load, or whose cluster name another file already uses —
    said once per version of the file."""
    others: int = 0
    """Cluster files that belong to other shards."""


@dataclass
class ClusterDirectory:
    """The shard's view of a directory of cluster files, read again on each `scan` (a file is
    parsed again only when its size or modification time changed)."""

    directory: Path
    shard: Shard
    load: Callable[[Path], ClusterConfig]
    """Reads and validates one file; raises one of `errors`, whose text is the one-line error."""
    errors: tuple[type[Exception], ...] = (ConfigError, OSError, UnicodeError)
    _seen: dict[str, tuple[tuple[int, int, int], ClusterConfig | str]] = field(default_factory=dict)
    _said: set[tuple[str, tuple[int, int, int]]] = field(default_factory=set)

    def scan(self) -> Scan:
        """The shard's clusters as the directory holds them now. OSError when the directory itself
        cannot be read."""
        files = cluster_files(self.directory)
        mine = [p for p in files if self.shard.owns(p.name)]
        errors: list[str] = []
        loaded: dict[str, ClusterConfig] = {}
        names: dict[str, str] = {}
        for p in mine:
            try:
                st = p.stat()
            except OSError:  # removed between the listing and now
                continue
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
            known = self._seen.get(p.name)
            if known is None or known[0] != stamp:
                try:
                    value: ClusterConfig | str = self.load(p)
                except self.errors as exc:
                    value = str(exc) if not isinstance(exc, OSError) else f"{p}: {exc.strerror or exc}"
                known = self._seen[p.name] = (stamp, value)
            value = known[1]
            if isinstance(value, ClusterConfig) and value.name in names:
                value = f"{p}: cluster {value.name!r} is already watched from {names[value.name]}"
            if isinstance(value, str):
                if (p.name, stamp) not in self._said:
                    self._said.add((p.name, stamp))
                    errors.append(value)
                continue
            names[value.name] = p.name
            loaded[p.name] = value
        present = {p.name for p in mine}
        for gone in [name for name in self._seen if name not in present]:
            del self._seen[gone]
        self._said = {s for s in self._said if s[0] in present}
        return Scan(loaded, tuple(errors), len(files) - len(mine))


__all__ = ["SUFFIXES", "ClusterDirectory", "Scan", "Shard", "cluster_files", "shard_of"]
