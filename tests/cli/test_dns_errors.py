"""Name resolution failures, without sending any DNS query: getaddrinfo is replaced
in-process, so nothing leaves the machine (the HTTP layer itself is not mocked)."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

from rangetui.core.download import Download
from rangetui.core.errors import FatalError
from rangetui.core.types import Options


def _fail_with(monkeypatch: pytest.MonkeyPatch, code: int, text: str) -> list[str]:
    asked: list[str] = []

    def getaddrinfo(host: str, *args: object, **kw: object) -> list[object]:
        asked.append(host)
        raise socket.gaierror(code, text)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


def test_unknown_host_fails_at_once(monkeypatch: pytest.MonkeyPatch, downloads: Path) -> None:
    asked = _fail_with(monkeypatch, socket.EAI_NONAME, "Name or service not known")
    started = time.monotonic()
    with pytest.raises(FatalError, match="host not found"):
        Download("http://no-such-host.test/f.bin", directory=downloads).run(threading.Event())
    assert time.monotonic() - started < 2.0
    assert len(asked) == 1, "a host that does not exist is not asked for again"


def test_temporary_resolver_failure_is_retried(
    monkeypatch: pytest.MonkeyPatch, downloads: Path
) -> None:
    asked = _fail_with(monkeypatch, socket.EAI_AGAIN, "Temporary failure in name resolution")
    with pytest.raises(FatalError, match="host not found"):
        Download(
            "http://flaky-dns.test/f.bin", directory=downloads, options=Options(retries=1)
        ).run(threading.Event())
    assert len(asked) == 2, "one retry after a temporary failure"
