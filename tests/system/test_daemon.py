"""The background engine between real processes: `add`, `ls`, `pause`/`resume`/`rm`,
`stop`, kill -9, a hung engine, another protocol version, another user's state dir.

Every command here is a real `python -m rangetui …` process, the engine a real detached
process started by the first of them, the server the fault server on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_helpers import MiB, assert_saved, part_of, wait_for
from tests.conftest import payload
from tests.daemon_helpers import (
    add,
    engine_pid,
    gone,
    job_in,
    kill_engine,
    ls,
    rangetui,
    wait_status,
)
from tests.faultserver import FaultServer

CONTRACT = {"id", "name", "status", "size", "completed", "speed", "connections", "target"}
CONTRACT |= {"error", "url"}
STATUSES = {"queued", "probing", "downloading", "verifying", "paused", "done", "failed"}


def test_add_queues_in_a_new_engine_and_ls_follows_it_to_done(
    server: FaultServer, downloads: Path, state_dir: Path
) -> None:
    first, second = payload(3 * MiB, seed=1), payload(2 * MiB, seed=2)
    urls = [server.add("/one.bin", first), server.add("/two.bin", second)]
    result = rangetui("add", *urls, "-d", downloads)
    assert result.code == 0, result.describe()
    lines = result.stdout.splitlines()
    assert [line.split()[1] for line in lines] == ["one.bin", "two.bin"], result.stdout
    ids = [line.split()[0] for line in lines]
    for job_id in ids:
        wait_status(state_dir, job_id, "done")
    assert_saved(downloads / "one.bin", first)
    assert_saved(downloads / "two.bin", second)
    table = rangetui("ls")
    assert table.code == 0 and all(len(line) <= 80 for line in table.stdout.splitlines())
    assert "one.bin" in table.stdout and "done" in table.stdout


def test_add_into_a_missing_dir_makes_it_and_a_bad_one_is_one_error(
    server: FaultServer, downloads: Path, state_dir: Path
) -> None:
    """As `get -d` (and aria2c -d): a new directory is made, parents too; one that
    cannot be is refused before anything is queued."""
    data = payload(200_000, seed=7)
    url = server.add("/made.bin", data)
    where = downloads / "new" / "deeper"
    (job_id,) = add(url, "-d", where)
    wait_status(state_dir, job_id, "done")
    assert_saved(where / "made.bin", data)
    (downloads / "plain").write_bytes(b"a file, not a directory")
    refused = rangetui("add", url, "-d", downloads / "plain" / "sub")
    assert refused.code != 0, refused.describe()
    assert "cannot create the directory" in refused.stderr, refused.describe()
    assert len(ls(state_dir)) == 1, "nothing more was queued"


def test_ls_json_has_the_contract_fields_and_never_a_password(
    server: FaultServer, downloads: Path, state_dir: Path
) -> None:
    url = server.add("/slow.bin", payload(4 * MiB), rate=256 * 1024)
    secret = url.replace("http://", "http://alice:s3cret@")
    [job_id] = add(secret, "-d", downloads, "-t", "2")
    job = wait_status(state_dir, job_id, "downloading")
    assert set(job) >= CONTRACT, sorted(CONTRACT - set(job))
    assert job["status"] in STATUSES and job["size"] == 4 * MiB
    assert job["url"] == url and job["error"] is None
    wait_for(lambda: job_in(state_dir, job_id)["completed"] > 0, 20, "progress")
    listing = rangetui("ls", "--json").stdout + rangetui("ls").stdout
    assert "s3cret" not in listing and "alice" not in listing


def test_pause_resume_and_rm_by_id_prefix_from_other_shells(
    server: FaultServer, downloads: Path, state_dir: Path
) -> None:
    data = payload(6 * MiB, seed=5)
    url = server.add("/p.bin", data, rate=512 * 1024)
    [job_id] = add(url, "-d", downloads, "-t", "2")
    wait_status(state_dir, job_id, "downloading")
    paused = rangetui("pause", job_id[:5])
    assert paused.code == 0 and job_id in paused.stdout, paused.describe()
    wait_status(state_dir, job_id, "paused")
    assert server.wait_idle("/p.bin")
    sent = server.bytes_sent("/p.bin")
    time.sleep(0.5)
    assert server.bytes_sent("/p.bin") == sent, "bytes still flow after pause"
    assert rangetui("resume", "--all").code == 0
    wait_status(state_dir, job_id, "downloading", "done")
    removed = rangetui("rm", "--delete", job_id)
    assert removed.code == 0, removed.describe()
    wait_for(lambda: not ls(state_dir), 10, "the job to leave the queue")
    wait_for(lambda: not part_of(downloads / "p.bin").exists(), 10, "the .part to go")
    unknown = rangetui("pause", "nosuchid")
    assert unknown.code == 1 and unknown.lines == ["rangetui: error: no job with id nosuchid"]


def test_stop_saves_running_jobs_and_the_next_start_resumes_them(
    server: FaultServer, downloads: Path, state_dir: Path
) -> None:
    data = payload(8 * MiB, seed=7)
    url = server.add("/s.bin", data, rate=MiB)
    [job_id] = add(url, "-d", downloads, "-t", "4")
    wait_for(lambda: job_in(state_dir, job_id)["completed"] >= MiB, 20, "a MiB on disk")
    pid = engine_pid(state_dir)
    stopped = rangetui("stop")
    assert stopped.code == 0 and gone(pid), stopped.describe()
    saved = json.loads((state_dir / "queue.json").read_text())["data"]["jobs"]
    assert [j["status"] for j in saved] == ["queued"], saved
    assert not (state_dir / "engine.sock").exists()
    server.resource("/s.bin").rate = None
    wait_status(state_dir, job_id, "done")  # `ls` started a new engine, which resumed it
    assert engine_pid(state_dir) != pid
    assert_saved(downloads / "s.bin", data)
    assert server.bytes_sent("/s.bin") <= len(data) + 8 * MiB // 4, "refetched saved bytes"
    again = rangetui("stop")
    assert again.code == 0 and rangetui("stop").lines == ["rangetui: no engine is running"]


def test_kill_9_of_the_engine_leaves_a_stale_socket_that_the_next_ls_replaces(
    server: FaultServer, downloads: Path, state_dir: Path
) -> None:
    data = payload(8 * MiB, seed=9)
    url = server.add("/k.bin", data, rate=MiB)
    [job_id] = add(url, "-d", downloads, "-t", "4")
    wait_for(lambda: job_in(state_dir, job_id)["completed"] >= 2 * MiB, 20, "2 MiB on disk")
    time.sleep(1.2)  # past a checkpoint, so that the resume has something to keep
    old = kill_engine(state_dir)
    assert (state_dir / "engine.sock").exists(), "kill -9 leaves the socket behind"
    server.resource("/k.bin").rate = None
    wait_status(state_dir, job_id, "done")
    assert engine_pid(state_dir) != old
    assert_saved(downloads / "k.bin", data)
    assert server.bytes_sent("/k.bin") < 2 * len(data), "the resume started over"


def test_a_hung_engine_is_reported_in_one_line_within_seconds(
    downloads: Path, state_dir: Path
) -> None:
    assert ls(state_dir) == []
    pid = engine_pid(state_dir)
    os.kill(pid, signal.SIGSTOP)
    try:
        result = rangetui("ls", timeout=15)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert result.code == 1 and len(result.lines) == 1, result.describe()
    assert f"pid {pid}" in result.stderr and "did not answer" in result.stderr
    assert result.seconds < 10, "a hung engine must never hang its clients"
    assert ls(state_dir) == []


@contextlib.contextmanager
def fake_engine(state: Path, version: int) -> Iterator[None]:
    """A socket at the engine's place that answers like an engine of another protocol."""
    state.mkdir(mode=0o700, exist_ok=True)
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(state / "engine.sock"))
    server.listen()

    def answer() -> None:
        with contextlib.suppress(OSError):
            conn, _ = server.accept()
            with conn:
                conn.recv(4096)
                reply = {"ok": True, "v": version, "pid": 1, "release": "9.9"}
                conn.sendall(json.dumps(reply).encode() + b"\n")
                conn.recv(4096)

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.close()
        thread.join(5)


