"""Where a watch's lines go when they go to a file: appended, and reopened on SIGHUP so log
rotation (move the file, signal, compress the old one) loses no line and writes no line twice."""

from __future__ import annotations

import io
from pathlib import Path


class ReopenableOutput(io.TextIOBase):
    """A text file opened for appending, line-buffered, that `reopen()` closes and opens again by
    name (after a rotation, a new file of that name)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self._file = self._open()
        self.reopened = 0

    def _open(self) -> io.TextIOWrapper:
        return open(self.path, "a", encoding="utf-8", buffering=1)

    def write(self, s: str) -> int:
        return self._file.write(s)

    def flush(self) -> None:
        self._file.flush()

    def fileno(self) -> int:
        return self._file.fileno()

    def writable(self) -> bool:
        return True

    def reopen(self) -> None:
        """Finish writing to the old file and continue in a file of the same name. Runs between two
        writes (a signal handler on the event loop), so no line is split across files."""
        new = self._open()
        old, self._file = self._file, new
        old.close()
        self.reopened += 1

    def close(self) -> None:
        if self.closed:
            return
        super().close()  # flushes first
        self._file.close()
