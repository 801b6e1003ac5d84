#!/usr/bin/env python3
"""Benchmark `rangetui get` (and the TUI) against aria2c and curl on a loopback nginx.

    python bench/run.py [WORKLOAD ...] [--runs N] [--dir D] [--results FILE] [--chart FILE]

See bench/README.md. Installs nothing: it checks for nginx, aria2c and curl and says how
to install what is missing.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from cases import Case, Env
from datafiles import DataFile, GiB, MiB, ensure
from machine import byte_compile_rangetui, loadavg, machine_info, settle
from measure import Sample, Spawner, SpawnerError, run_measured
from report import (
    Stats,
    WorkloadResult,
    chart,
    chart_from_json,
    misses,
    runs_table,
    table,
    to_json,
)
from server import Nginx, ServerError, nginx_version
from tuirun import EXIT_FLAG, NOT_AVAILABLE, TuiCase, help_text
from workloads import FILE_1G, NAMES, Features, Workload, build, unthrottled

HERE = Path(__file__).resolve().parent
APT_HINT = "apt-get install -y nginx-light aria2 curl"
DEFAULT_DIR = Path("/dev/shm/rangetui-bench")


def say(text: str) -> None:
    print(text, flush=True)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="rangetui benchmark against aria2c and curl on a loopback nginx."
    )
    p.add_argument("workloads", nargs="*", metavar="WORKLOAD", help=f"any of: {', '.join(NAMES)}")
    p.add_argument("--runs", type=int, default=3, help="runs of each tool per workload (3)")
    p.add_argument(
        "--dir", type=Path, default=DEFAULT_DIR, help=f"data and outputs ({DEFAULT_DIR})"
    )
    p.add_argument("--results", type=Path, default=HERE / "results" / "latest.md")
    p.add_argument(
        "--chart", type=Path, default=HERE / "results" / "chart.png", help="PNG (matplotlib)"
    )
    p.add_argument("--no-chart", action="store_true", help="do not draw the chart")
    p.add_argument(
        "--chart-from",
        type=Path,
        metavar="JSON",
        help="only draw the chart of a run already written (latest.json), then exit",
    )
    p.add_argument(
        "--workers",
        choices=("auto", "1", "2"),
        default="auto",
        help="nginx worker_processes; auto tries 1 and 2 on the 1 GiB file and keeps the faster",
    )
    p.add_argument("--timeout", type=float, default=300.0, help="seconds allowed per run (300)")
    p.add_argument(
        "--keep-data", action="store_true", help="keep the generated files for next time"
    )
    args = p.parse_args(argv)
    unknown = [w for w in args.workloads if w not in NAMES]
    if unknown:
        p.error(f"unknown workload {', '.join(unknown)}; choose from {', '.join(NAMES)}")
    if args.runs < 1:
        p.error("--runs must be at least 1")
    args.workloads = args.workloads or list(NAMES)
    return args


def rangetui_command() -> tuple[str, ...]:
    exe = shutil.which("rangetui")
    return (exe,) if exe else (sys.executable, "-m", "rangetui")


def check_requirements() -> list[str]:
    problems = [
        f"{tool} not found" for tool in ("nginx", "aria2c", "curl") if not shutil.which(tool)
    ]
    if shutil.which("nginx"):
        version = nginx_version()
        if version is None or version < (1, 17, 0):
            problems.append("nginx 1.17 or newer is needed (a variable in limit_rate)")
    try:
        import rangetui  # noqa: F401
    except ImportError:
        problems.append("rangetui is not importable: pip install -e . from the repo root")
    return problems


def progress(name: str, i: int, runs: int, case: Case, s: Sample) -> None:
    mbps = case.nbytes / 1e6 / s.wall if s.ok and s.wall else 0.0
    state = "ok" if s.ok else f"FAILED: {s.error}"
    say(
        f"  [{name} {i}/{runs}] {case.label:<26} {s.wall:7.2f} s {mbps:7.0f} MB/s "
        f"cpu {s.cpu:6.2f} s  rss {s.maxrss_kib / 1024:6.1f} MiB  {state}"
    )


def run_workload(wl: Workload, env: Env, runs: int) -> WorkloadResult:
    say(f"{wl.name}: {wl.summary}")
    samples: dict[str, list[Sample]] = {c.label: [] for c in wl.cases}
    for group in _compared_first(wl):
        for i in range(1, runs + 1):
            for case in group:  # alternate: A B A B ..., each on a quiet machine
                settle()
                s = case.run(env)
                samples[case.label].append(s)
                progress(wl.name, i, runs, case, s)
                if isinstance(case, TuiCase) and s.error.startswith(NOT_AVAILABLE):
                    case.unavailable = s.error
    stats = {c.label: Stats.of(c.label, c.nbytes, samples[c.label]) for c in wl.cases}
    return WorkloadResult(wl, stats)


def _compared_first(wl: Workload) -> list[list[Case]]:
    """The cases compared with each other alternate among themselves, then the rest.
    A case run right after the tui workload's traffic cases (three engines stopped,
    1.3 GiB of tmpfs freed) was slower whichever tool it was, so a comparison that
    shares its rounds with them is decided by who comes next."""
    paired = {label for pair in wl.pairs for label in pair}
    compared = [c for c in wl.cases if c.label in paired]
    rest = [c for c in wl.cases if c.label not in paired]
    return [g for g in (compared, rest) if g]


def write_lists(work: Path, workloads: Sequence[Workload], base_url: str) -> None:
    for wl in workloads:
        for list_name, names in wl.setup_lists.items():
            urls = [f"{base_url}/data/{n}" for n in names]
            (work / list_name).write_text("\n".join(urls) + "\n", encoding="utf-8")


def calibrate(template: Env, prefix: Path, data: Path) -> tuple[int, str]:
    """One 1 GiB run of each tool per worker count; the lower total wall wins."""
    totals: dict[int, float] = {}
    for workers in (1, 2):
        with Nginx(prefix, data, workers) as server:
            env = replace(template, base_url=server.base_url, straggler_log=server.straggler_log)
            env = replace(env, capped_log=server.capped_log)
            total = 0.0
            for case in unthrottled().cases:
                s = case.run(env)
                say(f"  worker_processes {workers}: {case.label:<22} {s.wall:5.2f} s {s.error}")
                total += s.wall if s.ok else float("inf")
            totals[workers] = total
    best = min(totals, key=lambda w: totals[w])
    text = ", ".join(f"{t:.2f} s with {w}" for w, t in totals.items())
    return best, f"{best} (1 GiB calibration, sum of rangetui + aria2c + curl wall: {text})"


def rss_floor(spawner: Spawner, work: Path) -> str:
    """ru_maxrss of `true`: the least any command can report (see spawner.py)."""
    s = run_measured(
        spawner, ["true"], env=os.environ, cwd=work, stderr_path=work / "true.err", timeout=10
    )
    return f"{s.maxrss_kib / 1024:.1f} MiB (ru_maxrss of `true` started the same way)"


def needed_space(data: Path, files: Sequence[DataFile]) -> int:
    """Files still to generate, plus the largest output, plus some slack."""
    missing = sum(f.size for f in files if not (data / f.name).is_file())
    return missing + max((f.size for f in files), default=0) + 512 * MiB


def cleanup(root: Path, *dirs: Path | None) -> None:
    """Our own directories only; the root too if that leaves it empty."""
    for d in dirs:
        if d is not None:
            shutil.rmtree(d, ignore_errors=True)
    with contextlib.suppress(OSError):
        root.rmdir()  # only succeeds when empty


def write_results(
    path: Path, results: Sequence[WorkloadResult], meta: dict[str, str], args: argparse.Namespace
) -> None:
    missed = misses(results)
    lines = [
        "# rangetui benchmark results",
        "",
        f"`python bench/run.py {' '.join(args.workloads)} --runs {args.runs}`",
        "",
        *[f"- **{k}**: {v}" for k, v in meta.items()],
        "",
        "Medians over the successful runs. MB/s = 10^6 bytes per second of wall time; "
        "CPU = user + sys of the whole process (os.wait4); peak RSS = ru_maxrss. "
        "The ratio column is the workload's subject (first row) over that row's tool.",
        "",
        table(results),
        "",
        "## Targets missed" if missed else "## All targets met",
        "",
        *[f"- {m}" for m in missed],
        "",
        "## Every run",
        "",
        runs_table(results),
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")
    path.with_suffix(".json").write_text(to_json(results, dict(meta)), encoding="utf-8")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM cleans up like Ctrl-C


@dataclass
class Plan:
    args: argparse.Namespace
    rangetui: tuple[str, ...]
    root: Path
    workloads: list[Workload]
    files: list[DataFile]
    meta: dict[str, str]

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def work(self) -> Path:
        return self.root / "run"

    @property
    def prefix(self) -> Path:
        return self.root / "nginx"


def make_plan(args: argparse.Namespace) -> Plan:
    rangetui = rangetui_command()
    features = Features(
        tui_exit_when_done=EXIT_FLAG in help_text(rangetui),
        get_jobs="--max-jobs" in help_text([*rangetui, "get"]),
        fixed="--fixed" in help_text([*rangetui, "get"]),
    )
    workloads = [build(name, features) for name in args.workloads]
    files = list(dict.fromkeys(f for wl in workloads for f in wl.files))
    root = args.dir.resolve()
    meta = machine_info(rangetui, root)
    meta["rangetui modules"] = byte_compile_rangetui()
    if "tui" in args.workloads:
        meta["tui exit"] = (
            f"rangetui {EXIT_FLAG}"
            if features.tui_exit_when_done
            else f"no {EXIT_FLAG} in `rangetui --help`: SIGTERM once the file is done"
        )
    return Plan(args, rangetui, root, workloads, files, meta)


def execute(plan: Plan, spawner: Spawner) -> list[WorkloadResult]:
    """Generate the data, pick nginx's workers, run every workload; raises on trouble."""
    args, meta = plan.args, plan.meta
    plan.work.mkdir(parents=True)
    generated = ensure(plan.data, plan.files, say)
    meta["RSS floor"] = rss_floor(spawner, plan.work)
    log = plan.prefix / "straggler.log"
    env = Env("", plan.work, generated, args.timeout, plan.rangetui, log, spawner)
    workers = 1 if args.workers == "auto" else int(args.workers)
    meta["nginx worker_processes"] = str(workers)
    if args.workers == "auto" and FILE_1G in plan.files:
        say("calibrating nginx worker_processes (1 GiB, 1 run per tool)")
        workers, meta["nginx worker_processes"] = calibrate(env, plan.prefix, plan.data)
    with Nginx(plan.prefix, plan.data, workers) as server:
        say(f"nginx on {server.base_url}, worker_processes {workers}")
        env = replace(env, base_url=server.base_url, restart_server=server.restart)
        env = replace(env, capped_log=server.capped_log)
        write_lists(plan.work, plan.workloads, server.base_url)
        return [run_workload(wl, env, args.runs) for wl in plan.workloads]


