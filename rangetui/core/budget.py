"""How many connections one host gets across every running download.

A queue of ten files on one server must not open eighty connections to it: each
download's pool takes a slot before it starts a connection and gives it back when the
connection ends. A download that finds no free slot waits with what it has; it always
keeps trying, so slots freed by others are taken up within a tick.

The same downloads share the connections they leave idle (``idle``): the next download
to a host takes one up rather than opening a new one.
"""

from __future__ import annotations

import threading

from rangetui.core.http.idle import IdleConnections
from rangetui.core.urls import host_port

DEFAULT_PER_HOST = 16


def host_key(url: str) -> str:
    """The unit a server limits connections by."""
    return host_port(url)


class HostBudget:
    """Thread-safe counts of connections per host, never above ``limit`` for any."""

    def __init__(self, limit: int = DEFAULT_PER_HOST) -> None:
        self.limit = max(1, limit)
        self.idle = IdleConnections()
        self._used: dict[str, int] = {}
        self._lock = threading.Lock()
        self._freed = threading.Condition(self._lock)

    def try_take(self, host: str) -> bool:
        with self._lock:
            used = self._used.get(host, 0)
            if used >= self.limit:
                return False
            self._used[host] = used + 1
            return True

    def take(self, host: str, cancel: threading.Event) -> bool:
        """Wait for a slot (False: ``cancel`` was set first). For a download's first
        request, which has nothing to go on with while it waits."""
        with self._lock:
            while self._used.get(host, 0) >= self.limit:
                if cancel.is_set():
                    return False
                self._freed.wait(0.1)
            self._used[host] = self._used.get(host, 0) + 1
            return True

    def give_back(self, host: str) -> None:
        with self._lock:
            self._freed.notify()
            left = self._used.get(host, 0) - 1
            if left > 0:
                self._used[host] = left
            else:
                self._used.pop(host, None)

    def used(self, host: str) -> int:
        with self._lock:
            return self._used.get(host, 0)
