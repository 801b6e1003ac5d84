"""Turning untrusted server and URL input into a local file name that is safe to create.

The name of a download comes from the network (``Content-Disposition`` or the URL),
so it is hostile until proven otherwise: it may try path traversal, hide itself
behind a leading dot, smuggle control or bidi characters into a terminal, or use a
name Windows refuses. Everything here is pure stdlib and never trusts its input.
"""

from __future__ import annotations

import itertools
import os
import re
import stat
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import unquote, unquote_to_bytes, urlsplit

__all__ = [
    "MAX_NAME_BYTES",
    "NAME_BUDGET_BYTES",
    "PART_SUFFIX",
    "choose_name",
    "filename_from_content_disposition",
    "filename_from_url",
    "is_inside",
    "is_part_name",
    "sanitize_filename",
    "unique_path",
]

MAX_NAME_BYTES = 255
"""Common file-name limit of ext4, APFS and NTFS (NTFS counts UTF-16 units, a looser bound)."""

PART_SUFFIX = ".part"
"""Suffix of the work file that sits next to the final name while downloading."""

NAME_BUDGET_BYTES = MAX_NAME_BYTES - len(PART_SUFFIX)
"""Names stay this short so that ``NAME.part`` still fits in a single path component."""

_MAX_EXT_CHARS = 16
_MAX_UNIQUE_TRIES = 10_000
_DEFAULT_FALLBACK = "download"

_BIDI_CONTROLS = frozenset(chr(c) for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)])
_WINDOWS_ILLEGAL = re.compile(r'[<>:"|?*/\\]')
_EDGE_JUNK = re.compile(r"\A[\s.]+|[\s.]+\Z")
_SEPARATORS = re.compile(r"[/\\]")
_WINDOWS_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"{dev}{n}" for dev in ("COM", "LPT") for n in "0123456789¹²³"}
)
_ACCEPTED_CHARSETS = {"utf-8": "utf-8", "iso-8859-1": "latin-1"}


# --------------------------------------------------------------------------- #
# Content-Disposition (RFC 6266, with RFC 8187 extended values)
# --------------------------------------------------------------------------- #


def filename_from_content_disposition(header: str | None) -> str | None:
    """Extract the server's suggested name, preferring ``filename*`` as RFC 6266 asks.

    The result is raw: callers must pass it through :func:`sanitize_filename`.
    Never raises, because the header is attacker-controlled and a bad header
    must only cost us the suggested name, not the download.
    """
    if not header:
        return None
    params = _parse_params(header)
    extended = params.get("filename*")
    if extended is not None:
        decoded = _decode_ext_value(extended)
        if decoded:
            return decoded
    plain = params.get("filename")
    return plain or None


def _parse_params(header: str) -> dict[str, str]:
    """Collect ``name=value`` parameters, keeping the first of any duplicate.

    The disposition type is skipped implicitly (it has no ``=``); a header that
    omits it still yields its parameters, because some servers send exactly that.
    """
    params: dict[str, str] = {}
    for segment in _split_segments(header):
        name, sep, value = segment.partition("=")
        if not sep:
            continue
        key = name.strip().lower()
        if key and key not in params:
            params[key] = _unquote_value(value.strip())
    return params


def _split_segments(header: str) -> Iterator[str]:
    """Split on ``;`` except inside quoted strings, where ``;`` is part of a name."""
    start = 0
    in_quotes = False
    escaped = False
    for index, char in enumerate(header):
        if escaped:
            escaped = False
        elif in_quotes and char == "\\":
            escaped = True
        elif char == '"':
            in_quotes = not in_quotes
        elif char == ";" and not in_quotes:
            yield header[start:index]
            start = index + 1
    yield header[start:]


def _unquote_value(value: str) -> str:
    """Undo quoted-string escaping; unquoted values are taken verbatim up to ``;``.

    Text after a closing quote is dropped, and an unterminated quote runs to the end:
    both are server bugs where keeping what we have beats giving up.
    """
    if not value.startswith('"'):
        return value
    out: list[str] = []
    chars = iter(value[1:])
    for char in chars:
        if char == '"':
            break
        out.append(next(chars, "") if char == "\\" else char)
    return "".join(out)


def _decode_ext_value(value: str) -> str | None:
    """Decode ``charset'lang'pct-encoded``; unknown charsets count as absent (RFC 8187)."""
    parts = value.split("'", 2)
    if len(parts) != 3:
        return None
    charset, _language, encoded = parts
    codec = _ACCEPTED_CHARSETS.get(charset.strip().lower())
    if codec is None:
        return None
    # surrogatepass: a str header may carry lone surrogates; they must not make us raise.
    raw = unquote_to_bytes(encoded.encode("utf-8", "surrogatepass"))
    return raw.decode(codec, errors="replace")


# --------------------------------------------------------------------------- #
# URL
# --------------------------------------------------------------------------- #


def filename_from_url(url: str) -> str | None:
    """Use the last path segment, the name a browser would pick when the server gives none."""
    try:
        path = urlsplit(url).path
    except ValueError:  # e.g. an unbalanced IPv6 bracket in the host
        return None
    segments = [segment for segment in path.split("/") if segment]
    if not segments:
        return None
    return unquote(segments[-1], encoding="utf-8", errors="replace")


# --------------------------------------------------------------------------- #
# Sanitizing
# --------------------------------------------------------------------------- #


