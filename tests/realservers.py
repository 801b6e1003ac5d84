"""Real servers from the distribution, each on a free loopback port from a generated
config in a temp dir (never /etc, never a system service), stopped by its pid.

nginx, Apache and lighttpd serve DATA/ (and DATA/slow/, rate-limited per connection);
tinyproxy is a forward proxy. Each writes an access log that the tests read to count
the body bytes it served. Apache and lighttpd drop to `nobody` as root, so DATA is a
world-readable dir under /tmp.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

START_SECONDS = 15.0
SLOW_KIB = 1024
"""Per-connection rate of DATA/slow/ in KiB/s."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def world_dir(prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    path.chmod(0o755)
    return path


@dataclass
class RealServer:
    """One server process; subclasses say how to configure and start it."""

    name: str
    binary: str
    data: Path
    prefix: Path = field(default_factory=lambda: world_dir("rangetui-srv-"))
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    def url(self, path: str, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def argv(self) -> list[str]:
        raise NotImplementedError

    def write_config(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self.write_config()
        log = open(self.prefix / "stdout.log", "wb")  # noqa: SIM115 (kept for the process)
        self.proc = subprocess.Popen(
            self.argv(), stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start: {self.tail()}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.2),
            ):
                return
            time.sleep(0.05)
        raise RuntimeError(
            f"{self.name} did not listen within {START_SECONDS:.0f} s: {self.tail()}"
        )

    def tail(self) -> str:
        texts = [p.read_text(errors="replace")[-600:] for p in self.prefix.glob("*.log")]
        return " | ".join(t.strip() for t in texts if t.strip())

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        shutil.rmtree(self.prefix, ignore_errors=True)

    def flush(self) -> None:
        """Make the access log complete (a server may buffer it)."""

    def body_bytes(self, path: str) -> int:
        """Bytes served for ``path`` (GETs), from the access log: `REQUEST STATUS BYTES`
        (Apache counts the headers too: %O is what really went out when a client hung up,
        where %B is what it meant to send)."""
        self.flush()
        total = 0
        for line in self.access_log():
            match = re.match(r'"?GET (\S+) HTTP/[\d.]+"? (\d{3}) (\d+|-)', line)
            if match and match.group(1) == path and match.group(3) != "-":
                total += int(match.group(3))
        return total

    def statuses(self, path: str) -> list[int]:
        found = []
        for line in self.access_log():
            match = re.match(r'"?GET (\S+) HTTP/[\d.]+"? (\d{3})', line)
            if match and match.group(1) == path:
                found.append(int(match.group(2)))
        return found

    def access_log(self) -> list[str]:
        path = self.prefix / "access.log"
        return path.read_text(errors="replace").splitlines() if path.exists() else []


@dataclass
class Nginx(RealServer):
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_port: int = field(default_factory=free_port)

    def argv(self) -> list[str]:
        return [self.binary, "-p", str(self.prefix), "-c", str(self.prefix / "nginx.conf")]

    def write_config(self) -> None:
        tmp = self.prefix / "tmp"
        tmp.mkdir()
        tls = ""
        if self.tls_cert and self.tls_key:
            tls = f"""
    server {{
        listen 127.0.0.1:{self.tls_port} ssl;
        ssl_certificate {self.tls_cert};
        ssl_certificate_key {self.tls_key};
        root {self.data};
    }}"""
        conf = f"""
user root root;
worker_processes 2;
daemon off;
pid {self.prefix}/nginx.pid;
error_log {self.prefix}/error.log warn;
events {{ worker_connections 256; }}
http {{
    log_format plain '"$request" $status $body_bytes_sent';
    access_log {self.prefix}/access.log plain;
    default_type application/octet-stream;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen 127.0.0.1:{self.port};
        root {self.data};
        location /slow/ {{ limit_rate {SLOW_KIB}k; }}
    }}{tls}
}}
"""
        (self.prefix / "nginx.conf").write_text(conf)


APACHE_MODULES = "/usr/lib/apache2/modules"


@dataclass
class Apache(RealServer):
    def argv(self) -> list[str]:
        return [self.binary, "-d", str(self.prefix), "-f", str(self.prefix / "httpd.conf"),
                "-DFOREGROUND"]  # fmt: skip

    def write_config(self) -> None:
        modules = ["mpm_event", "authz_core", "env", "ratelimit"]
        loads = "\n".join(f"LoadModule {m}_module {APACHE_MODULES}/mod_{m}.so" for m in modules)
        conf = f"""
{loads}
ServerName localhost
Listen 127.0.0.1:{self.port}
PidFile {self.prefix}/httpd.pid
ErrorLog {self.prefix}/error.log
DefaultRuntimeDir {self.prefix}
Mutex file:{self.prefix} default
LogFormat "\\"%r\\" %>s %O" plain
CustomLog {self.prefix}/access.log plain
User nobody
Group nogroup
DocumentRoot {self.data}
<Directory {self.data}>
    Require all granted
</Directory>
<Location /slow/>
    SetOutputFilter RATE_LIMIT
    SetEnv rate-limit {SLOW_KIB}
</Location>
"""
        (self.prefix / "httpd.conf").write_text(conf)


@dataclass
class Lighttpd(RealServer):
    def flush(self) -> None:
        """lighttpd buffers its access log; SIGHUP makes it reopen (and so write) it."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGHUP)
            time.sleep(0.3)

    def argv(self) -> list[str]:
        return [self.binary, "-D", "-f", str(self.prefix / "lighttpd.conf")]

    def write_config(self) -> None:
        self.prefix.chmod(0o777)  # it opens its logs after dropping to nobody
        conf = f"""
server.modules = ("mod_accesslog")
server.document-root = "{self.data}"
server.port = {self.port}
server.bind = "127.0.0.1"
server.pid-file = "{self.prefix}/lighttpd.pid"
server.errorlog = "{self.prefix}/error.log"
server.username = "nobody"
server.groupname = "nogroup"
accesslog.filename = "{self.prefix}/access.log"
accesslog.format = "\\"%r\\" %>s %b"
$HTTP["url"] =~ "^/slow/" {{ connection.kbytes-per-second = {SLOW_KIB} }}
"""
        (self.prefix / "lighttpd.conf").write_text(conf)


@dataclass
class Tinyproxy(RealServer):
    def argv(self) -> list[str]:
        return [self.binary, "-d", "-c", str(self.prefix / "tinyproxy.conf")]

    def write_config(self) -> None:
        self.prefix.chmod(0o777)  # it writes its log after dropping to nobody
        conf = f"""
Port {self.port}
Listen 127.0.0.1
Timeout 60
Allow 127.0.0.1
User nobody
Group nogroup
LogFile "{self.prefix}/proxy.log"
LogLevel Connect
MaxClients 64
"""
        (self.prefix / "tinyproxy.conf").write_text(conf)

    def log(self) -> str:
        path = self.prefix / "proxy.log"
        return path.read_text(errors="replace") if path.exists() else ""


KINDS: dict[str, type[RealServer]] = {"nginx": Nginx, "apache": Apache, "lighttpd": Lighttpd}
BINARIES = {"nginx": "nginx", "apache": "apache2", "lighttpd": "lighttpd", "tinyproxy": "tinyproxy"}


def binary(kind: str) -> str | None:
    name = BINARIES[kind]
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")


@contextlib.contextmanager
def running(server: RealServer) -> Iterator[RealServer]:
    try:
        server.start()
        yield server
    finally:
        server.stop()
