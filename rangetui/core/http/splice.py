"""Zero copy: bytes from a socket into a file through a pipe, never through Python."""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import socket
import threading
from collections.abc import Callable

SPLICE_PIPE = 1024 * 1024
SPARE_PIPES = 8
"""Empty pipes kept for the next stream: a pipe and its sizing are four system calls
(pipe2, fcntl, close, close), a fifth of a small file's, each one a hand-over of the GIL
when eight downloads run. Few: a 1 MiB pipe counts against the user's pipe pages
(fs/pipe-user-pages-soft) even when empty."""
F_SETPIPE_SZ = 1031
SPLICE_FLAGS = getattr(os, "SPLICE_F_MOVE", 1) | getattr(os, "SPLICE_F_NONBLOCK", 2)

Allow = Callable[[int], int]
"""Of n bytes received, how many the caller may write (the rest belong to someone else)."""


_spare: list[tuple[int, int]] = []
_spare_lock = threading.Lock()


def _take_pipe() -> tuple[int, int]:
    with _spare_lock:
        if _spare:
            return _spare.pop()
    r, w = os.pipe()
    with contextlib.suppress(OSError):
        fcntl.fcntl(w, F_SETPIPE_SZ, SPLICE_PIPE)
    return r, w


def _forget_spares() -> None:
    """In a forked child: the spares are shared with the parent, whose streams would
    mix their bytes with ours."""
    global _spare_lock
    for pipe in _spare:
        _close(pipe)
    _spare.clear()
    _spare_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_spares)


def _give_back(pipe: tuple[int, int]) -> None:
    """Only an empty pipe comes back: a later stream must never read our bytes."""
    with _spare_lock:
        if len(_spare) < SPARE_PIPES:
            _spare.append(pipe)
            return
    _close(pipe)


def _close(pipe: tuple[int, int]) -> None:
    for end in pipe:
        with contextlib.suppress(OSError):
            os.close(end)


class Splice:
    """A pipe that carries bytes from a socket to a file without leaving the kernel."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.r, self.w = _take_pipe()
        self._empty = True
        """False from a splice into the pipe until it is drained: such a pipe is closed."""
        self._poll = select.poll()
        self._poll.register(sock.fileno(), select.POLLIN | select.POLLPRI)
        timeout = sock.gettimeout()
        self._timeout_ms = None if timeout is None else int(timeout * 1000)

    def move(self, fd: int, offset: int, want: int, allow: Allow | None = None) -> int:
        """Bytes taken from the socket (0 at the end of stream); those that ``allow``
        (asked once they are in the pipe) permits go into ``fd`` at ``offset``, the rest
        are dropped: another connection owns them now.

        The pipe is drained before returning, so a failure leaves nothing in it that was
        counted; on any error the stream is closed, never reused.
        """
        while True:
            if not self._poll.poll(self._timeout_ms):
                raise TimeoutError
            self._empty = False
            try:
                n = os.splice(self.sock.fileno(), self.w, want, flags=SPLICE_FLAGS)
                break
            except BlockingIOError:
                self._empty = True
                continue
        keep = n if allow is None else allow(n)
        moved = 0
        while moved < keep:
            moved += os.splice(self.r, fd, keep - moved, offset_dst=offset + moved)
        while moved < n:
            moved += len(os.read(self.r, n - moved))
        self._empty = True
        return n

    def close(self) -> None:
        if self.r < 0:
            return
        pipe, self.r, self.w = (self.r, self.w), -1, -1
        if self._empty:
            _give_back(pipe)
        else:
            _close(pipe)
