"""The flags `get` and the TUI share, their checks, and the Options they make."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from rangetui.core.checksum import parse_checksum
from rangetui.core.text import terminal_safe
from rangetui.core.types import HttpOptions, Options
from rangetui.core.units import parse_size

MAX_CONNECTIONS = 64
MAX_BUFFER = 64 * 1024 * 1024


class Parser(argparse.ArgumentParser):
    """Usage errors in one line, not a wall of usage text."""

    def error(self, message: str) -> NoReturn:
        """The message may quote a URL from the command line: shown terminal-safe."""
        self.exit(2, f"{self.prog}: error: {terminal_safe(message)} (see --help)\n")


def _size(text: str) -> int:
    try:
        value = parse_size(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than zero: {text}")
    return value


def _buffer(text: str) -> int:
    value = _size(text)
    if value > MAX_BUFFER:
        raise argparse.ArgumentTypeError("must be at most 64M (it is allocated per connection)")
    return value


def _readable_file(text: str) -> Path:
    path = Path(text).expanduser()
    if not path.is_file() or not os.access(path, os.R_OK):
        raise argparse.ArgumentTypeError(f"no readable file at {text}")
    return path


def _directory(text: str) -> Path:
    return Path(text).expanduser()


def _connections(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_CONNECTIONS:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to {MAX_CONNECTIONS}")
    return int(text)


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"must be a whole number: {text}")
    return int(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds: {text}") from None
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError("must be between 0 and 3600 seconds")
    return value


def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    name = name.strip()
    if not sep or not name or any(c in name for c in " \t\r\n") or "\n" in value or "\r" in value:
        raise argparse.ArgumentTypeError(f"a header looks like 'Name: value', not {text!r}")
    return name, value.strip()


def _checksum(text: str) -> str:
    try:
        return parse_checksum(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_download_flags(parser: argparse.ArgumentParser) -> None:
    """The flags shared by `get` and by the TUI's `rangetui URL…`."""
    parser.add_argument("urls", nargs="*", metavar="URL", help="http or https URLs")
    parser.add_argument("-i", "--input-file", type=Path, help="read URLs from FILE (- for stdin)")
    parser.add_argument("-o", "--output", type=Path, help="save as OUT (one URL only)")
    parser.add_argument(
        "--mirror",
        action="append",
        default=[],
        metavar="URL",
        help="another server of the same file (repeatable; one URL only)",
    )
    parser.add_argument("-d", "--dir", type=_directory, default=Path("."), help="save into DIR")
    parser.add_argument(
        "-t",
        "--threads",
        type=_connections,
        default=8,
        help="the most connections per file (default 8); fewer while more do not go faster",
    )
    parser.add_argument(
        "--fixed", action="store_true", help="use exactly -t connections: no adaptive count"
    )
    parser.add_argument(
        "-s",
        "--block-size",
        type=_size,
        default=1024 * 1024,
        help="block size: the smallest range a connection is given (default 1M)",
    )
    parser.add_argument(
        "-b",
        "--buffer-size",
        type=_buffer,
        default=1024 * 1024,
        help="read buffer per connection (default 1M)",
    )
    parser.add_argument(
        "--checksum",
        type=_checksum,
        metavar="ALG=HEX",
        help="verify the finished file (md5, sha1, sha256, sha512)",
    )
    parser.add_argument(
        "--checksum-file",
        type=_readable_file,
        metavar="SUMS",
        help="verify against the line for the file's name in a sha256sum-style file",
    )
    parser.add_argument(
        "--header",
        type=_header,
        action="append",
        default=[],
        metavar="'K: V'",
        help="extra request header (repeatable)",
    )
    parser.add_argument(
        "--limit-rate", type=_size, metavar="RATE", help="bytes per second for each file, e.g. 2M"
    )
    parser.add_argument(
        "--lowest-speed-limit",
        type=_size,
        metavar="RATE",
        help="give up on a file slower than RATE for 30 s (as aria2c; progress is kept)",
    )
    parser.add_argument(
        "--max-filesize",
        type=_size,
        metavar="SIZE",
        help="refuse a file larger than SIZE, and stop a body of unknown length there (as curl)",
    )
    parser.add_argument(
        "--retries", type=_count, default=5, help="attempts per range before giving up (default 5)"
    )
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=15.0,
        help="seconds without data before a connection counts as stalled",
    )
    parser.add_argument(
        "--ca-bundle", type=_readable_file, help="trust the certificates in this file"
    )
    parser.add_argument(
        "--insecure", action="store_true", help="do not verify TLS certificates (unsafe)"
    )
    add_network_flags(parser)


def add_network_flags(parser: argparse.ArgumentParser) -> None:
    """What curl, wget and aria2 users bring: a proxy, cookies, netrc, UA, referer."""
    parser.add_argument("--proxy", type=_proxy, metavar="URL", help="proxy for http and https")
    parser.add_argument("--no-proxy", metavar="HOSTS", help="hosts reached without the proxy")
    parser.add_argument(
        "--load-cookies", type=_cookies, metavar="FILE", help="a Netscape cookies.txt"
    )
    parser.add_argument(
        "--netrc-file", type=_netrc, metavar="FILE", help="credentials per host (not ~/.netrc)"
    )
    parser.add_argument("--user-agent", metavar="UA", help="the User-Agent header to send")
    parser.add_argument("--referer", metavar="URL", help="the Referer header to send")


def _proxy(text: str) -> str:
    if "://" not in text:
        text = "http://" + text
    if text.split("://", 1)[0] not in ("http", "https", "socks5", "socks5h"):
        raise argparse.ArgumentTypeError(f"a proxy is http://HOST:PORT, not {text!r}")
    return text


def _cookies(text: str) -> str:
    from rangetui.core.http.session import load_cookies  # requests only when asked for

    return _parsed_file(text, load_cookies)


def _netrc(text: str) -> str:
    from rangetui.core.http.session import NetrcAuth

    return _parsed_file(text, NetrcAuth)


def _parsed_file(text: str, parse: Callable[[str], object]) -> str:
    """A readable file that ``parse`` accepts (it raises ValueError with one sentence),
    checked before any request; its absolute path, as a job keeps it."""
    path = str(_readable_file(text).absolute())
    try:
        parse(path)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return path


def add_per_host_flag(parser: argparse.ArgumentParser, default: int | None = 16) -> None:
    parser.add_argument(
        "--max-per-host",
        type=_connections,
        default=default,
        metavar="N",
        help="connections to one host across every download at once (default 16)",
    )


def options_from(args: argparse.Namespace) -> Options:
    verify: bool | str = True
    if args.insecure:
        verify = False
    elif args.ca_bundle is not None:
        verify = str(args.ca_bundle)
    return Options(
        connections=args.threads,
        fixed=args.fixed,
        block_size=args.block_size,
        buffer_size=args.buffer_size,
        retries=args.retries,
        limit_rate=args.limit_rate,
        lowest_speed=args.lowest_speed_limit,
        max_filesize=args.max_filesize,
        checksum=args.checksum,
        checksum_file=str(args.checksum_file.absolute()) if args.checksum_file else None,
        http=HttpOptions(
            headers=tuple(args.header) + _named_headers(args),
            timeout=args.timeout,
            verify=verify,
            proxy=args.proxy,
            no_proxy=args.no_proxy,
            cookies_file=args.load_cookies,
            netrc_file=args.netrc_file,
        ),
    )


def _named_headers(args: argparse.Namespace) -> tuple[tuple[str, str], ...]:
    named = (("User-Agent", args.user_agent), ("Referer", args.referer))
    return tuple((name, value) for name, value in named if value)
