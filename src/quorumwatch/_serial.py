"""Times as text (a leaf: imports nothing of quorumwatch, so every layer may use it)."""

from __future__ import annotations

import datetime as dt


def iso(wall_ns: int) -> str:
    """ISO-8601 UTC with microseconds, as results.json and every JSON output write times."""
    secs, ns = divmod(wall_ns, 1_000_000_000)
    t = dt.datetime.fromtimestamp(secs, tz=dt.UTC).replace(microsecond=ns // 1000)
    return t.isoformat().replace("+00:00", "Z")


def stamp(wall_ns: int, tz: dt.tzinfo | None = None) -> str:
    """`YYYY/MM/DD HH:MM:SS.ffffff` in local time (or tz), as the terminal lines show times."""
    secs, ns = divmod(wall_ns, 1_000_000_000)
    t = dt.datetime.fromtimestamp(secs, tz=tz) if tz else dt.datetime.fromtimestamp(secs)
    return t.strftime("%Y/%m/%d %H:%M:%S.") + f"{ns // 1000:06d}"


def rounded(v: float | None, digits: int = 6) -> float | None:
    """Seconds rounded for JSON (None stays None)."""
    return None if v is None else round(v, digits)


__all__ = ["iso", "rounded", "stamp"]