def sanitize_filename(name: str, fallback: str = _DEFAULT_FALLBACK) -> str:
    """Make one path component that every major OS accepts and that cannot escape its folder.

    The result is never empty, never ``.``/``..``, never hidden, and leaves room for
    :data:`PART_SUFFIX` within :data:`MAX_NAME_BYTES`.
    """
    cleaned = _clean(name) or _clean(fallback) or _DEFAULT_FALLBACK
    stem, ext = _split_ext(_avoid_reserved(cleaned))
    return _not_a_part_name(_fit(stem, "", ext, NAME_BUDGET_BYTES))


def _not_a_part_name(name: str) -> str:
    """``x.part`` becomes ``x_part``: a download named like another one's work file would
    be renamed over it (or it over us) when either finishes."""
    if is_part_name(name):
        return f"{name[: -len(PART_SUFFIX)]}_{name[-len(PART_SUFFIX) + 1 :]}"
    return name


def is_part_name(name: str) -> bool:
    """Does ``name`` end like a work file (any case: some file systems ignore it)?"""
    return name.lower().endswith(PART_SUFFIX)


def _clean(name: str) -> str:
    """Apply every character-level rule; may return ``""`` so the caller can fall back."""
    last = _SEPARATORS.split(name)[-1]
    visible = "".join(char for char in last if not _is_invisible(char))
    normalised = unicodedata.normalize("NFC", visible)
    portable = _WINDOWS_ILLEGAL.sub("_", normalised)
    return _strip_edges(portable)


def _is_invisible(char: str) -> bool:
    """Controls can rewrite a terminal, bidi overrides and other format characters (zero
    width spaces, BOM) disguise names and extensions, surrogates can't be encoded to a
    file name at all."""
    return char in _BIDI_CONTROLS or unicodedata.category(char) in ("Cc", "Cs", "Cf")


def _strip_edges(name: str) -> str:
    """Leading dots hide files (and make ``..``); Windows silently drops trailing dots/spaces."""
    return _EDGE_JUNK.sub("", name)


def _avoid_reserved(name: str) -> str:
    """Windows maps device names to devices regardless of extension, so defuse them."""
    device = name.split(".", 1)[0].rstrip(" ").upper()
    return f"_{name}" if device in _WINDOWS_RESERVED else name


def _split_ext(name: str) -> tuple[str, str]:
    """Split off the last suffix, but only a short one, so truncation keeps the file type.

    A dot at position 0 is not an extension: it would leave an empty stem.
    """
    dot = name.rfind(".")
    if dot <= 0 or len(name) - dot > _MAX_EXT_CHARS:
        return name, ""
    return name[:dot], name[dot:]


def _fit(stem: str, tag: str, ext: str, limit: int) -> str:
    """Shorten only the stem so that the tag (``" (2)"``) and extension always survive."""
    room = limit - len(tag.encode()) - len(ext.encode())
    short = _truncate_utf8(stem, room)
    if short != stem and not tag and not ext:
        # The cut may have exposed a trailing dot or space that Windows would drop.
        short = _strip_edges(short) or short
    return f"{short}{tag}{ext}"


def _truncate_utf8(text: str, max_bytes: int) -> str:
    """Cut by encoded size, dropping a partial trailing character rather than corrupting it."""
    encoded = text.encode("utf-8")
    if len(encoded) <= max_bytes:
        return text
    return encoded[: max(max_bytes, 0)].decode("utf-8", errors="ignore")


# --------------------------------------------------------------------------- #
# Choosing a destination
# --------------------------------------------------------------------------- #


def choose_name(
    url: str, content_disposition: str | None, fallback: str = _DEFAULT_FALLBACK
) -> str:
    """Prefer what the server says the file is called, then the URL, then the fallback."""
    raw = filename_from_content_disposition(content_disposition) or filename_from_url(url)
    return sanitize_filename(raw or "", fallback)


def unique_path(directory: Path, name: str, taken: Callable[[Path], bool] | None = None) -> Path:
    """Pick a name in ``directory`` that neither overwrites a file nor an in-progress download.

    ``name`` is re-sanitized (a no-op for sanitized names) so the result's parent is
    always exactly ``directory``. Gives up with :class:`FileExistsError` rather than
    looping forever when ``taken`` never says no.
    """
    is_taken = taken if taken is not None else _exists_or_in_progress
    stem, ext = _split_ext(sanitize_filename(name))
    for counter in itertools.count():
        tag = f" ({counter})" if counter else ""
        candidate = directory / _fit(stem, tag, ext, NAME_BUDGET_BYTES)
        if not is_part_name(candidate.name) and not is_taken(candidate):
            return candidate
        if counter >= _MAX_UNIQUE_TRIES:
            break
    raise FileExistsError(f"no free name for {name!r} in {directory}")


def _exists_or_in_progress(path: Path) -> bool:
    """A ``.part`` file is another download's future output, so its name is taken too.

    ``lexists`` so that a dangling symlink is never followed and overwritten.
    """
    return os.path.lexists(path) or os.path.lexists(f"{path}{PART_SUFFIX}")


def is_inside(directory: Path, path: Path) -> bool:
    """Final guard before writing: resolving defeats ``..`` and symlinks missed upstream.

    A plain name right in ``directory`` that is no link is inside whatever the directory
    resolves to; only then is resolving both (a stat per level, twice) skipped.
    """
    if path.parent == directory and path.name not in ("", ".", ".."):
        try:
            if not stat.S_ISLNK(os.lstat(path).st_mode):
                return True
        except FileNotFoundError:
            return True
        except OSError:
            pass  # resolve says, or refuses
    try:
        return path.resolve().is_relative_to(directory.resolve())
    except (OSError, RuntimeError, ValueError):
        return False
