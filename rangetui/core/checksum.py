"""Checksums: parsed up front (a typo fails before the download), checked at the end."""

from __future__ import annotations

import hashlib
import hmac
import os

_HASH_CHUNK = 4 * 1024 * 1024


def sha256_matches(fd: int, expected_hex: str) -> bool:
    """Hash the file through its descriptor with one reused buffer."""
    digest = hashlib.sha256()
    buf = bytearray(_HASH_CHUNK)
    view = memoryview(buf)
    offset = 0
    while True:
        n = os.preadv(fd, [buf], offset)
        if n == 0:
            break
        digest.update(view[:n])
        offset += n
    return hmac.compare_digest(digest.hexdigest(), expected_hex.lower())


def parse_checksum(text: str) -> str:
    """``sha256=HEX`` → HEX, checked, so a typo fails before the download, not after."""
    algo, sep, value = text.partition("=")
    value = value.strip().lower()
    if not sep or algo.strip().lower() != "sha256":
        raise ValueError("--checksum takes sha256=HEX")
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise ValueError("the sha256 checksum must be 64 hexadecimal digits")
    return value
