"""Run a command, then write "PEAK_RSS_KIB WAIT_STATUS" to a file: ``peak_rss.py OUT ARGV...``.

Why a middleman: on Linux a child's ``ru_maxrss`` is never below the resident size of
the process it was forked from (exec keeps the old address space's high-water mark),
so a `rangetui get` forked straight from pytest, which may hold a few hundred MiB of
test payloads, would report pytest's size, not its own. Forked from this small process
(run as ``python -S -I``, built-in modules only) the floor is a few MiB.

SIGINT and SIGTERM are passed on to the command.
bench/spawner.py does the same for the benchmark, as a long-lived server.
"""

import os
import signal
import sys

child = 0


def forward(signum, frame):  # type: ignore[no-untyped-def]
    if child:
        os.kill(child, signum)


def main() -> int:
    global child
    out, argv = sys.argv[1], sys.argv[2:]
    signal.signal(signal.SIGINT, forward)  # a handler, unlike SIG_IGN, is reset by exec
    signal.signal(signal.SIGTERM, forward)
    child = os.fork()
    if child == 0:
        try:
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    _, status, usage = os.wait4(child, 0)  # retried after a forwarded signal (PEP 475)
    with open(out, "w") as f:
        f.write(f"{usage.ru_maxrss} {status}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