def test_an_engine_of_another_version_is_named_with_what_to_do(state_dir: Path) -> None:
    if len(str(state_dir / "engine.sock")) > 100:
        pytest.skip("the test's state dir path is too long to bind directly")
    with fake_engine(state_dir, version=999):
        result = rangetui("ls")
    assert result.code == 1 and len(result.lines) == 1, result.describe()
    assert "rangetui 9.9" in result.stderr and "rangetui stop" in result.stderr


def test_a_state_dir_of_another_user_is_refused(downloads: Path, state_dir: Path) -> None:
    state_dir.mkdir(mode=0o700)
    os.chown(state_dir, 65534, 65534)
    result = rangetui("ls")
    assert result.code == 1 and len(result.lines) == 1, result.describe()
    assert "belongs to uid 65534" in result.stderr
    assert not (state_dir / "engine.sock").exists()


def test_a_socket_of_another_user_is_refused(state_dir: Path) -> None:
    if len(str(state_dir / "engine.sock")) > 100:
        pytest.skip("the test's state dir path is too long to bind directly")
    state_dir.mkdir(mode=0o700)
    planted = socket.socket(socket.AF_UNIX)
    planted.bind(str(state_dir / "engine.sock"))
    os.chown(state_dir / "engine.sock", 65534, 65534)
    try:
        result = rangetui("ls")
    finally:
        planted.close()
    assert result.code == 1 and "belongs to uid 65534" in result.stderr, result.describe()


