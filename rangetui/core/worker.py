"""One connection: claim a range from the block map, stream it into the file, repeat.

Workers share nothing mutable but the block map and the tuner (each with its own lock)
and their own slot in ``WorkerShared``: each owns one session, one reused buffer and a
duplicate of the download's descriptor, and writes with ``os.pwrite`` at its own
offsets, so there is no file lock. The .part is never opened again by name: in a shared
directory that name may by now be someone else's link.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from rangetui.core.blockmap import BlockMap, Claim
from rangetui.core.diskio import disk_error, write_all
from rangetui.core.errors import (
    Cancelled,
    DiskError,
    DownloadError,
    FatalError,
    RangeNotSupported,
    Refused,
    RemoteChanged,
    RetriableError,
)
from rangetui.core.http.body import RangeStream
from rangetui.core.http.connection import Connection
from rangetui.core.http.idle import IdleConnections, open_or_reuse, put_away
from rangetui.core.ratelimit import RateLimiter
from rangetui.core.retry import backoff_delay
from rangetui.core.sources import PROBATION_WID, Source, SourceSet
from rangetui.core.tuning import ConnectionTuner

STRAGGLER_CHECK_SECONDS = 0.5


@dataclass
class ConnectionSlot:
    """What one worker publishes about itself; written by that worker only."""

    received: int = 0
    start: int = 0
    pos: int = 0
    end: int = 0
    active: bool = False
    stream: RangeStream | None = None


@dataclass
class WorkerShared:
    """The per-download context the workers run in."""

    fd: int
    """The download's open .part; each worker writes through its own dup of it."""
    sources: SourceSet
    """The servers of the file (the URL, and mirrors that agree with it)."""
    bmap: BlockMap
    buffer_size: int
    retries: int
    stop: threading.Event
    on_event: Callable[[str], None]
    tuner: ConnectionTuner
    limiter: RateLimiter | None = None
    wake: threading.Event = field(default_factory=threading.Event)
    """Set when a worker ends, so the supervisor reacts at once rather than on its tick."""
    spare: list[Connection] = field(default_factory=list)
    """The probe's connection, still open: the first worker of the URL reuses it."""
    slots: dict[int, ConnectionSlot] = field(default_factory=dict)
    errors: list[DownloadError] = field(default_factory=list)
    """This attempt's failures; a worker still winding down from a stop reports nothing."""
    ranges_worked: bool = False
    zero_copy: bool = True
    idle: IdleConnections | None = None
    """Connections other downloads left open: taken before opening one, given back."""
    on_read: Callable[[], None] | None = None
    """Called after each read when no supervising loop ticks (a worker run inline)."""

    def fail(self, error: DownloadError) -> None:
        if not self.stop.is_set():
            self.errors.append(error)

    def say(self, message: str) -> None:
        if not self.stop.is_set():
            self.on_event(message)

    def others_active(self, wid: int) -> bool:
        return any(slot.active for w, slot in list(self.slots.items()) if w != wid)

    def connection(self, source: Source) -> Connection:
        """The probe's connection (the first URL's), else an idle one to the same server,
        else a new one."""
        if source.index == 0 and self.spare:
            return self.spare.pop()
        return open_or_reuse(self.idle, source.http, source.remote.url)

    def put_away(self, conn: Connection, source: Source, clean: bool) -> None:
        """A connection that ended its work cleanly stays open for the next download."""
        if clean:
            put_away(self.idle, [conn], source.remote.url)
        else:
            conn.close()

    def keeps(self, wid: int, source: Source) -> bool:
        """The tuner still wants this worker, on this server (a mirror's probation
        worker is on top of the tuner's count)."""
        if wid >= PROBATION_WID:
            return self.sources.keeps(wid, source)
        return self.tuner.keeps(wid) and self.sources.keeps(wid, source)


