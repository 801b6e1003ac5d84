"""Which mirrors may serve a file: those that agree with the URL on size and on bytes.

A mirror is trusted only after its own probe (its own validators, since ETags differ
between servers) and a comparison of sample ranges, one from a random place in the
file and the file's tail, with the same ranges from the URL: a mirror of another
size, or another version of the same size, would splice two files into one. Each
mirror is checked on its own thread, after the URL's samples are read on another, while
the download starts from the URL, so neither a slow URL nor a slow or silent mirror
delays anything; one that agrees joins the download's servers.
Whatever is wrong with a mirror is said in one line and the download goes on.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from rangetui.core.budget import host_key
from rangetui.core.errors import DownloadError
from rangetui.core.http.connection import Connection
from rangetui.core.sources import Source, SourceSet
from rangetui.core.types import HttpOptions, Remote
from rangetui.core.units import format_size

SAMPLE_BYTES = 64 * 1024
PROBE_RETRIES = 1
SAMPLE_SLOW_FACTOR = 16.0
"""A server whose samples took this many times longer than the other's is not worth a
connection: it would hold one for the second it takes to be measured slow and retired.
Twice the measured rule's factor, since two short reads are a rough measure."""
SAMPLE_SLOW_FLOOR = 0.25
"""Seconds: samples quicker than this say nothing about speed (a loaded machine's
pause is as long), so a server this quick is never judged slow by them."""


def sample_ranges(size: int, rng: random.Random | None = None) -> list[tuple[int, int]]:
    """A range from a random place in the file and one from its end (one, for a file
    no bigger than a sample)."""
    if size <= SAMPLE_BYTES:
        return [(0, size)] if size else []
    offset = (rng or random.Random()).randrange(0, size - SAMPLE_BYTES)
    return sorted({(offset, offset + SAMPLE_BYTES), (size - SAMPLE_BYTES, size)})


def mirror_http(http: HttpOptions, url: str, mirror: str) -> HttpOptions:
    """Headers the user gave (tokens, cookies) are for the URL's host: a mirror on
    another host gets none of them but the User-Agent."""
    if host_key(url) == host_key(mirror):
        return http
    kept = tuple((k, v) for k, v in http.headers if k.lower() == "user-agent")
    return replace(http, headers=kept)


def agreeing_sources(
    url: str,
    remote: Remote,
    mirrors: Sequence[str],
    http: HttpOptions,
    say: Callable[[str], None],
) -> SourceSet:
    """The URL's servers: the URL now, and each mirror once it agrees with the URL.
    The caller closes the set when the attempt ends, which silences the checks."""
    sources = SourceSet([Source(0, url, remote, http)], say)
    wanted = [m for i, m in enumerate(mirrors) if m != url and m not in mirrors[:i]]
    if not wanted or remote.size is None or not remote.accept_ranges:
        return sources
    _Checks(sources, remote, wanted).start()
    return sources


class _Checks(threading.Thread):
    """Reads the URL's samples, then starts one check per mirror. On a thread of its own
    and a connection of its own: a slow URL's samples (4 s at 32 KiB/s) delay neither
    the download's start nor its connections."""

    def __init__(self, sources: SourceSet, remote: Remote, mirrors: list[str]) -> None:
        super().__init__(name="rangetui-mirror-samples", daemon=True)
        self._sources = sources
        self._remote = remote
        self._mirrors = mirrors

    def run(self) -> None:
        sources, why = self._sources, ""
        ranges = sample_ranges(self._remote.size or 0)
        for attempt in range(1 + PROBE_RETRIES):
            if attempt and sources.closed.wait(1.0):
                return
            started = time.monotonic()
            try:
                expected = self._samples(ranges)
            except DownloadError as e:
                why = f"the URL's samples failed ({e})"
                continue
            except Exception as e:  # a thread must never die silently
                why = f"internal error: {type(e).__name__}"
                break
            if expected is not None:  # None: the attempt ended meanwhile
                timing = _Timing(sum(b - a for a, b in ranges), time.monotonic() - started)
                for mirror in self._mirrors:
                    _Check(sources, self._remote, mirror, ranges, expected, timing).start()
            return
        sources.say(f"mirrors not checked: {why}")

    def _samples(self, ranges: list[tuple[int, int]]) -> list[bytes] | None:
        """The URL's bytes at ``ranges``; None once the attempt has ended."""
        with Connection(self._sources.all[0].http) as conn:
            expected = []
            for a, b in ranges:
                if self._sources.closed.is_set():
                    return None
                expected.append(conn.read_range(self._remote, a, b))
            return expected


