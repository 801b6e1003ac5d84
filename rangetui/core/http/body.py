"""The body of one checked response, read into caller-owned buffers or spliced."""

from __future__ import annotations

import contextlib
import errno
import http.client
import os
import socket
import time
from typing import Any

import requests

from rangetui.core.errors import RetriableError
from rangetui.core.http.session import first_line, length
from rangetui.core.http.splice import Allow, Splice

SMALL_BODY = 1024
"""A body this short is read to its end rather than dropped with its connection."""
FILL_SECONDS = 0.25
SPLICE_MIN = 64 * 1024


def finish_small(resp: requests.Response) -> None:
    """Done with an answer before reading it: a tiny body (a 1-byte probe, a 416) is
    read to its end so that the connection stays open for the next request; the
    connection of a larger one is dropped."""
    with contextlib.suppress(Exception):
        size = length(resp)
        if size is not None and size <= SMALL_BODY:
            resp.raw.read(SMALL_BODY + 1, decode_content=False)
            resp.raw.release_conn()
            return
    resp.close()


class RangeStream:
    """The body of one checked response, read into caller-owned buffers."""

    def __init__(self, resp: requests.Response, length: int | None, whole: bool = False) -> None:
        self._resp = resp
        self.expected = length
        """The body length it was opened for (None: unknown, read to the end)."""
        self.whole = whole
        """A 200: the whole file from byte 0, not a range of it."""
        self._left = length
        fp = getattr(resp.raw, "_fp", None)
        # Reading through http.client's socket file fills our buffer straight from the
        # socket: no copy and no fresh bytes object per read, as urllib3's read() makes.
        plain = isinstance(fp, http.client.HTTPResponse) and not fp.chunked
        self._body: http.client.HTTPResponse | None = fp if plain else None
        self._error: RetriableError | None = None
        self._splice: Splice | None = None
        self._copy_only = False

    def _socket(self) -> Any:
        conn = getattr(self._resp.raw, "_connection", None) or getattr(
            self._resp.raw, "connection", None
        )
        return getattr(conn, "sock", None)

    def splice_into(
        self, fd: int, offset: int, want: int, allow: Allow | None = None
    ) -> int | None:
        """Move up to ``want`` body bytes from the socket into ``fd`` at ``offset`` inside
        the kernel (splice through a pipe): no copy through Python, about a third less
        CPU on a fast link. None when this stream cannot (TLS, chunked, a short body);
        the caller then uses :meth:`readinto` for the whole stream. Of the bytes taken
        from the socket, only the first ``allow(n)`` are written (see ``Splice.move``).

        The choice is made once per stream: after the first spliced byte, http.client's
        buffer is empty and must stay so, or bytes would be skipped."""
        if self._splice is None:
            if not self._start_splice():
                return None
            return self._drain_buffered(fd, offset, allow)
        if self._left == 0:
            return 0
        try:
            n = self._splice.move(fd, offset, min(want, self._left or 0), allow)
        except TimeoutError:
            raise RetriableError("the connection stalled (no data before the timeout)") from None
        except OSError as e:
            if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO):
                raise  # the file's fault: the caller reports a disk error
            raise RetriableError(f"the connection dropped: {first_line(e)}") from None
        if n == 0:
            raise RetriableError("the server closed the connection early")
        self._account(n)
        return n

    def _start_splice(self) -> bool:
        if self._copy_only:
            return False
        sock = self._socket()
        body_left = self._left or 0
        if self._body is None or type(sock) is not socket.socket or body_left < 2 * SPLICE_MIN:
            self._copy_only = True
            return False
        self._splice = Splice(sock)
        return True

    def _drain_buffered(self, fd: int, offset: int, allow: Allow | None) -> int:
        """One read of SPLICE_MIN through http.client: it returns what it had buffered and
        reads the rest straight from the socket, leaving its buffer empty."""
        buf = memoryview(bytearray(SPLICE_MIN))
        n = self._read_some(buf)
        if n == 0:
            raise RetriableError("the server closed the connection early")
        keep = n if allow is None else allow(n)
        done = 0
        while done < keep:
            done += os.pwrite(fd, buf[done:keep], offset + done)
        if self._left is not None:
            self._left -= n
        return n

    def _account(self, n: int) -> None:
        body = self._body
        assert body is not None and self._left is not None
        self._left -= n
        if body.length is not None:
            body.length -= n
            if body.length == 0:
                body._close_conn()  # type: ignore[attr-defined]  # as http.client does at the end

    def readinto(self, buf: memoryview) -> int:
        """Fill ``buf`` as far as the link gives within FILL_SECONDS; 0 means a clean end.

        A slow link must not hold bytes in the buffer for long (they would be lost on
        Ctrl-C and progress would jump), and a fast one should fill it (fewer writes).
        An error after some bytes arrived is raised on the next call, so they are kept.
        """
        if self._error is not None:
            raise self._error
        if self._left is not None:
            if self._left == 0:
                return 0
            buf = buf[: self._left]
        filled = 0
        deadline = time.monotonic() + FILL_SECONDS
        while filled < len(buf):
            try:
                n = self._read_some(buf[filled:])
            except RetriableError as e:
                if not filled:
                    raise
                self._error = e
                break
            if n == 0:
                break
            filled += n
            if time.monotonic() >= deadline:
                break
        if filled == 0 and self._left:
            raise RetriableError("the server closed the connection early")
        if self._left is not None:
            self._left -= filled
        return filled

    def _read_some(self, buf: memoryview) -> int:
        try:
            return self._read_once(buf) if self._body is not None else self._read_copy(buf)
        except TimeoutError:
            raise RetriableError("the connection stalled (no data before the timeout)") from None
        except (http.client.IncompleteRead, ConnectionError, OSError, ValueError) as e:
            raise RetriableError(f"the connection dropped: {first_line(e)}") from None
        except Exception as e:  # urllib3 protocol errors when reading raw
            raise RetriableError(f"the connection failed: {first_line(e)}") from None

    def _read_once(self, buf: memoryview) -> int:
        """One socket read into ``buf``, keeping http.client's count in step for reuse."""
        body = self._body
        assert body is not None
        if body.fp is None:
            return 0
        if body.length is not None and len(buf) > body.length:
            buf = buf[: body.length]
        n = body.fp.readinto1(buf)
        if body.length is not None:
            body.length -= n
        if n == 0 or body.length == 0:
            body._close_conn()  # type: ignore[attr-defined]  # as http.client does at the end
        return n

    def _read_copy(self, buf: memoryview) -> int:
        data = self._resp.raw.read(len(buf), decode_content=False)
        buf[: len(data)] = data
        return len(data)

    def put_away(self) -> None:
        """Done with before any byte was read (the probe's body, not wanted after all)."""
        finish_small(self._resp)

    def close(self) -> None:
        """Return a fully read connection to the pool; drop one we leave mid-body."""
        if self._splice is not None:
            self._splice.close()
        with contextlib.suppress(Exception):
            if self._left == 0 and self._body is not None and self._body.isclosed():
                self._resp.raw.release_conn()
            else:
                self._resp.close()

    def abort(self) -> None:
        """Wake a read blocked in another thread (pause, quit): shut the socket down."""
        conn = getattr(self._resp.raw, "_connection", None) or getattr(
            self._resp.raw, "connection", None
        )
        sock = getattr(conn, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
