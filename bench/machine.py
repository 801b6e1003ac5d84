"""Where the numbers come from: date, CPU, kernel, memory, tool versions, load."""

from __future__ import annotations

import compileall
import datetime as dt
import importlib.util
import os
import platform
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def first_line(argv: Sequence[str]) -> str:
    try:
        r = subprocess.run(list(argv), capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    lines = (r.stdout + r.stderr).strip().splitlines()
    return lines[0].strip() if lines else "?"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def _fs_type(path: Path) -> str:
    best, kind = "", "?"
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            mount, fstype = line.split()[1:3]
            inside = str(path) == mount or str(path).startswith(mount.rstrip("/") + "/")
            if inside and len(mount) > len(best):
                best, kind = mount, fstype
    except (OSError, ValueError):
        pass
    return kind


def _git_commit() -> str:
    """Read-only: the commit, and whether tracked files differ from it."""
    head = first_line(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    dirty = subprocess.run(
        ["git", "-C", str(REPO), "diff-index", "--quiet", "HEAD", "--"], capture_output=True
    ).returncode
    return f"{head}{' + uncommitted changes' if dirty else ''}"


def machine_info(rangetui: Sequence[str], data_dir: Path) -> dict[str, str]:
    mem = Path("/proc/meminfo").read_text().split("\n", 1)[0].split()[1]
    return {
        "date": dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": _cpu_model(),
        "kernel": platform.release(),
        "memory": f"{int(mem) / 1024 / 1024:.1f} GiB",
        "python": platform.python_version(),
        "nginx": first_line(["nginx", "-v"]),
        "aria2c": first_line(["aria2c", "--version"]),
        "curl": first_line(["curl", "--version"]).split(" (")[0],
        "rangetui": f"{first_line([*rangetui, '--version'])} ({_git_commit()})",
        "data dir": f"{data_dir} ({_fs_type(data_dir)})",
    }


def byte_compile_rangetui() -> str:
    """Compile rangetui's modules as ``pip install`` does. An editable install run with
    PYTHONDONTWRITEBYTECODE set (this sandbox sets it) compiles every module in every
    process instead, about 60 ms per start-up that an installed copy never pays; the
    TUI case pays it twice (the TUI and its engine)."""
    spec = importlib.util.find_spec("rangetui")
    if spec is None or spec.origin is None:
        return "not found: not compiled"
    package = Path(spec.origin).parent
    ok = compileall.compile_dir(str(package), quiet=1)
    return f"{package} ({'byte-compiled, as pip installs it' if ok else 'compile failed'})"


IDLE_ENOUGH = 0.9
"""The machine is quiet when its CPUs were idle this fraction of a short look."""
SETTLE_LOOK_SECONDS = 0.25
SETTLE_MAX_SECONDS = 5.0


def _cpu_times() -> tuple[int, int]:
    """(idle, total) jiffies over all CPUs, from /proc/stat's first line."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return fields[3] + fields[4], sum(fields[:8])


def settle() -> float:
    """Wait until the CPUs are quiet (at most a few seconds); returns the seconds waited.

    What ran just before a case can still be winding down when it starts: a TUI case's
    engine saving and exiting, the kernel freeing a gigabyte of tmpfs, data being hashed.
    Measured in turns, the case right after those was the slow one whichever tool it
    was (swapping the TUI and `get` moved the slowness to `get`), so every case now
    starts on a quiet machine."""
    started = time.monotonic()
    while time.monotonic() - started < SETTLE_MAX_SECONDS:
        idle0, total0 = _cpu_times()
        time.sleep(SETTLE_LOOK_SECONDS)
        idle1, total1 = _cpu_times()
        if total1 > total0 and (idle1 - idle0) / (total1 - total0) >= IDLE_ENOUGH:
            break
    return time.monotonic() - started


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())
