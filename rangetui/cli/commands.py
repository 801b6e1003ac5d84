"""`rangetui add|ls|pause|resume|rm|stop|engine`: the background engine from any shell.

Each command reaches the state dir's engine (``add`` and ``ls`` start one when none
runs), does one thing and exits; every failure is one line and a non-zero exit.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence

from rangetui.cli.flags import (
    Parser,
    _connections,
    add_download_flags,
    add_per_host_flag,
    options_from,
)
from rangetui.cli.inputfile import Entry, entries_or_exit, make_directories
from rangetui.cli.listing import job_json, table
from rangetui.cli.settings import PER_RUN, add_config_flag, apply_settings, parse_args
from rangetui.core.errors import DownloadError
from rangetui.core.snapshots import EngineSnapshot
from rangetui.core.store import state_root
from rangetui.core.urls import check_url
from rangetui.daemon.client import RemoteEngine
from rangetui.daemon.protocol import EngineError, EngineNotRunning
from rangetui.daemon.spawn import attach

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
QUEUE_SECONDS = 2.0


def say(text: str) -> None:
    print(f"rangetui: {text}", file=sys.stderr)


def add_main(argv: Sequence[str]) -> int:
    parser = Parser(prog="rangetui add", description="Queue downloads in the background engine.")
    add_download_flags(parser)
    parser.add_argument("--paused", action="store_true", help="queue them paused")
    add_config_flag(parser)
    args = parse_args(parser, argv)
    entries = entries_or_exit(parser, args)
    problem = check_command_line(entries, args)
    if problem:
        parser.error(problem)
    engine = attach(state_root())
    ids = queue_entries(engine, entries, args, paused=args.paused)
    snap = queued(engine, ids)
    engine.detach()
    for job_id in ids:
        job = snap.find(job_id)
        print(f"{job_id}  {job.name if job else ''}".rstrip())
    return EXIT_OK


def queue_entries(
    engine: RemoteEngine, entries: list[Entry], args: argparse.Namespace, paused: bool = False
) -> list[str]:
    """Each entry with its own dir, out (within its dir, as aria2 has it) and checksum
    (from -i), else the command line's."""
    options = options_from(args)
    ids = []
    for entry in entries:
        directory, output = entry.where(args)
        if entry.output is None and output is not None:
            output = output.expanduser().absolute()  # -o: from where the command runs
        opts = entry.options(options)
        ids.append(engine.add(entry.url, directory, output, opts, paused, entry.mirrors))
    return ids


def queued(engine: RemoteEngine, ids: list[str]) -> EngineSnapshot:
    """The snapshot once the engine's scheduler has taken the new jobs in (a moment)."""
    deadline = time.monotonic() + QUEUE_SECONDS
    while True:
        snap = engine.snapshot()
        if all(snap.find(i) for i in ids) or time.monotonic() > deadline:
            return snap
        time.sleep(0.01)


def check_command_line(entries: list[Entry], args: argparse.Namespace) -> str | None:
    """Refuse a bad command line before anything is queued, so nothing is half added;
    then make the directories that are missing (as `get` does)."""
    if not entries:
        return "give at least one URL (or -i FILE)"
    if args.output is not None and len(entries) != 1:
        return "-o names one file; give exactly one URL, or use -d DIR"
    for entry in entries:
        try:
            check_url(entry.url)
        except DownloadError as e:
            return str(e)
    return make_directories(entry.where(args)[0] for entry in entries)


def ls_main(argv: Sequence[str]) -> int:
    parser = Parser(prog="rangetui ls", description="List the background engine's queue.")
    parser.add_argument("--json", action="store_true", help="a JSON list, for scripts")
    args = parser.parse_args(argv)
    engine = attach(state_root())
    snap = engine.snapshot()
    engine.detach()
    if args.json:
        print(json.dumps([job_json(j) for j in snap.jobs], indent=1))
    else:
        print("\n".join(table(snap.jobs)))
    return EXIT_OK


def _job_command(name: str, verb: str) -> Callable[[Sequence[str]], int]:
    def main(argv: Sequence[str]) -> int:
        parser = Parser(prog=f"rangetui {name}", description=f"{verb.capitalize()} jobs.")
        parser.add_argument(
            "ids", nargs="*", metavar="ID", help="job ids (a unique prefix will do)"
        )
        parser.add_argument("--all", action="store_true", help="every job")
        if name == "rm":
            parser.add_argument(
                "--delete", action="store_true", help="also delete the partial file"
            )
        args = parser.parse_args(argv)
        if bool(args.ids) == args.all:
            parser.error("give job ids or --all")
        engine = attach(state_root(), start=False)
        try:
            return _act(engine, name, verb, args)
        finally:
            engine.detach()

    return main


