"""Parsing what servers put in headers: numbers, ranges, dates, reason phrases.

Standard library only; every function takes hostile text and never raises on it.
"""

from __future__ import annotations

import contextlib
import email.utils
import re
import time

from rangetui.core.text import terminal_safe

_CONTENT_RANGE_RE = re.compile(
    r"^\s*bytes\s+(?:(\d{1,20})-(\d{1,20})|\*)/(\d{1,20}|\*)\s*$", re.IGNORECASE | re.ASCII
)


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After is either delta-seconds or an HTTP date."""
    if not value:
        return None
    seconds = number(value)
    if seconds is not None:
        return float(seconds)
    with contextlib.suppress(TypeError, ValueError):
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    return None


def strong_date(last_modified: str | None, date: str | None) -> bool:
    """RFC 9110 8.8.2.2: a Last-Modified at least one second before the response's Date
    is strong; one from the same second may still change within it."""
    if not last_modified or not date:
        return False
    try:
        modified = email.utils.parsedate_to_datetime(last_modified)
        answered = email.utils.parsedate_to_datetime(date)
        return (answered - modified).total_seconds() >= 1
    except (TypeError, ValueError, OverflowError):
        return False


def printable(text: str, limit: int = 200) -> str:
    """Server-supplied text for a message: terminal-safe and of bounded length."""
    return terminal_safe(text, limit)


def parse_content_range(value: str | None) -> tuple[int | None, int | None, int | None]:
    """``bytes a-b/total`` → (a, b inclusive, total); None where absent or ``*``."""
    match = _CONTENT_RANGE_RE.match(value or "")
    if not match:
        return (None, None, None)
    a, b, total = match.groups()
    return (
        int(a) if a is not None else None,
        int(b) if b is not None else None,
        int(total) if total and total != "*" else None,
    )


def number(value: str | None) -> int | None:
    """A header's decimal number; None for anything else (hostile digits included)."""
    value = (value or "").strip()
    if not value or len(value) > 20 or not (value.isascii() and value.isdigit()):
        return None
    return int(value)