class Worker(threading.Thread):
    """A daemon thread, so that a socket stuck in the kernel never holds the process."""

    def __init__(self, shared: WorkerShared, wid: int, source: Source) -> None:
        super().__init__(name=f"rangetui-conn-{wid}", daemon=True)
        self.shared = shared
        self.wid = wid
        self.source = source
        """Its server for life: moving to another one is a new worker."""
        self.slot = ConnectionSlot()
        shared.slots[wid] = self.slot
        self.conn: Connection
        self.pace = shared.tuner.pace()
        self._vouched = source.sampled if wid >= PROBATION_WID else None
        """A probation worker claims on its mirror's samples' speed until measured."""
        self._cut_short = False
        self._fd = os.dup(shared.fd)
        """Its own descriptor, made before it starts: a worker that outlives its pool's
        stop (stuck in the kernel) never writes to a number the download closed and the
        process reused."""

    def run(self) -> None:
        s = self.shared
        fd = self._fd
        self.conn = s.connection(self.source)
        clean = False
        try:
            self._loop(fd, memoryview(bytearray(s.buffer_size)))
            clean = True
        except Cancelled:
            pass
        except DownloadError as e:
            s.fail(e)
        except OSError as e:
            s.fail(disk_error(e))
        except Exception as e:  # a thread must never die silently and be respawned forever
            s.fail(FatalError(f"internal error in a connection: {type(e).__name__}: {e}"))
        finally:
            self.slot.active = False
            os.close(fd)
            s.put_away(self.conn, self.source, clean)
            s.wake.set()

    def _loop(self, fd: int, buf: memoryview) -> None:
        s = self.shared
        while not s.stop.is_set() and s.keeps(self.wid, self.source):
            claim = s.bmap.claim(self.wid, vouched=self._vouched)
            if claim is None:
                if s.bmap.is_complete:
                    return
                s.stop.wait(self._idle_wait())
                continue
            self._fetch_claim(fd, buf, claim)

    def _idle_wait(self) -> float:
        retry_at = self.shared.bmap.earliest_retry()
        if retry_at is None:
            return 0.1
        return min(0.1, max(0.01, retry_at - time.monotonic()))

    def _fetch_claim(self, fd: int, buf: memoryview, claim: Claim) -> None:
        """Stream the claimed segment in requests of about a second's worth each.

        Short requests let another connection steal the tail at a request boundary, so
        nothing the server already sent is thrown away and this connection stays open.
        """
        s = self.shared
        pos, limit = claim.start, claim.end
        try:
            while pos < limit:
                stream, until = self._request(pos, limit)
                s.bmap.note_request(claim.segment, until)
                self.pace.request_started()
                try:
                    self._publish(pos, limit, stream)
                    new_pos, limit = self._stream_into(stream, fd, buf, claim.segment, pos, until)
                finally:
                    self.slot.stream = None
                    stream.close()
                self.pace.request_done(new_pos - pos)
                if new_pos == until:
                    s.sources.completed(self.source, until - pos)
                pos = new_pos
                self._leave_if_straggling(claim.segment)
            s.bmap.release(claim.segment)
        except RetriableError as e:
            self._retry_later(claim, e)
        except (RangeNotSupported, RemoteChanged, FatalError) as e:
            s.bmap.release(claim.segment)
            if isinstance(e, DiskError) or not s.sources.strike(self.source, e):
                raise
        except BaseException:
            s.bmap.release(claim.segment)
            raise
        finally:
            self.slot.active = False

    def _request(self, pos: int, limit: int) -> tuple[RangeStream, int]:
        """The next response of this segment and where it ends: the probe's body when
        this connection made the probe and it starts here, else a new ranged GET."""
        opened = self.conn.take_opened(pos)
        if opened is not None:
            self.shared.ranges_worked = True
            return opened[0], min(limit, opened[1])
        until = min(limit, pos + self.pace.request_bytes)
        return self._open(pos, until), until

    def _open(self, start: int, end: int) -> RangeStream:
        """A checked range; a lone 200 once ranges have worked is a glitch, not a verdict,
        and a refused redirect target (an expired signed URL) sends us back to the origin."""
        s, source = self.shared, self.source
        try:
            stream = self.conn.open_range(source.remote, start, end)
        except RangeNotSupported:
            if not s.ranges_worked:
                raise
            raise RetriableError("the server ignored a Range request this time") from None
        except Refused as e:
            if source.remote.url == source.url or s.sources.several:
                raise
            raise RemoteChanged(f"{e} for the redirected URL; asking the original one") from None
        s.ranges_worked = True
        return stream

    def _should_reconnect(self, segment: int) -> bool:
        """The tuner's verdict on the map's rates, asked only when a reconnect is allowed."""
        if not self.pace.may_reconnect() or self.shared.sources.several:
            return False  # with several servers, the slow one is retired instead
        own, others, claim_age, remaining = self.shared.bmap.peer_rates(segment)
        return self.shared.tuner.straggling(own, others, claim_age, remaining)

    def _leave_if_straggling(self, segment: int) -> None:
        """Far slower than its peers: open a new connection (another route, another
        server behind a balancer) between two requests, at most every few seconds."""
        cut_short, self._cut_short = self._cut_short, False
        if not cut_short and not self._should_reconnect(segment):
            return
        self.pace.reconnected()
        self.conn.close()
        self.conn = Connection(self.source.http)
        self.shared.say(f"connection {self.wid} is much slower than the others; reconnecting")

    def _publish(self, pos: int, limit: int, stream: RangeStream) -> None:
        slot = self.slot
        slot.start, slot.pos, slot.end = pos, pos, limit
        slot.stream = stream
        slot.active = True

    def _stream_into(
        self, stream: RangeStream, fd: int, buf: memoryview, segment: int, pos: int, until: int
    ) -> tuple[int, int]:
        """Read one response into the file; returns the new position and segment end.

        Returns early, before ``until``, when this connection is straggling."""
        s, slot = self.shared, self.slot
        limit = s.bmap.limit(segment)
        next_check = time.monotonic() + STRAGGLER_CHECK_SECONDS
        while pos < min(until, limit):
            if s.stop.is_set() or not s.keeps(self.wid, self.source):
                raise Cancelled("stopped")
            want = min(len(buf), min(until, limit) - pos)
            if s.limiter is not None:
                want = s.limiter.take(want, s.stop)
            n = self._move(stream, fd, buf[:want], pos, segment)
            limit = s.bmap.advance(segment, n)
            s.sources.received(self.source, n)
            pos += n
            slot.pos, slot.end = pos, limit
            slot.received += n
            if s.on_read is not None:
                s.on_read()
            now = time.monotonic()
            if now >= next_check:
                # A slow first request can outlast the whole download: do not wait for
                # its end to notice; the caller closes it and reconnects.
                next_check = now + STRAGGLER_CHECK_SECONDS
                if self._should_reconnect(segment):
                    self._cut_short = True  # the caller reconnects, whatever rates say then
                    break
        return pos, limit

    def _move(self, stream: RangeStream, fd: int, buf: memoryview, pos: int, segment: int) -> int:
        """Bytes from the response into the file at ``pos``: spliced in the kernel when the
        stream allows it, else read into our buffer and written with pwrite. Only what
        the map lets us ``reserve`` is written: another connection may have taken the rest
        of the range during the read (a tail race)."""
        s = self.shared
        allow = partial(s.bmap.reserve, segment)
        if s.zero_copy:
            moved = stream.splice_into(fd, pos, len(buf), allow)
            if moved is not None:
                return moved
        n = stream.readinto(buf)
        if n == 0:
            raise RetriableError("the server closed the connection early")
        if s.stop.is_set():
            raise Cancelled("stopped")
        write_all(fd, buf[: allow(n)], pos)
        return n

    def _retry_later(self, claim: Claim, error: RetriableError) -> None:
        s = self.shared
        if error.busy and s.others_active(self.wid):
            # Most likely a per-client connection limit: fewer connections, no strike.
            s.bmap.release(claim.segment, backoff=backoff_delay(1, error.retry_after))
            s.tuner.server_busy(error.retry_after)
            return
        if error.status is None:  # dropped, not answered: several at once are a refusal
            s.tuner.connection_lost()
        if s.sources.strike(self.source, error):
            # Another server can fetch these bytes: the failure is the server's, not theirs.
            s.bmap.release(claim.segment, backoff=backoff_delay(1, error.retry_after))
            s.say(f"connection {self.wid}: {error}; retrying")
            return
        failures = s.bmap.failures(claim.segment) + 1
        delay = backoff_delay(failures, error.retry_after)
        s.bmap.release(claim.segment, failed=True, backoff=delay)
        if failures > s.retries:
            raise FatalError(
                f"gave up on bytes {claim.start}-{claim.end - 1} after {failures} attempts: {error}"
            )
        s.say(f"connection {self.wid}: {error}; retrying in {delay:.1f} s")