def _act(engine: RemoteEngine, name: str, verb: str, args: argparse.Namespace) -> int:
    snap = engine.snapshot()
    ids = [j.id for j in snap.jobs] if args.all else [resolve(snap, i) for i in args.ids]
    for job_id in ids:
        if name == "pause":
            engine.pause(job_id)
        elif name == "resume":
            engine.resume(job_id)
        else:
            engine.remove(job_id, delete_partial=args.delete)
        job = snap.find(job_id)
        print(f"{verb} {job_id}  {job.name if job else ''}".rstrip())
    return EXIT_OK


def resolve(snap: EngineSnapshot, given: str) -> str:
    """A job id, or a prefix of exactly one (as git and docker take them)."""
    matches = [j.id for j in snap.jobs if j.id.startswith(given)] if given else []
    if given in matches:
        return given
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise EngineError(f"{given} matches {len(matches)} jobs; give more of the id")
    raise EngineError(f"no job with id {given}")


def stop_main(argv: Sequence[str]) -> int:
    Parser(prog="rangetui stop", description="Stop the background engine.").parse_args(argv)
    try:
        engine = RemoteEngine(state_root(), check_version=False)
    except EngineNotRunning:
        say("no engine is running")
        return EXIT_OK
    engine.shutdown()
    say("the engine has stopped; running downloads go on at its next start")
    return EXIT_OK


def engine_main(argv: Sequence[str]) -> int:
    parser = Parser(prog="rangetui engine", description="Run the engine in the foreground.")
    parser.add_argument(
        "--max-jobs", type=_connections, default=3, help="downloads running at once (default 3)"
    )
    parser.add_argument("--detach", action="store_true", help="run in the background")
    add_per_host_flag(parser)
    add_config_flag(parser)
    args = parse_args(parser, argv)
    root = state_root()
    if args.detach:
        from rangetui.daemon.detach import serve_detached

        return serve_detached(root, args.max_jobs, args.max_per_host)
    from rangetui.daemon.server import run_engine

    def ready(problem: str | None) -> None:
        if problem:
            say(f"error: {problem}")

    return run_engine(root, args.max_jobs, ready, args.max_per_host)


def config_main(argv: Sequence[str]) -> int:
    """Every setting, its value now and where that came from (as `git config -l` does)."""
    parser = Parser(prog="rangetui config", description="Show the effective settings.")
    add_download_flags(parser)
    parser.add_argument("--max-jobs", type=_connections, default=3, help="downloads at once")
    add_per_host_flag(parser)
    add_config_flag(parser)
    known, _ = parser.parse_known_args(argv)
    from rangetui.config import ConfigError, default_path, load

    try:
        used = apply_settings(parser, load(known.config))
    except ConfigError as e:
        parser.exit(2, f"{parser.prog}: error: {e}\n")
    print(f"# {known.config or default_path()}")
    for action in parser._actions:
        key = action.option_strings[-1].lstrip("-") if action.option_strings else ""
        if not key or key in PER_RUN:
            continue
        where = used[action.dest].source if action.dest in used else "built-in"
        print(f"{key:<14} {_shown(parser.get_default(action.dest)):<16} {where}")
    return EXIT_OK


def _shown(value: object) -> str:
    """Header values stay hidden: they are where tokens and cookies go."""
    if isinstance(value, list | tuple):
        return ", ".join(f"{v[0]}: …" if isinstance(v, tuple) else str(v) for v in value) or "–"
    return "–" if value is None else str(value)


COMMANDS: dict[str, Callable[[Sequence[str]], int]] = {
    "config": config_main,
    "add": add_main,
    "ls": ls_main,
    "pause": _job_command("pause", "paused"),
    "resume": _job_command("resume", "resumed"),
    "rm": _job_command("rm", "removed"),
    "stop": stop_main,
    "engine": engine_main,
}


def run_command(name: str, argv: Sequence[str]) -> int:
    try:
        return COMMANDS[name](argv)
    except EngineNotRunning:
        say("no engine is running (start one with `rangetui` or `rangetui add URL`)")
        return EXIT_FAILED
    except (EngineError, DownloadError) as e:
        say(f"error: {e}")
        return EXIT_FAILED
