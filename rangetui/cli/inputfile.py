"""`-i FILE` as aria2 reads it: one file per line, its URL then its mirrors separated by
tabs; indented lines after it carry its own options (`dir=`, `out=`, `checksum=`); `#`
starts a comment; `-` is stdin. `--mirror` adds servers to the one URL of a command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from rangetui.core.checksum import parse_checksum
from rangetui.core.errors import DownloadError
from rangetui.core.types import Options
from rangetui.core.urls import check_url, redact

OPTIONS = ("dir", "out", "checksum")


class InputError(Exception):
    """One sentence: the file, the line, what is wrong."""


@dataclass(frozen=True)
class Entry:
    url: str
    directory: Path | None = None
    output: Path | None = None
    checksum: str | None = None
    mirrors: tuple[str, ...] = ()
    """Other servers of the same file: the line's other URLs, or ``--mirror``."""

    def where(self, args: argparse.Namespace) -> tuple[Path, Path | None]:
        """The entry's own dir and out, else the command line's."""
        output = self.output if self.output is not None else args.output
        return self.directory or args.dir, output

    def options(self, options: Options) -> Options:
        return replace(options, checksum=self.checksum) if self.checksum else options


def read_entries(args: argparse.Namespace) -> list[Entry]:
    """URLs from the command line, then those of ``-i``."""
    entries = [Entry(url) for url in args.urls]
    if args.input_file is None:
        return entries
    source = str(args.input_file)
    if source == "-":
        text = sys.stdin.read()
    else:
        try:
            text = args.input_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise InputError(f"cannot read {source}: {e}") from None
    return entries + parse(text, source)


def parse(text: str, source: str) -> list[Entry]:
    entries: list[Entry] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0] in " \t":
            if not entries:
                raise InputError(f"{source} line {number}: an option before any URL")
            entries[-1] = _with_option(entries[-1], line.strip(), f"{source} line {number}")
        else:
            urls = [u.strip() for u in line.split("\t") if u.strip()]
            entries.append(Entry(urls[0], mirrors=tuple(urls[1:])))
    return entries


def _with_option(entry: Entry, text: str, where: str) -> Entry:
    key, sep, value = text.partition("=")
    key, value = key.strip().lower(), value.strip()
    if not sep or key not in OPTIONS or not value:
        raise InputError(f"{where}: takes {', '.join(o + '=' for o in OPTIONS)}, not {text!r}")
    if key == "dir":
        return replace(entry, directory=Path(value).expanduser())
    if key == "out":
        return replace(entry, output=Path(value))
    try:  # aria2 writes checksum=sha-256=HEX
        spec = parse_checksum(value.replace("sha-", "sha", 1))
    except ValueError as e:
        raise InputError(f"{where}: {e}") from None
    return replace(entry, checksum=spec)


def entries_or_exit(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[Entry]:
    try:
        entries = read_entries(args)
    except InputError as e:
        parser.error(str(e))
    if args.mirror and len(entries) != 1:
        parser.error(
            "--mirror adds servers of one file: give exactly one URL (for several files,"
            " put each file's mirrors on its -i line, after a tab)"
        )
    if args.mirror:
        entries = [replace(entries[0], mirrors=(*entries[0].mirrors, *args.mirror))]
    for entry in entries:
        for mirror in entry.mirrors:
            try:
                check_url(mirror)
            except DownloadError as e:
                parser.error(f"mirror of {redact(entry.url)}: {e}")
    return entries


def make_directories(directories: Iterable[Path]) -> str | None:
    """-d DIR (and an -i line's dir) made when missing, parents too, as aria2c and
    wget -P do: one sentence if it cannot be, before any request, not one per URL."""
    for directory in dict.fromkeys(d.expanduser() for d in directories):
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            return f"cannot create the directory {directory}: {e.strerror or e}"
    return None
