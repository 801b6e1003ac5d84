"""A small process that forks, execs and ``os.wait4``s every measured command.

Why a separate process: on Linux a child's ``ru_maxrss`` can never be lower than the
resident size of the process that forked it (exec keeps the old address space's high
water mark), so a command forked from the harness, which holds tens of MiB, would
report at least that much. Forked from this process (about 6 MiB resident, run as
``python -S -I``, importing only built-in modules) the floor is low enough for curl.

Protocol on stdin/stdout, frames of ``marshal`` data with a 4-byte length:
request ``{"argv", "env", "cwd", "stderr", "tty", "timeout"}``; replies ``("pid", pid)``
at once, then ``("done", {...})`` with status, utime, stime, maxrss (KiB), wall, timed_out.
"""

from __future__ import annotations

import marshal
import os
import signal
import sys
import time

TYPE_CHECKING = False  # not imported from typing: that import alone costs resident memory
if TYPE_CHECKING:
    from typing import Any

child = 0
timed_out = False


def read_frame() -> dict[str, Any] | None:
    head = sys.stdin.buffer.read(4)
    if len(head) < 4:
        return None
    size = int.from_bytes(head, "big")
    req: dict[str, Any] = marshal.loads(sys.stdin.buffer.read(size))
    return req


def write_frame(obj: tuple[str, Any]) -> None:
    data = marshal.dumps(obj)
    sys.stdout.buffer.write(len(data).to_bytes(4, "big") + data)
    sys.stdout.buffer.flush()


def kill_child() -> None:
    if child:
        try:  # noqa: SIM105 (contextlib would be one more import before every fork)
            os.killpg(child, signal.SIGKILL)  # its own session: the command and its helpers
        except ProcessLookupError:
            pass


def on_alarm(signum: int, frame: object) -> None:
    global timed_out
    timed_out = True
    kill_child()


def on_stop(signum: int, frame: object) -> None:
    raise SystemExit(1)


def exec_child(req: dict[str, Any]) -> None:
    """In the forked child: own session, stdio, cwd, then exec. Never returns."""
    try:
        os.setsid()
        if req["tty"]:
            fd = os.open(req["tty"], os.O_RDWR)  # session leader opens a tty: it becomes ours
            out = err = fd
            inp = fd
        else:
            inp = out = os.open(os.devnull, os.O_RDWR)
            err = os.open(req["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(inp, 0)
        os.dup2(out, 1)
        os.dup2(err, 2)
        os.chdir(req["cwd"])
        os.execvpe(req["argv"][0], req["argv"], req["env"])
    except BaseException as e:
        os.write(2, f"spawner: cannot run {req['argv'][0]}: {e}\n".encode())
    os._exit(127)


def run(req: dict[str, Any]) -> None:
    global child, timed_out
    timed_out = False
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        exec_child(req)
    child = pid
    write_frame(("pid", pid))
    signal.setitimer(signal.ITIMER_REAL, req["timeout"])
    try:
        _, status, ru = os.wait4(pid, 0)  # retried after SIGALRM kills the child (PEP 475)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    wall = time.monotonic() - start
    child = 0
    write_frame(
        (
            "done",
            {
                "status": status,
                "utime": ru.ru_utime,
                "stime": ru.ru_stime,
                "maxrss": ru.ru_maxrss,
                "wall": wall,
                "timed_out": timed_out,
            },
        )
    )


def main() -> None:
    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGTERM, on_stop)
    try:
        while (req := read_frame()) is not None:
            run(req)
    finally:
        if child:
            kill_child()
            os.waitpid(child, 0)


if __name__ == "__main__":
    main()
