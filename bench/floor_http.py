"""rangetui's HTTP layer alone, as a floor for `many-small`: python floor_http.py LIST DIR -j N

Each URL of LIST is fetched the way a download's first request is (`probe`: one
ranged GET, its body spliced into the file), by N threads each with its own session,
into DIR under the URL's last path segment. Nothing else a download does happens:
no name choice, no .part, no state files, no engine, no retries. What this costs is
what requests and our reading of the body cost; the rest of `rangetui get -j N` is
the difference. Outputs are checked by the bench like any tool's.
"""

from __future__ import annotations

import argparse
import os
import threading
from pathlib import Path
from urllib.parse import urlsplit

from rangetui.core.http.probe import probe
from rangetui.core.http.session import new_session
from rangetui.core.types import HttpOptions, Options


def fetch_all(urls: list[str], out: Path, jobs: int) -> None:
    todo = list(reversed(urls))
    lock = threading.Lock()
    failures: list[BaseException] = []

    def take() -> str | None:
        with lock:
            return todo.pop() if todo else None

    def work() -> None:
        http = HttpOptions()
        session = new_session(http)
        block = Options().block_size
        try:
            while (url := take()) is not None:
                _fetch(session, http, url, out / Path(urlsplit(url).path).name, block)
        except BaseException as e:
            failures.append(e)

    threads = [threading.Thread(target=work) for _ in range(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise SystemExit(f"floor_http: {failures[0]}")


def _fetch(session: object, http: HttpOptions, url: str, path: Path, block: int) -> None:
    remote, stream = probe(session, url, http, block)  # type: ignore[arg-type]
    if stream is None or remote.size is None or remote.size > block:
        raise SystemExit(f"floor_http: {url} is not a one-block file; this floor is for those")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        done = 0
        while done < remote.size:
            moved = stream.splice_into(fd, done, remote.size - done)
            if moved is None:
                buf = memoryview(bytearray(remote.size - done))
                moved = stream.readinto(buf)
                os.pwrite(fd, buf[:moved], done)
            if not moved:
                raise SystemExit(f"floor_http: {url} ended early")
            done += moved
    finally:
        os.close(fd)
        stream.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("list")
    parser.add_argument("dir", type=Path)
    parser.add_argument("-j", type=int, default=8)
    args = parser.parse_args()
    urls = [line.strip() for line in Path(args.list).read_text().splitlines() if line.strip()]
    fetch_all(urls, args.dir, args.j)


if __name__ == "__main__":
    main()