AS_NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
NOBODY_HELLO = """
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
print(s.makefile().readline())  # a refused peer is told at once, before it asks anything
"""


@pytest.mark.skipif(os.getuid() != 0 or not shutil.which("setpriv"), reason="needs root")
def test_the_engine_answers_no_other_uid(tmp_path: Path) -> None:
    """Even with the socket opened up by mistake, another user is turned away."""
    state = Path("/tmp") / f"rangetui-peer-{os.getpid()}"
    shutil.rmtree(state, ignore_errors=True)
    env_state = {"RANGETUI_STATE_DIR": str(state)}
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "rangetui", "ls"],
            env={**os.environ, **env_state},
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert proc.returncode == 0, proc.stderr
        os.chmod(state, 0o711)
        os.chmod(state / "engine.sock", 0o666)
        hello = subprocess.run(
            [*AS_NOBODY, "/usr/bin/python3", "-I", "-c", NOBODY_HELLO, str(state / "engine.sock")],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert hello.returncode == 0, hello.stderr
        reply = json.loads(hello.stdout)
        assert reply["ok"] is False and "only the user" in reply["error"], reply
    finally:
        with contextlib.suppress(OSError):
            os.chmod(state, 0o700)
        from tests.conftest import stop_engine

        stop_engine(state)
        shutil.rmtree(state, ignore_errors=True)


def test_get_never_writes_the_part_the_engine_writes(
    server: FaultServer, downloads: Path, state_dir: Path
) -> None:
    data = payload(8 * MiB, seed=11)
    url = server.add("/g.bin", data, rate=512 * 1024)
    out = downloads / "g.bin"
    [job_id] = add(url, "-o", out, "-t", "2")
    wait_status(state_dir, job_id, "downloading")
    wait_for(lambda: part_of(out).exists(), 10, "the engine's .part")
    result = rangetui("get", url, "-o", out, "-q")
    assert result.code == 1 and len(result.lines) == 1, result.describe()
    assert "already downloading" in result.stderr
