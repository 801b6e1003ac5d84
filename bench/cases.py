"""What one run of one tool is: a command, its expected outputs, and how to check them."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from datafiles import Generated
from measure import Sample, Spawner, failed, run_measured, sha256_file
from server import is_slow_connection


@dataclass(frozen=True)
class Env:
    """What every run needs: the server, the work area, the generated files' hashes."""

    base_url: str
    work: Path
    files: dict[str, Generated]
    timeout: float
    rangetui: tuple[str, ...]
    straggler_log: Path
    spawner: Spawner
    restart_server: Callable[[], None] = lambda: None
    """Before a straggler run: so that nginx numbers its connections from 1 again."""
    capped_log: Path | None = None
    """nginx's access log of /capped/: how many requests it refused with 503."""

    def url(self, location: str, name: str) -> str:
        return f"{self.base_url}/{location}/{name}"

    def fresh_dir(self, kind: str, slug: str) -> Path:
        path = self.work / kind / slug
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path

    def rangetui_env(self, state: Path) -> dict[str, str]:
        return {**os.environ, "RANGETUI_STATE_DIR": str(state)}


class Case(Protocol):
    label: str
    nbytes: int

    def run(self, env: Env) -> Sample: ...


@dataclass(frozen=True)
class Paths:
    out: Path  # the directory every output goes into
    state: Path  # RANGETUI_STATE_DIR for this run


Argv = Callable[[Env, Paths], Sequence[str]]


def verify(out: Path, expected: Sequence[tuple[str, str]], env: Env) -> str:
    """'' when every output exists with the right sha256, else the first problem."""
    for rel, data_name in expected:
        path = out / rel
        if not path.is_file():
            return f"missing output {rel}"
        if sha256_file(path) != env.files[data_name].sha256:
            return f"sha256 mismatch for {rel}"
    return ""


def leftovers(out: Path, expected: Sequence[tuple[str, str]]) -> list[str]:
    wanted = {rel for rel, _ in expected}
    found = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    return sorted(found - wanted)


@dataclass
class StragglerLog:
    """Counts slow connections in nginx's straggler access log for the lines of one run."""

    path: Path
    offset: int = 0

    def mark(self) -> None:
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def connections(self) -> tuple[int, int, int]:
        """(connections, slow connections, requests) since ``mark``."""
        if not self.path.exists():
            return 0, 0, 0
        with self.path.open("rb") as f:
            f.seek(self.offset)
            lines = f.read().decode("ascii", "replace").splitlines()
        conns: set[int] = set()
        for line in lines:
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                conns.add(int(parts[1]))  # $connection, the serial the slow map keys on
        slow = sum(1 for serial in conns if is_slow_connection(serial))
        return len(conns), slow, len(lines)


@dataclass
class CappedLog:
    """Counts the requests and 503 refusals in nginx's /capped/ access log for one run."""

    path: Path | None
    offset: int = 0

    def mark(self) -> None:
        exists = self.path is not None and self.path.exists()
        self.offset = self.path.stat().st_size if self.path is not None and exists else 0

    def counts(self) -> dict[str, float]:
        """requests, refused (503) and conns (distinct client ports) since ``mark``."""
        if self.path is None or not self.path.exists():
            return {"requests": 0, "refused": 0, "conns": 0}
        with self.path.open("rb") as f:
            f.seek(self.offset)
            rows = [line.split() for line in f.read().decode("ascii", "replace").splitlines()]
        rows = [r for r in rows if len(r) >= 4]
        refused = sum(1 for r in rows if r[3] == "503")
        return {"requests": len(rows), "refused": refused, "conns": len({r[0] for r in rows})}


