"""A splice pipe serves the next stream only when it is empty: bytes left in a pipe by
a failed move would otherwise land in another download's file."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from rangetui.core.http import splice as splice_module
from rangetui.core.http.splice import Splice


@pytest.fixture(autouse=True)
def own_spares(monkeypatch: pytest.MonkeyPatch) -> None:
    """The spares are the process's: other tests' download threads must not take ours."""
    monkeypatch.setattr(splice_module, "_spare", [])


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    a.settimeout(5)
    yield a, b
    a.close()
    b.close()


def _send_and_move(peer: socket.socket, splice: Splice, path: Path, data: bytes) -> None:
    """The peer sends ``data``; it must arrive whole in the new file at ``path``."""
    peer.sendall(data)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        assert splice.move(fd, 0, len(data)) == len(data)
    finally:
        os.close(fd)


def test_a_drained_pipe_serves_the_next_stream(
    pair: tuple[socket.socket, socket.socket], tmp_path: Path
) -> None:
    sock, peer = pair
    first = Splice(sock)
    pipe = _identity(first)
    _send_and_move(peer, first, tmp_path / "one", b"one")
    first.close()
    second = Splice(sock)
    assert _identity(second) == pipe  # the same pipe, not a new one at the same numbers
    _send_and_move(peer, second, tmp_path / "two", b"two")
    second.close()
    assert (tmp_path / "two").read_bytes() == b"two"


def test_a_pipe_left_holding_bytes_is_closed_not_reused(
    pair: tuple[socket.socket, socket.socket], tmp_path: Path
) -> None:
    sock, peer = pair
    broken = Splice(sock)
    pipe = _identity(broken)
    peer.sendall(b"stale bytes")
    read_only = os.open(_touch(tmp_path / "ro"), os.O_RDONLY)
    try:
        with pytest.raises(OSError):  # into the pipe, then refused by the file
            broken.move(read_only, 0, 11)
    finally:
        os.close(read_only)
    broken.close()
    assert splice_module._spare == []  # closed, not kept
    fresh = Splice(sock)
    assert _identity(fresh) != pipe
    _send_and_move(peer, fresh, tmp_path / "out", b"fresh")
    fresh.close()
    assert (tmp_path / "out").read_bytes() == b"fresh"


def test_a_forked_child_keeps_no_spare_of_its_parent(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    sock, _ = pair
    Splice(sock).close()
    assert len(splice_module._spare) == 1
    pid = os.fork()
    if pid == 0:
        os._exit(0 if splice_module._spare == [] else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def _identity(splice: Splice) -> tuple[int, int]:
    return os.fstat(splice.r).st_ino, os.fstat(splice.w).st_ino


def _touch(path: Path) -> Path:
    path.write_bytes(b"")
    return path
