"""Human sizes, rates and durations, parsed and printed the way wget and aria2c users expect."""

from __future__ import annotations

import re

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*$", re.IGNORECASE)
_FACTORS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def parse_size(text: str) -> int:
    """Parse `512K`, `4M`, `1G`, `1.5M` or a plain byte count (binary multiples, as aria2c)."""
    match = _SIZE_RE.match(text)
    if not match:
        raise ValueError(f"not a size: {text!r} (use a number with an optional K, M or G suffix)")
    number, suffix = match.groups()
    return int(float(number) * _FACTORS[suffix.upper()])


def format_size(n: float) -> str:
    """Binary units, three significant figures: what fits in a narrow table column."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            if unit == "B":
                return f"{int(value)} B"
            return f"{value:.1f} {unit}" if value < 100 else f"{value:.0f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def format_rate(bytes_per_second: float) -> str:
    """Decimal MB/s as download tools and ISPs quote speeds."""
    value = float(bytes_per_second)
    for unit in ("B/s", "kB/s", "MB/s", "GB/s"):
        if value < 1000 or unit == "GB/s":
            return f"{value:.0f} {unit}" if unit == "B/s" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def format_eta(seconds: float | None) -> str:
    """`m:ss` or `h:mm:ss`; a dash when unknown so columns keep their width."""
    if seconds is None or seconds < 0 or seconds != seconds or seconds > 99 * 3600:
        return "–"
    total = int(seconds + 0.5)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