class _Timing:
    """How long the samples took from the URL, to judge a mirror's by."""

    def __init__(self, nbytes: int, url_seconds: float) -> None:
        self.nbytes = nbytes
        self.url_seconds = url_seconds

    def far_slower(self, seconds: float, than: float) -> bool:
        return seconds > max(SAMPLE_SLOW_FLOOR, SAMPLE_SLOW_FACTOR * than)

    def speeds(self, slow: float, fast: float) -> str:
        def speed(seconds: float) -> str:
            return f"{format_size(int(self.nbytes / max(seconds, 1e-6)))}/s"

        return f"{speed(slow)} against {speed(fast)} in samples"


class _Check(threading.Thread):
    """One mirror's probe and samples, on a daemon thread: a mirror that never answers
    must not keep the process alive."""

    def __init__(
        self,
        sources: SourceSet,
        remote: Remote,
        mirror: str,
        ranges: list[tuple[int, int]],
        expected: list[bytes],
        timing: _Timing,
    ) -> None:
        super().__init__(name="rangetui-mirror-check", daemon=True)
        primary = sources.all[0]
        self.mirror = mirror
        self.http = mirror_http(primary.http, primary.url, mirror)
        self._sources = sources
        self._primary = remote
        self._ranges = ranges
        self._expected = expected
        self._timing = timing
        self.remote: Remote | None = None
        self.sampled: float | None = None
        """Bytes/s of its samples, at most what the floor's time would give."""

    def run(self) -> None:
        try:
            with Connection(self.http) as conn:
                why = self._disagreement(conn)
        except DownloadError as e:
            why = str(e)
        except Exception as e:  # a thread must never die silently
            why = f"internal error: {type(e).__name__}"
        if why is None and self.remote is not None:
            self._sources.add(self.mirror, self.remote, self.http, self.sampled)
        else:
            name = Source(1, self.mirror, self._primary, self.http).name
            self._sources.say(f"{name}: {why}; not using it")

    def _disagreement(self, conn: Connection) -> str | None:
        """Why the mirror must not be used; None (and ``remote`` set) when it agrees."""
        stop = self._sources.closed
        # One byte: the samples, not the first block, are what a mirror's bytes are judged on.
        remote = conn.probe_with_retries(self.mirror, PROBE_RETRIES, stop, _quiet, 1)
        size = self._primary.size
        if remote.size != size:
            return f"it has {remote.size} bytes where the URL has {size}"
        if not remote.accept_ranges:
            return "it does not serve byte ranges"
        digests = self._primary.digest, remote.digest
        if all(digests) and digests[0] != digests[1] and _same_alg(*digests):
            return "its digest of the file differs from the URL's"
        started = time.monotonic()
        for (start, end), expected in zip(self._ranges, self._expected, strict=True):
            if stop.is_set():
                return "interrupted"
            if conn.read_range(remote, start, end) != expected:
                return f"it serves other bytes than the URL (bytes {start}-{end - 1} differ)"
        seconds = time.monotonic() - started
        timing = self._timing
        if timing.far_slower(seconds, than=timing.url_seconds):
            speeds = timing.speeds(seconds, timing.url_seconds)
            return f"it is far slower than the URL ({speeds})"
        # Quicker than the floor, the samples only say "at least this fast".
        self.sampled = timing.nbytes / max(seconds, SAMPLE_SLOW_FLOOR)
        self.remote = remote
        return None


def _quiet(_message: str) -> None:
    """A mirror's probe retries are not worth a line each: its verdict is."""


def _same_alg(a: str | None, b: str | None) -> bool:
    return (a or "").partition(":")[0] == (b or "").partition(":")[0]


__all__ = ["SAMPLE_BYTES", "agreeing_sources", "mirror_http", "sample_ranges"]
