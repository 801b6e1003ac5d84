"""What a front end may ask of an engine: commands as data, and the one interface.

Commands are frozen dataclasses so that they can be logged, tested and sent over a
socket; the engine applies them with one ``match``. :class:`EngineAPI` is what the
TUI, ``get`` and the command-line tools program against, whether the engine runs in
the same process or in the background.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from dataclasses import fields as dataclass_fields
from pathlib import Path
from typing import Any, Protocol

from rangetui.core.snapshots import CodecError, EngineSnapshot
from rangetui.core.types import Options, options_from_json, options_to_json

COMMAND_VERSION = 1


class EngineUnavailable(Exception):
    """The engine behind an EngineAPI stopped answering or went away (one sentence)."""


@dataclass(frozen=True)
class Add:
    """Queue a URL. ``directory`` is absolute; ``output`` is relative to it or absolute."""

    url: str
    directory: str
    output: str | None = None
    options: Options = field(default_factory=Options)
    paused: bool = False
    mirrors: tuple[str, ...] = ()
    """Other servers of the same file."""


@dataclass(frozen=True)
class Pause:
    job_id: str | None = None
    """None: every job."""


@dataclass(frozen=True)
class Resume:
    job_id: str | None = None
    """None: every job (a failed one is retried)."""


@dataclass(frozen=True)
class Remove:
    job_id: str
    delete_partial: bool = False


@dataclass(frozen=True)
class SetConnections:
    job_id: str
    count: int


@dataclass(frozen=True)
class SetMaxJobs:
    count: int


@dataclass(frozen=True)
class SetLimit:
    """A speed limit in bytes/s, applied at once to running downloads; None lifts it."""

    job_id: str | None
    """None: the limit all downloads share, on top of each job's own."""
    rate: int | None


@dataclass(frozen=True)
class Move:
    """Move a job ``offset`` places in the queue (negative: towards the front, sooner)."""

    job_id: str
    offset: int


Command = Add | Pause | Resume | Remove | SetConnections | SetMaxJobs | SetLimit | Move
COMMANDS: dict[str, type[Command]] = {
    cls.__name__: cls
    for cls in (Add, Pause, Resume, Remove, SetConnections, SetMaxJobs, SetLimit, Move)
}


class EngineAPI(Protocol):
    """One engine, whoever runs it. ``execute`` returns a job id for :class:`Add`."""

    def execute(self, command: Command) -> str | None: ...

    def snapshot(self, detail: frozenset[str] = frozenset()) -> EngineSnapshot:
        """The queue now, with block maps only for the jobs in ``detail``."""
        ...

    def shutdown(self) -> None:
        """Stop the engine: running jobs are saved as queued and go on at its next start."""
        ...

    def detach(self) -> None:
        """The front end is leaving. A background engine goes on; an engine that lives in
        the front end's own process has nobody left to run it, so it stops."""
        ...

    def add(
        self,
        url: str,
        directory: Path,
        output: Path | None = None,
        options: Options | None = None,
        paused: bool = False,
        mirrors: tuple[str, ...] = (),
    ) -> str: ...

    def pause(self, job_id: str) -> None: ...

    def resume(self, job_id: str) -> None: ...

    def pause_all(self) -> None: ...

    def resume_all(self) -> None: ...

    def remove(self, job_id: str, delete_partial: bool = False) -> None: ...

    def set_connections(self, job_id: str, count: int) -> None: ...

    def set_max_jobs(self, count: int) -> None: ...

    def set_limit(self, job_id: str | None, rate: int | None) -> None: ...

    def move(self, job_id: str, offset: int) -> None: ...


class CommandMethods:
    """The commands as methods, for any class that implements ``execute``."""

    def execute(self, command: Command) -> str | None:
        raise NotImplementedError

    def add(
        self,
        url: str,
        directory: Path,
        output: Path | None = None,
        options: Options | None = None,
        paused: bool = False,
        mirrors: tuple[str, ...] = (),
    ) -> str:
        """Queue a URL; raises DownloadError at once for what is plainly not a URL."""
        where = str(directory.expanduser().absolute())
        out = str(output) if output is not None else None
        job_id = self.execute(Add(url, where, out, options or Options(), paused, mirrors))
        assert job_id is not None
        return job_id

    def pause(self, job_id: str) -> None:
        self.execute(Pause(job_id))

    def resume(self, job_id: str) -> None:
        self.execute(Resume(job_id))

    def pause_all(self) -> None:
        self.execute(Pause(None))

    def resume_all(self) -> None:
        self.execute(Resume(None))

    def remove(self, job_id: str, delete_partial: bool = False) -> None:
        self.execute(Remove(job_id, delete_partial))

    def set_connections(self, job_id: str, count: int) -> None:
        self.execute(SetConnections(job_id, count))

    def set_max_jobs(self, count: int) -> None:
        self.execute(SetMaxJobs(count))

    def set_limit(self, job_id: str | None, rate: int | None) -> None:
        self.execute(SetLimit(job_id, rate))

    def move(self, job_id: str, offset: int) -> None:
        self.execute(Move(job_id, offset))


# -- JSON codec ---------------------------------------------------------------------


def command_to_json(command: Command) -> dict[str, Any]:
    """Carries header values (an Add's options): only for the engine's private socket."""
    fields = asdict(command)
    if isinstance(command, Add):
        fields["options"] = options_to_json(command.options)
    return {"v": COMMAND_VERSION, "command": type(command).__name__, "fields": fields}


def command_from_json(data: Any) -> Command:
    if not isinstance(data, dict) or data.get("v") != COMMAND_VERSION:
        raise CodecError("not a command of this version")
    cls = COMMANDS.get(str(data.get("command")))
    fields = data.get("fields")
    if cls is None or not isinstance(fields, dict):
        raise CodecError(f"unknown command {data.get('command')!r}")
    try:
        if cls is Add:
            mirrors = fields.get("mirrors", ())
            if not isinstance(mirrors, list | tuple):
                raise TypeError("mirrors is not a list")
            fields = {
                **fields,
                "options": options_from_json(fields["options"]),
                "mirrors": tuple(mirrors),
            }
        command = cls(**fields)
    except (KeyError, TypeError, ValueError) as e:
        raise CodecError(f"a damaged {cls.__name__} command: {e}") from None
    _check_types(command)
    return command


_TYPE_CHECKS = {
    "str": lambda v: isinstance(v, str),
    "str | None": lambda v: v is None or isinstance(v, str),
    "bool": lambda v: isinstance(v, bool),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "int | None": lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool)),
    "Options": lambda v: isinstance(v, Options),
    "tuple[str, ...]": lambda v: isinstance(v, tuple) and all(isinstance(m, str) for m in v),
}


def _check_types(command: Command) -> None:
    """JSON from a socket may put any value anywhere: each field must be its own type."""
    for f in dataclass_fields(command):
        if not _TYPE_CHECKS[str(f.type)](getattr(command, f.name)):
            raise CodecError(f"a {type(command).__name__} command with a bad {f.name}")
