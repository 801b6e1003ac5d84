"""Exceptions the core raises; each message is one sentence a user can act on."""

from __future__ import annotations


class DownloadError(Exception):
    """Base class: ``str(error)`` is shown to the user as it is."""


class FatalError(DownloadError):
    """Retrying cannot help: a 404, a bad URL, a full disk, a checksum mismatch."""


class DiskError(FatalError):
    """The file cannot be written: no server is to blame, so no mirror can help."""

    def __init__(self, message: str, full: bool = False) -> None:
        super().__init__(message)
        self.full = full
        """No space left: freeing some and running the command again resumes."""


class Refused(FatalError):
    """401/403/404/410: final for this URL, but a redirect target may just have expired."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class RetriableError(DownloadError):
    """A dropped or stalled connection or a 5xx: try the range again after a pause."""

    def __init__(
        self, message: str, retry_after: float | None = None, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status

    @property
    def busy(self) -> bool:
        """429/503: the server may just be refusing one connection too many."""
        return self.status in (429, 503)


class Garbled(FatalError):
    """An answer http.client cannot parse (a header line over 64 KiB): final, unless it
    came on a kept-alive connection, where it may be the tail of a hostile last answer."""


class Unreachable(RetriableError):
    """No answer at all (refused, reset, closed before the status line): on a kept-alive
    connection, most likely the server closed it while it was idle."""


class RemoteChanged(DownloadError):
    """The server now has another version of the file; never splice two versions."""


class RangeNotSupported(DownloadError):
    """The server answered a Range request with the whole file."""


class Cancelled(DownloadError):
    """The user paused, quit or interrupted; state is saved."""


def failure_message(error: BaseException) -> str:
    """One sentence for the user, whatever ended the download."""
    if isinstance(error, DownloadError):
        return str(error)
    if isinstance(error, MemoryError):
        return "out of memory"
    return f"internal error: {type(error).__name__}: {error}"
