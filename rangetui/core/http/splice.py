"""Zero copy: bytes from a socket into a file through a pipe, never through Python."""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import socket

SPLICE_PIPE = 1024 * 1024
F_SETPIPE_SZ = 1031
SPLICE_FLAGS = getattr(os, "SPLICE_F_MOVE", 1) | getattr(os, "SPLICE_F_NONBLOCK", 2)


class Splice:
    """A pipe that carries bytes from a socket to a file without leaving the kernel."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.r, self.w = os.pipe()
        with contextlib.suppress(OSError):
            fcntl.fcntl(self.w, F_SETPIPE_SZ, SPLICE_PIPE)
        self._poll = select.poll()
        self._poll.register(sock.fileno(), select.POLLIN | select.POLLPRI)
        timeout = sock.gettimeout()
        self._timeout_ms = None if timeout is None else int(timeout * 1000)

    def move(self, fd: int, offset: int, want: int) -> int:
        """Bytes moved from the socket into ``fd`` at ``offset``; 0 at the end of stream.

        The pipe is drained into the file before returning, so a failure leaves nothing
        in it that was counted; on any error the stream is closed, never reused.
        """
        while True:
            if not self._poll.poll(self._timeout_ms):
                raise TimeoutError
            try:
                n = os.splice(self.sock.fileno(), self.w, want, flags=SPLICE_FLAGS)
                break
            except BlockingIOError:
                continue
        moved = 0
        while moved < n:
            moved += os.splice(self.r, fd, n - moved, offset_dst=offset + moved)
        return n

    def close(self) -> None:
        for end in (self.r, self.w):
            with contextlib.suppress(OSError):
                os.close(end)
