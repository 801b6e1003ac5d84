"""Run one child process and measure it: wall (time.monotonic), CPU and peak RSS (os.wait4).

The fork, exec and ``os.wait4`` happen in bench/spawner.py, a small helper process, so
that the harness's own memory does not leak into the children's ``ru_maxrss`` (see the
docstring there). The rusage covers the child and any descendants it waited for.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
import select
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HASH_CHUNK = 4 * 1024 * 1024
STDERR_TAIL = 400
SPAWNER = Path(__file__).with_name("spawner.py")


@dataclass
class Sample:
    """One run of one case. ``ok`` means exit 0 and every output matched its sha256."""

    wall: float
    user: float
    sys: float
    maxrss_kib: int
    ok: bool
    error: str = ""
    extra: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def cpu(self) -> float:
        return self.user + self.sys


def failed(error: str) -> Sample:
    return Sample(0.0, 0.0, 0.0, 0, ok=False, error=error)


def sha256_file(path: Path) -> str:
    """sha256 of a file, read in 4 MiB chunks into one reused buffer."""
    digest = hashlib.sha256()
    buf = bytearray(HASH_CHUNK)
    view = memoryview(buf)
    with path.open("rb", buffering=0) as f:
        while n := f.readinto(buf):
            digest.update(view[:n])
    return digest.hexdigest()


def tail(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""
    lines = text.splitlines()
    return lines[-1][-STDERR_TAIL:] if lines else ""


class SpawnerError(RuntimeError):
    pass


class Spawner:
    """The helper process; one command at a time: ``launch``, then ``result``."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-S", "-I", str(SPAWNER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self.pid: int | None = None  # the command running now

    def _read(self, timeout: float | None) -> tuple[str, Any] | None:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        if timeout is not None and not select.select([fd], [], [], timeout)[0]:
            return None
        head = self.proc.stdout.read(4)
        if len(head) < 4:
            raise SpawnerError(f"the spawner exited ({self.proc.poll()})")
        frame: tuple[str, Any] = marshal.loads(self.proc.stdout.read(int.from_bytes(head, "big")))
        return frame

    def launch(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        stderr_path: Path | None,
        timeout: float,
        tty: str | None = None,
    ) -> int:
        req = {
            "argv": list(argv),
            "env": dict(env),
            "cwd": str(cwd),
            "stderr": str(stderr_path or os.devnull),
            "tty": tty,
            "timeout": float(timeout),
        }
        data = marshal.dumps(req)
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(len(data).to_bytes(4, "big") + data)
            self.proc.stdin.flush()
        except BrokenPipeError:
            raise SpawnerError(f"the spawner exited ({self.proc.poll()})") from None
        frame = self._read(None)
        assert frame is not None and frame[0] == "pid"
        self.pid = int(frame[1])
        return self.pid

    def result(self, timeout: float | None = None) -> dict[str, Any] | None:
        """The finished command's status and rusage; None if still running after timeout."""
        frame = self._read(timeout)
        if frame is None:
            return None
        assert frame[0] == "done"
        self.pid = None
        done: dict[str, Any] = frame[1]
        return done

    def signal_child(self, signum: int) -> None:
        """Signal the running command's session (its pid is its process group)."""
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signum)

    def close(self) -> None:
        """Ends the helper (it kills a command still running); waits for it."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):  # a broken pipe if it has already gone
                    stream.close()
        self.proc.wait()


def sample_from(done: Mapping[str, Any]) -> Sample:
    code = os.waitstatus_to_exitcode(done["status"])
    s = Sample(done["wall"], done["utime"], done["stime"], done["maxrss"], ok=code == 0)
    if done["timed_out"]:
        s.ok, s.error = False, "timed out"
    elif code != 0:
        s.error = f"exit {code}"
    return s


CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid: int) -> float | None:
    """user+sys seconds of a live process (all its threads), from /proc/PID/stat."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14, 15)


WINDOW_POLL_SECONDS = 0.01


def window_due(out: Path, window: tuple[Path, int], marked: int) -> bool:
    """Whether the CPU is due now: the first file appeared (0), the download is whole (1)."""
    if marked == 0:
        return any(out.iterdir())
    if marked == 1:
        target, size = window
        with contextlib.suppress(OSError):
            return target.stat().st_size == size
    return False


def run_measured(
    spawner: Spawner,
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    stderr_path: Path,
    timeout: float,
    window: tuple[Path, int] | None = None,
) -> Sample:
    """Run ``argv`` to the end; ``ok`` only says the exit status was 0 (outputs unchecked).
    With ``window`` (the file the download ends with, and its size), also the CPU spent
    from the moment anything appears in ``cwd`` to the moment that file is complete:
    ``cpu_window`` in the sample's extra, what a download costs without its start-up."""
    pid = spawner.launch(argv, env=env, cwd=cwd, stderr_path=stderr_path, timeout=timeout)
    marks: list[float] = []
    if window is None:
        done = spawner.result()
    else:
        while (done := spawner.result(WINDOW_POLL_SECONDS)) is None:
            if window_due(cwd, window, len(marks)):
                marks.append(proc_cpu(pid) or 0.0)
    assert done is not None
    sample = sample_from(done)
    if len(marks) == 2:
        sample.extra["cpu_window"] = marks[1] - marks[0]
    if done["timed_out"]:
        sample.error = f"timed out after {timeout:.0f} s"
    elif not sample.ok:
        sample.error = f"{sample.error}: {tail(stderr_path)}".rstrip(": ")
    return sample
