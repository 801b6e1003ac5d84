"""The plain values every layer shares: phases, options, the remote file's identity,
and what one download looks like at one instant.

Standard library only (and the pure interval values): importing this module loads
neither ``requests`` nor ``textual``, so any front end or codec can use it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any

from rangetui.core.intervals import MapSnapshot


class Phase(StrEnum):
    QUEUED = "queued"
    PROBING = "probing"
    DOWNLOADING = "downloading"
    PAUSED = "paused"
    VERIFYING = "verifying"
    DONE = "done"
    FAILED = "failed"


ACTIVE = (Phase.PROBING, Phase.DOWNLOADING, Phase.VERIFYING)
"""Phases in which a job holds a download thread."""


@dataclass(frozen=True)
class HttpOptions:
    headers: tuple[tuple[str, str], ...] = ()
    timeout: float = 15.0
    verify: bool | str = True
    proxy: str | None = None
    """--proxy: for http and https alike (else the environment's, as curl and wget)."""
    no_proxy: str | None = None
    """--no-proxy: hosts reached directly, comma-separated."""
    cookies_file: str | None = None
    """--load-cookies: a Netscape cookies.txt (wget, curl, aria2, browser exports)."""
    netrc_file: str | None = None
    """--netrc-file: credentials per host (~/.netrc is read anyway, as curl -n does)."""


@dataclass(frozen=True)
class Options:
    """Per-download settings, from the command line or the add dialog."""

    connections: int = 8
    """The most connections (-t): adaptive downloads find their count below it."""
    fixed: bool = False
    """--fixed: exactly ``connections``, never fewer or more (no adaptive count)."""
    block_size: int = 1024 * 1024
    buffer_size: int = 1024 * 1024
    retries: int = 5
    limit_rate: int | None = None
    lowest_speed: int | None = None
    """--lowest-speed-limit: bytes per second below which, for 30 s, it gives up."""
    max_filesize: int | None = None
    """--max-filesize: a larger file is refused before a byte; a body of unknown length
    is cut off there."""
    checksum: str | None = None
    """ALG:HEX (a bare HEX, from older saved queues, is sha256)."""
    checksum_file: str | None = None
    """A SUMS file holding the finished file's checksum on the line for its name."""
    http: HttpOptions = field(default_factory=HttpOptions)

    def with_connections(self, count: int) -> Options:
        return replace(self, connections=count)


def options_to_json(options: Options) -> dict[str, Any]:
    data = asdict(options)
    data["http"]["headers"] = [list(h) for h in options.http.headers]
    return data


def options_from_json(data: dict[str, Any]) -> Options:
    http = dict(data.get("http", {}))
    http["headers"] = tuple((str(k), str(v)) for k, v in http.get("headers", ()))
    rest = {k: v for k, v in data.items() if k != "http"}
    return Options(**rest, http=HttpOptions(**http))


@dataclass(frozen=True)
class Remote:
    """What the probe learnt; the validators decide whether saved bytes still belong."""

    url: str
    size: int | None
    etag: str | None
    last_modified: str | None
    accept_ranges: bool
    content_disposition: str | None = None
    cross_host: bool = False
    """The probe was redirected to another host: credentials must not follow."""
    digest: str | None = None
    """The server's digest of the whole file (Repr-Digest or Digest), as ALG:HEX."""
    modified_is_strong: bool = False
    """Last-Modified was at least a second older than the answer's Date (RFC 9110 8.8.2.2),
    so it may stand in If-Range when there is no entity tag."""

    def same_file_as(self, other: Remote) -> bool:
        if self.size != other.size:
            return False
        if self.etag and other.etag:
            return same_etag(self.etag, other.etag)
        if self.last_modified and other.last_modified:
            return self.last_modified == other.last_modified
        return self.etag == other.etag and self.last_modified == other.last_modified

    def if_range(self) -> str | None:
        """What RFC 9110 13.1.5 allows in If-Range: a strong entity tag; a date only when
        there is no entity tag and the date is a strong validator; else nothing (every
        206 is checked against the validators anyway)."""
        if self.etag:
            return None if self.etag.startswith("W/") else self.etag
        return self.last_modified if self.modified_is_strong else None


def same_etag(a: str, b: str) -> bool:
    """RFC 9110 8.8.3.2 weak comparison: the same opaque tag, weak or not. Apache marks
    the ETag of a file changed within the last second weak, and the very same tag strong
    a second later: that is one file, not two. (Every 206 is also checked for its size.)"""
    return a.removeprefix("W/") == b.removeprefix("W/")


class ConnectionReason(StrEnum):
    """Why a download uses the connections it does: plain data for any front end."""

    NONE = ""
    GROWING = "growing"
    CEILING = "ceiling"
    REFUSED = "refused"
    NO_GAIN = "no-gain"
    FIXED = "fixed"


_REASON_TEXT = {
    ConnectionReason.GROWING: "trying more",
    ConnectionReason.REFUSED: "the server refused more",
    ConnectionReason.NO_GAIN: "more did not go faster",
}


def connections_note(count: int, reason: str, ceiling: int) -> str:
    """One short sentence for every front end alike: how many connections, and why.
    An unknown reason (from a newer engine) is shown as the count alone."""
    counted = f"{count} connection{'' if count == 1 else 's'}"
    try:
        why = ConnectionReason(reason)
    except ValueError:
        return counted
    if why is ConnectionReason.CEILING:
        return f"{counted}: the most asked for (-t {ceiling})"
    if why is ConnectionReason.FIXED:
        return f"{counted}: fixed (--fixed)"
    text = _REASON_TEXT.get(why)
    return f"{counted}: {text}" if text else counted


PROBATION_WID = 100
"""Worker ids from here up (past any count ``-t`` allows) are mirrors' probation
connections: one per new mirror, on top of the count, until it has been measured."""


@dataclass(frozen=True)
class ConnectionView:
    """One connection's range and its own measured speed (bytes/s)."""

    wid: int
    start: int
    pos: int
    end: int
    rate: float = 0.0

    @property
    def measured_mirror(self) -> int | None:
        """The mirror (1 for the first) this connection is measuring, on top of the
        count; None for one of the count's connections."""
        return self.wid - PROBATION_WID if self.wid >= PROBATION_WID else None


@dataclass(frozen=True)
class SourceView:
    """One server of a file (the URL or a mirror): redacted URL, whether it is still
    used, the bytes it sent in this run, its speed per connection and its connections."""

    url: str
    live: bool
    received: int = 0
    rate: float = 0.0
    connections: int = 0


@dataclass(frozen=True)
class DownloadSnapshot:
    """Everything a front end shows about one running download, frozen at one instant."""

    url: str
    target: str | None
    phase: Phase
    size: int | None
    completed: int
    speed: float
    connections: tuple[ConnectionView, ...]
    blocks: MapSnapshot | None
    retries: int
    message: str
    etag: str | None = None
    last_modified: str | None = None
    connection_target: int = 0
    """The tuner's count (0: not a parallel download)."""
    connection_reason: str = ""
    """A ConnectionReason value: why ``connection_target`` connections."""
    sources: tuple[SourceView, ...] = ()
    """Set only when the file comes from more than one server."""
