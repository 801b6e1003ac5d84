"""How long to wait before trying again: exponential backoff with jitter."""

from __future__ import annotations

import random

MAX_BACKOFF = 30.0
MAX_RETRY_AFTER = 300.0


def backoff_delay(failures: int, retry_after: float | None = None) -> float:
    """Jitter keeps many connections from retrying in step; a server's Retry-After wins
    when it asks for longer (capped, so a hostile value cannot park us for days)."""
    delay: float = min(MAX_BACKOFF, 0.5 * 2.0 ** max(0, failures - 1)) * random.uniform(0.5, 1.5)
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
    return delay
