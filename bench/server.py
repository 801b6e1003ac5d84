"""Our own nginx: rendered config, temp prefix, one free loopback port, stopped by its pid."""

from __future__ import annotations

import grp
import os
import pwd
import re
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

TEMPLATE = Path(__file__).with_name("nginx.conf.template")
START_SECONDS = 10.0
STOP_SECONDS = 10.0
RATE = "4m"  # per connection for /throttled/ and /straggler/ (nginx: m = MiB)
SLOW_RATE = "400k"  # the straggler's rate: ten times less
MIRROR_RATE = "128k"  # /slowmirror/: a mirror 32 times slower per connection than /throttled/
SLOW_EVERY = 8  # straggler: one connection in eight is slow ...
SLOW_FIRST = 3  # ... the 3rd, 11th, 19th ... that nginx accepts after a (re)start
CAP = 3  # /capped/: requests at once per client; more get 503 (limit_conn)
SLOW_MAP_SIZE = 4096  # serials listed in the map; a straggler run uses a few dozen


def is_slow_connection(serial: int) -> bool:
    """Whether nginx's ``$connection`` number ``serial`` gets the straggler's slow rate."""
    return serial % SLOW_EVERY == SLOW_FIRST % SLOW_EVERY


def slow_map_lines() -> str:
    """The ``map $connection`` entries: nginx cannot do arithmetic, so list the serials."""
    serials = range(SLOW_FIRST, SLOW_MAP_SIZE, SLOW_EVERY)
    return "\n".join(f"        {n} {SLOW_RATE};" for n in serials)


class ServerError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _user_line() -> str:
    """As root, nginx would switch its workers to `nobody`; keep them as the current user."""
    if os.geteuid() != 0:
        return ""
    user = pwd.getpwuid(os.geteuid()).pw_name
    group = grp.getgrgid(os.getegid()).gr_name
    return f"user {user} {group};"


def render(prefix: Path, data: Path, port: int, workers: int) -> str:
    fields = {
        "user_line": _user_line(),
        "workers": str(workers),
        "prefix": str(prefix),
        "data": str(data),
        "port": str(port),
        "rate": RATE,
        "slow_rate": SLOW_RATE,
        "mirror_rate": MIRROR_RATE,
        "slow_map": slow_map_lines(),
        "cap": str(CAP),
    }
    text = TEMPLATE.read_text(encoding="utf-8")
    for key, value in fields.items():
        text = text.replace("{{" + key + "}}", value)
    left = re.findall(r"\{\{[a-z_]+\}\}", text)
    if left:
        raise ServerError(f"unfilled fields in {TEMPLATE.name}: {left}")
    return text


@dataclass
class Nginx:
    """``with Nginx(...) as server:`` starts it; leaving the block stops it by its pid."""

    prefix: Path
    data: Path
    workers: int = 1
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def straggler_log(self) -> Path:
        return self.prefix / "straggler.log"

    @property
    def capped_log(self) -> Path:
        return self.prefix / "capped.log"

    def _argv(self, *extra: str) -> list[str]:
        conf = self.prefix / "nginx.conf"
        log = self.prefix / "error.log"
        return ["nginx", "-p", str(self.prefix), "-c", str(conf), "-e", str(log), *extra]

    def start(self) -> None:
        for sub in ("tmp", "tmp/body", "tmp/proxy", "tmp/fastcgi", "tmp/uwsgi", "tmp/scgi"):
            (self.prefix / sub).mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()  # a restart keeps its port: URLs stay valid
        conf = render(self.prefix, self.data, self.port, self.workers)
        (self.prefix / "nginx.conf").write_text(conf, encoding="utf-8")
        test = subprocess.run(self._argv("-t", "-q"), capture_output=True, text=True)
        if test.returncode != 0:
            raise ServerError(f"nginx rejected its config: {test.stderr.strip()}")
        # its own process group, so master and workers can be killed together if they hang
        self.proc = subprocess.Popen(self._argv(), stdin=subprocess.DEVNULL, start_new_session=True)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                code = self.proc.returncode
                raise ServerError(f"nginx exited with {code}; see {self.prefix}/error.log")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise ServerError(f"nginx did not listen on port {self.port} within {START_SECONDS:.0f} s")

    def stop(self) -> None:
        """SIGTERM to the master pid we started (it stops its workers); SIGKILL if it hangs."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # its group: the master and its workers
            proc.wait()

    def restart(self) -> None:
        """Stop and start on the same port; ``$connection`` counts from 1 again."""
        self.stop()
        self.start()

    def __enter__(self) -> Nginx:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def nginx_version() -> tuple[int, ...] | None:
    try:
        out = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr
    except OSError:
        return None
    m = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", out)
    return tuple(int(x) for x in m.groups()) if m else None