def publish(plan: Plan, results: list[WorkloadResult]) -> None:
    args, meta = plan.args, plan.meta
    say("")
    say(table(results))
    for m in misses(results):
        say(f"missed: {m}")
    write_results(args.results, results, meta, args)
    say(f"results written to {args.results} (and {args.results.with_suffix('.json').name})")
    if not args.no_chart:
        title = f"rangetui bench, {meta['date']}, {meta['nproc']} CPUs, medians of {args.runs} runs"
        why = chart(results, args.chart, title)
        say(f"chart skipped: {why}" if why else f"chart written to {args.chart}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.chart_from is not None:
        why = chart_from_json(args.chart_from, args.chart)
        say(f"chart skipped: {why}" if why else f"chart written to {args.chart}")
        return 1 if why else 0
    signal.signal(signal.SIGTERM, _interrupt)
    problems = check_requirements()
    for p in problems:
        say(f"missing: {p}")
    if problems:
        say(f"this benchmark installs nothing; on Debian/Ubuntu: {APT_HINT}")
        return 2
    plan = make_plan(args)
    plan.root.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(plan.root).free
    if free < needed_space(plan.data, plan.files):
        say(f"not enough space in {plan.root}: {free / GiB:.1f} GiB free")
        return 2
    plan.meta["load average at start"] = loadavg()
    for k, v in plan.meta.items():
        say(f"{k}: {v}")
    started = time.monotonic()
    cleanup(plan.root, plan.work, plan.prefix)  # leftovers of an interrupted run
    spawner = Spawner()
    try:
        results = execute(plan, spawner)
    except (ServerError, SpawnerError) as e:
        say(f"stopped: {e}")
        return 1
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    finally:
        spawner.close()
        cleanup(plan.root, plan.work, plan.prefix, None if args.keep_data else plan.data)
    plan.meta["load average at end"] = loadavg()
    plan.meta["total time"] = f"{time.monotonic() - started:.0f} s"
    publish(plan, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