@dataclass
class CommandCase:
    """A tool run as a child process; outputs checked by sha256 and then deleted."""

    label: str
    slug: str
    nbytes: int
    argv: Argv
    expected: list[tuple[str, str]]  # (path relative to the out dir, data file name)
    straggler: bool = False
    capped: bool = False
    window: bool = False
    """Measure ``cpu_window`` too: the CPU from the first file to the whole first
    expected file (as the TUI case measures its own), without start-up and exit."""
    notes: list[str] = field(default_factory=list)

    def run(self, env: Env) -> Sample:
        paths = Paths(env.fresh_dir("out", self.slug), env.fresh_dir("state", self.slug))
        if self.straggler:
            env.restart_server()
        log = StragglerLog(env.straggler_log)
        log.mark()
        capped = CappedLog(env.capped_log)
        capped.mark()
        try:
            sample = run_measured(
                env.spawner,
                self.argv(env, paths),
                env=env.rangetui_env(paths.state),
                cwd=paths.out,
                stderr_path=env.work / "state" / f"{self.slug}.stderr",
                timeout=env.timeout,
                window=(paths.out / self.expected[0][0], self.nbytes) if self.window else None,
            )
            if sample.ok:
                problem = verify(paths.out, self.expected, env)
                if problem:
                    sample.ok, sample.error = False, problem
            extra = leftovers(paths.out, self.expected)
            if extra:
                sample.notes.append(f"left behind: {', '.join(extra[:3])}")
            if self.straggler:
                conns, slow, requests = log.connections()
                sample.extra.update(conns=conns, slow=slow, requests=requests)
            if self.capped:
                sample.extra.update(capped.counts())
            return sample
        except OSError as e:
            return failed(f"could not run: {e}")
        finally:
            shutil.rmtree(paths.out, ignore_errors=True)
            shutil.rmtree(paths.state, ignore_errors=True)


# Command builders. Every tool writes into the run's own out dir.


def rangetui_get(location: str, name: str, *flags: str) -> Argv:
    def argv(env: Env, p: Paths) -> list[str]:
        url = env.url(location, name)
        out = p.out / Path(name).name
        return [*env.rangetui, "get", "-q", url, "-o", str(out), *flags]

    return argv


def rangetui_mirrored(location: str, mirror: str, name: str, *flags: str) -> Argv:
    """`rangetui get` of ``location``'s file with the same file at ``mirror`` as a mirror."""

    def argv(env: Env, p: Paths) -> list[str]:
        out = p.out / Path(name).name
        url, other = env.url(location, name), env.url(mirror, name)
        return [*env.rangetui, "get", "-q", url, "--mirror", other, "-o", str(out), *flags]

    return argv


def rangetui_list(list_name: str, *flags: str) -> Argv:
    def argv(env: Env, p: Paths) -> list[str]:
        return [
            *env.rangetui,
            "get",
            "-q",
            "-i",
            str(env.work / list_name),
            "-d",
            str(p.out),
            *flags,
        ]

    return argv


def floor_http(list_name: str, jobs: int) -> Argv:
    """bench/floor_http.py, with the Python that runs this bench (rangetui importable)."""

    def argv(env: Env, p: Paths) -> list[str]:
        script = Path(__file__).with_name("floor_http.py")
        return [sys.executable, str(script), str(env.work / list_name), str(p.out), "-j", str(jobs)]

    return argv


ARIA2_COMMON = ("-q", "--file-allocation=none", "--allow-overwrite=true")


def aria2c(location: str, name: str, *flags: str) -> Argv:
    def argv(env: Env, p: Paths) -> list[str]:
        base = Path(name).name
        url = env.url(location, name)
        return ["aria2c", *ARIA2_COMMON, "-d", str(p.out), "-o", base, *flags, url]

    return argv


def aria2c_list(list_name: str, *flags: str) -> Argv:
    def argv(env: Env, p: Paths) -> list[str]:
        lst = str(env.work / list_name)
        return ["aria2c", *ARIA2_COMMON, "-d", str(p.out), "-i", lst, *flags]

    return argv


def curl(location: str, name: str) -> Argv:
    def argv(env: Env, p: Paths) -> list[str]:
        out = p.out / Path(name).name
        return ["curl", "-s", "-o", str(out), env.url(location, name)]

    return argv
