"""One connection from byte 0, for servers without Range support or without a length.

Nothing can be resumed here (the server cannot start mid-file), so a dropped
connection starts over from the beginning, within the retry budget.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from rangetui.core.diskio import truncate, write_all
from rangetui.core.errors import Cancelled, DiskError, FatalError, RetriableError
from rangetui.core.http.body import RangeStream
from rangetui.core.http.connection import Connection
from rangetui.core.ratelimit import RateLimiter
from rangetui.core.retry import backoff_delay
from rangetui.core.types import ConnectionView, Options, Remote


class SingleStream:
    """A download's lone connection, and what other threads need of it while it runs:
    the bytes so far and the open response, so that a pause can abort a blocked read
    and a front end can show one connection rather than none."""

    def __init__(
        self,
        remote: Remote,
        options: Options,
        progress: Callable[[int], None],
        on_event: Callable[[str], None],
        limiter: RateLimiter | None = None,
        first: Connection | None = None,
    ) -> None:
        self.remote = remote
        self.options = options
        self.limiter = limiter
        self.first = first
        """The probe's connection, which may hold the whole body already open."""
        self.done = 0
        self._progress = progress
        self._on_event = on_event
        self._stream: RangeStream | None = None

    def run(self, fd: int, cancel: threading.Event) -> None:
        fetch_stream(
            self.remote,
            fd,
            self.options,
            cancel,
            progress=self._advance,
            on_event=self._on_event,
            on_stream=self._on_stream,
            limiter=self.limiter,
            first=self.first,
        )

    def abort(self) -> None:
        """Any thread, after setting the cancel event: wake a read on a silent server."""
        stream = self._stream
        if stream is not None:
            stream.abort()

    def views(self, speed: float) -> tuple[ConnectionView, ...]:
        """Any thread: the one connection while a response streams (none between tries);
        with no length known, its range ends where its bytes do."""
        if self._stream is None:
            return ()
        done, size = self.done, self.remote.size
        return (ConnectionView(0, 0, done, done if size is None else size, speed),)

    def _advance(self, done: int) -> None:
        self.done = done
        self._progress(done)

    def _on_stream(self, stream: RangeStream | None) -> None:
        self._stream = stream


def fetch_stream(
    remote: Remote,
    fd: int,
    options: Options,
    cancel: threading.Event,
    progress: Callable[[int], None],
    on_event: Callable[[str], None],
    on_stream: Callable[[RangeStream | None], None] = lambda _s: None,
    limiter: RateLimiter | None = None,
    first: Connection | None = None,
) -> None:
    """Write the whole body at offset 0 onward; retries restart from zero.

    ``on_stream`` is told of each open response, so that a pause from another thread
    can abort a read that is blocked on a silent server. A ``limiter`` given (a
    download's, which a live limit changes) replaces the one from ``options``. On
    ``first`` (the probe's connection, closed here) the probe's answer may already be
    the whole body: the first pass reads it rather than asking again.
    """
    if limiter is None and options.limit_rate:
        limiter = RateLimiter(options.limit_rate)
    buf = memoryview(bytearray(options.buffer_size))
    failures = 0
    with first or Connection(options.http) as conn:
        while True:
            try:
                _one_pass(conn, remote, fd, buf, cancel, progress, limiter, on_stream)
                return
            except DiskError as e:
                if e.full:  # L5: no ranges, so the next run starts at byte 0
                    raise DiskError(
                        "the disk is full; free some space and run the same command"
                        " (without Range support on the server, it starts over)"
                    ) from None
                raise
            except RetriableError as e:
                failures += 1
                if failures > options.retries:
                    raise FatalError(f"gave up after {failures} attempts: {e}") from None
                delay = backoff_delay(failures, e.retry_after)
                on_event(f"{e}; starting over in {delay:.1f} s (no Range support)")
                if cancel.wait(delay):
                    raise Cancelled("interrupted") from None


def _one_pass(
    conn: Connection,
    remote: Remote,
    fd: int,
    buf: memoryview,
    cancel: threading.Event,
    progress: Callable[[int], None],
    limiter: RateLimiter | None,
    on_stream: Callable[[RangeStream | None], None],
) -> None:
    truncate(fd, 0)
    progress(0)
    stream = conn.take_whole() or conn.open_whole(remote)
    on_stream(stream)
    pos = 0
    try:
        while True:
            if cancel.is_set():
                raise Cancelled("interrupted")
            want = limiter.take(len(buf), cancel) if limiter else len(buf)
            n = stream.readinto(buf[:want])
            if n == 0:
                break
            write_all(fd, buf[:n], pos)
            pos += n
            progress(pos)
    finally:
        on_stream(None)
        stream.close()
    if remote.size is not None and pos != remote.size:
        raise RetriableError(f"the server sent {pos} bytes instead of {remote.size}")
