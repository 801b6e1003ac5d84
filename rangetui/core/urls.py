"""URLs as text: what is plainly not a URL, and a URL safe to print (no userinfo)."""

from __future__ import annotations

from urllib.parse import urlsplit

from rangetui.core.errors import FatalError


def redact(url: str) -> str:
    """The URL without userinfo, for messages and logs; never raises, even on a bad URL."""
    head, sep, rest = url.partition("//")
    if not sep:
        return url
    ends = [i for i in (rest.find(c) for c in "/?#") if i >= 0]
    end = min(ends, default=len(rest))
    netloc = rest[:end]
    if "@" not in netloc:
        return url
    return head + sep + netloc.rpartition("@")[2] + rest[end:]


def check_url(url: str) -> None:
    """Reject what is not an http(s) URL before any network traffic."""
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError:
        raise FatalError(f"not a valid URL: {redact(url)}") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise FatalError(f"not an http or https URL: {redact(url)}")


def host_of(url: str) -> str:
    """host[:port] without credentials, for messages."""
    return urlsplit(url).netloc.rpartition("@")[2] or url


def host_port(url: str) -> str:
    """host:port, lower-case, without credentials, the scheme's port when none is given:
    the unit a server limits connections by."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    return f"{(parts.hostname or '').lower()}:{port}"


def origin_of(url: str) -> str:
    """scheme://host:port: what one socket talks to."""
    try:
        return f"{urlsplit(url).scheme.lower()}://{host_port(url)}"
    except ValueError:
        return url
