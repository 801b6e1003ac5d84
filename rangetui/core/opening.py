"""A download's first connection: the probe, and what it hands to the first worker.

The probe is one ranged GET whose open body is the first range a worker would ask for,
so the connection that made it is worth keeping: the first worker reads on from it. It
holds a slot of the host's connection budget from the moment it opens, and the slot goes
with it, or a queue of downloads probing at once would exceed ``--max-per-host``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from rangetui.core.budget import HostBudget, host_key
from rangetui.core.errors import Cancelled
from rangetui.core.finished import FinishedFiles
from rangetui.core.http.connection import Connection
from rangetui.core.http.idle import open_or_reuse, put_away
from rangetui.core.store import Store
from rangetui.core.types import Options, Remote


class FirstConnection:
    """Owned by one download's thread; what it still holds is given back by :meth:`close`."""

    def __init__(self, options: Options, store: Store, budget: HostBudget | None) -> None:
        self.options = options.http
        self.block_size = options.block_size
        """What the probe asks for: no segment of a map is shorter than a block, so the
        first worker reads the probe's body to its end and keeps the connection."""
        self.store = store
        self.budget = budget
        self._spare: list[Connection] = []
        self._slot: str | None = None
        """The host whose budget slot this holds, for the first worker."""

    def probe(
        self,
        url: str,
        target: Path | None,
        retries: int,
        cancel: threading.Event,
        on_retry: Callable[[str], None],
    ) -> Remote:
        """``target`` is where OUT will most likely be (-o, a resumed job, the URL's name)."""
        self.close(url)
        if self.budget is not None:
            if not self.budget.take(host_key(url), cancel):
                raise Cancelled("interrupted")
            self._slot = host_key(url)
        conn = open_or_reuse(self.budget.idle if self.budget else None, self.options, url)
        try:
            remote = conn.probe_with_retries(url, retries, cancel, on_retry, self._size(target))
        except BaseException:
            conn.close()
            raise
        self._spare.append(conn)
        return remote

    def _size(self, target: Path | None) -> int:
        """One byte when the file may be partly here (a saved map, or a finished record):
        the first block would mostly go unread."""
        saved = target is not None and (
            self.store.has_saved(target) or FinishedFiles(self.store).has(target)
        )
        return 1 if saved else self.block_size

    def sample(self, remote: Remote, start: int, end: int) -> bytes:
        """A few bytes as the server sends them now, on a connection not holding the
        probe's open first block (asking on that one would throw the block away, to be
        asked for again). A new one goes first in the list: the probe's connection is
        the first a worker takes (``WorkerShared.connection`` pops the last)."""
        conn = next((c for c in self._spare if c.reusable()), None)
        if conn is None:
            conn = Connection(self.options)
            self._spare.insert(0, conn)
        return conn.read_range(remote, start, end)

    def whole_body(self) -> Connection | None:
        """The probe's connection for the one-connection fetch (None if there is none);
        after a 200 it holds the whole body open, ready to read. Its budget slot stays
        here until :meth:`close`, which the download calls when it ends: that one
        connection is the download's use of the host."""
        return self._spare.pop(0) if self._spare else None

    def hand_over(self, remote: Remote) -> tuple[list[Connection], bool]:
        """The connections for the workers, and whether a budget slot for ``remote``'s
        host comes with them (a redirect to another host: the probe's slot is freed)."""
        spare, self._spare = self._spare, []
        slot, self._slot = self._slot, None
        if slot is not None and slot != host_key(remote.url):
            self._give_back(slot)
            slot = None
        return spare, slot is not None

    def close(self, url: str) -> None:
        """What no worker took: the connection stays open for the next download to
        ``url``'s server, the slot is given back."""
        spare, self._spare = self._spare, []
        put_away(self.budget.idle if self.budget else None, spare, url)
        slot, self._slot = self._slot, None
        if slot is not None:
            self._give_back(slot)

    def _give_back(self, host: str) -> None:
        if self.budget is not None:
            self.budget.give_back(host)


__all__ = ["FirstConnection"]
