"""Connections a finished download leaves open, for the next download to the same host.

A queue of small files from one server would otherwise open (and slow-start) a new
connection for every file: aria2c keeps its connections to a host across downloads, and
so does this. A connection is kept only a few seconds, as servers close idle ones soon
(Apache after 5 s by default) and a dead one costs a failed request and a retry.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from rangetui.core.http.connection import Connection
from rangetui.core.types import HttpOptions
from rangetui.core.urls import origin_of

IDLE_SECONDS = 4.0
"""Below the shortest keep-alive timeout of the common servers (Apache: 5 s)."""
MAX_IDLE = 32
"""Idle connections kept in all; the oldest is closed first."""

Key = tuple[HttpOptions, str]


class IdleConnections:
    """Thread-safe; shared by the downloads of one engine (or one ``get``)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._idle: list[tuple[float, Key, Connection]] = []

    def take(self, options: HttpOptions, url: str) -> Connection | None:
        """The most recently used idle connection to ``url``'s origin made with the same
        options (headers, proxy, cookies: a session carries them), if any."""
        key = (options, origin_of(url))
        with self._lock:
            expired = self._expire()
            found = None
            for i in range(len(self._idle) - 1, -1, -1):
                if self._idle[i][1] == key:
                    found = self._idle.pop(i)[2]
                    break
        _close_all(expired)
        return found

    def give(self, conn: Connection, url: str) -> None:
        """``conn`` is done with; it last talked to ``url``'s origin."""
        if not conn.reusable():
            conn.close()
            return
        with self._lock:
            expired = self._expire()
            self._idle.append((self._clock(), (conn.options, origin_of(url)), conn))
            while len(self._idle) > MAX_IDLE:
                expired.append(self._idle.pop(0)[2])
        _close_all(expired)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = [c for _, _, c in self._idle], []
        _close_all(idle)

    def _expire(self) -> list[Connection]:
        """Under the lock: drop the connections idle too long; the caller closes them."""
        now = self._clock()
        kept = [entry for entry in self._idle if now - entry[0] < IDLE_SECONDS]
        expired = [c for t, _, c in self._idle if now - t >= IDLE_SECONDS]
        self._idle = kept
        return expired


def open_or_reuse(idle: IdleConnections | None, options: HttpOptions, url: str) -> Connection:
    """An idle connection to ``url``'s server made with ``options``, else a new one."""
    reused = idle.take(options, url) if idle is not None else None
    return reused or Connection(options)


def put_away(idle: IdleConnections | None, conns: list[Connection], url: str) -> None:
    """Connections that ended their work cleanly, kept open for the next download."""
    for conn in conns:
        if idle is not None:
            idle.give(conn, url)
        else:
            conn.close()


def _close_all(conns: list[Connection]) -> None:
    for conn in conns:
        conn.close()


__all__ = ["IDLE_SECONDS", "IdleConnections", "open_or_reuse", "put_away"]
