"""Checksums: parsed up front (a typo fails before the download), checked at the end.

A checksum travels as ``ALG:HEX`` (a bare HEX, as older saved queues hold, is sha256).
It comes from ``--checksum ALG=HEX``, from a line of a ``sha256sum``-style SUMS file,
or from the server's RFC 9530 ``Repr-Digest`` (or the older ``Digest``) header.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from pathlib import Path

from rangetui.core.errors import FatalError

_HASH_CHUNK = 4 * 1024 * 1024
HEX_LENGTHS = {"md5": 32, "sha1": 40, "sha256": 64, "sha512": 128}
BY_LENGTH = {length: alg for alg, length in HEX_LENGTHS.items()}
HTTP_NAMES = {"sha-512": "sha512", "sha-256": "sha256", "sha": "sha1", "md5": "md5"}
"""Digest algorithm names in HTTP (RFC 9530, RFC 3230) and ours, strongest first."""
_BSD_LINE = re.compile(r"^(MD5|SHA1|SHA256|SHA512) \((.+)\) = ([0-9a-fA-F]+)$")


def split(spec: str) -> tuple[str, str]:
    alg, sep, value = spec.partition(":")
    return (alg, value) if sep else ("sha256", spec)


def file_matches(fd: int, spec: str) -> bool:
    """Hash the file through its descriptor with one reused buffer."""
    alg, expected = split(spec)
    digest = hashlib.new(alg)
    buf = bytearray(_HASH_CHUNK)
    view = memoryview(buf)
    offset = 0
    while n := os.preadv(fd, [buf], offset):
        digest.update(view[:n])
        offset += n
    return hmac.compare_digest(digest.hexdigest(), expected.lower())


def parse_checksum(text: str) -> str:
    """``ALG=HEX`` → ``ALG:HEX``, checked, so a typo fails before the download."""
    alg, sep, value = text.partition("=")
    alg, value = alg.strip().lower(), value.strip().lower()
    if not sep or alg not in HEX_LENGTHS:
        raise ValueError("--checksum takes ALG=HEX, ALG one of md5, sha1, sha256, sha512")
    if len(value) != HEX_LENGTHS[alg] or any(c not in "0123456789abcdef" for c in value):
        raise ValueError(f"a {alg} checksum is {HEX_LENGTHS[alg]} hexadecimal digits")
    return f"{alg}:{value}"


def from_sums_file(path: Path, name: str) -> str | None:
    """The checksum for ``name`` in a SUMS file (GNU ``HEX  NAME`` or ``HEX *NAME``, or
    BSD ``SHA256 (NAME) = HEX``); the algorithm follows from the length of HEX."""
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = line.strip()
        bsd = _BSD_LINE.match(line)
        if bsd:
            value, named = bsd.group(3), bsd.group(2)
        else:
            value, _, rest = line.partition(" ")
            named = rest.strip().removeprefix("*")
        if named in (name, f"./{name}") and len(value) in BY_LENGTH:
            try:
                bytes.fromhex(value)
            except ValueError:
                continue
            return f"{BY_LENGTH[len(value)]}:{value.lower()}"
    return None


def from_http(repr_digest: str | None, digest: str | None) -> str | None:
    """The strongest digest a server gave for the whole file, as ``ALG:HEX``."""
    found: dict[str, str] = {}
    for item in (repr_digest or "").split(","):  # sha-256=:BASE64:
        name, _, value = item.strip().partition("=")
        _keep(found, name, value.strip().strip(":"))
    for item in (digest or "").split(","):  # SHA-256=BASE64 (RFC 3230)
        name, _, value = item.strip().partition("=")
        _keep(found, name, value.strip())
    for alg in HTTP_NAMES.values():
        if alg in found:
            return f"{alg}:{found[alg]}"
    return None


def _keep(found: dict[str, str], name: str, value: str) -> None:
    alg = HTTP_NAMES.get(name.strip().lower())
    if alg is None or alg in found:
        return
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return
    if len(raw) * 2 == HEX_LENGTHS[alg]:
        found[alg] = raw.hex()


def verify(
    fd: int, name: str, given: str | None, sums_file: str | None, server: str | None
) -> None:
    """Every digest there is for the finished file must match; the sentence says which
    one failed. The user's own (``--checksum``, a SUMS file) and the server's."""
    wanted: list[tuple[str, str]] = []
    if given:
        wanted.append(("the", given))
    if sums_file:
        found = _from_sums(Path(sums_file), name)
        wanted.append((f"{Path(sums_file).name}'s", found))
    if server:
        wanted.append(("the server's", server))
    for whose, spec in wanted:
        if not file_matches(fd, spec):
            alg = split(spec)[0]
            raise FatalError(f"{whose} {alg} checksum does not match; the download is corrupt")


def _from_sums(path: Path, name: str) -> str:
    try:
        spec = from_sums_file(path, name)
    except OSError as e:
        raise FatalError(f"cannot read the checksum file {path}: {e.strerror or e}") from None
    if spec is None:
        raise FatalError(f"the checksum file {path} has no line for {name}")
    return spec
