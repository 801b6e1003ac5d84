"""Commands and snapshots as data: every value survives JSON, secrets never enter it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rangetui.core.api import (
    Add,
    Command,
    Move,
    Pause,
    Remove,
    Resume,
    SetConnections,
    SetLimit,
    SetMaxJobs,
    command_from_json,
    command_to_json,
)
from rangetui.core.intervals import MapSnapshot
from rangetui.core.jobs import Job
from rangetui.core.snapshots import (
    CodecError,
    EngineSnapshot,
    JobSnapshot,
    LogLine,
    job_snapshot,
    job_to_json,
    snapshot_from_json,
    snapshot_to_json,
)
from rangetui.core.types import ConnectionView, DownloadSnapshot, HttpOptions, Options, Phase

text = st.text(max_size=40)
maybe_text = st.none() | text
count = st.integers(min_value=0, max_value=2**62)
maybe_count = st.none() | count
rate = st.floats(min_value=0, max_value=1e12, allow_nan=False)
interval = st.tuples(count, count)

options = st.builds(
    Options,
    connections=st.integers(1, 64),
    fixed=st.booleans(),
    block_size=st.integers(1, 2**30),
    buffer_size=st.integers(1, 2**26),
    retries=st.integers(0, 100),
    limit_rate=st.none() | st.integers(1, 2**40),
    checksum=st.none() | st.text("0123456789abcdef", min_size=64, max_size=64),
    http=st.builds(
        HttpOptions,
        headers=st.lists(st.tuples(text, text), max_size=3).map(tuple),
        timeout=st.floats(0.1, 3600),
        verify=st.booleans() | text,
    ),
)
commands = st.one_of(
    st.builds(Add, url=text, directory=text, output=maybe_text, options=options),
    st.builds(Pause, job_id=maybe_text),
    st.builds(Resume, job_id=maybe_text),
    st.builds(Remove, job_id=text, delete_partial=st.booleans()),
    st.builds(SetConnections, job_id=text, count=st.integers(1, 64)),
    st.builds(SetMaxJobs, count=st.integers(1, 64)),
    st.builds(SetLimit, job_id=maybe_text, rate=st.none() | st.integers(1, 2**40)),
    st.builds(Move, job_id=text, offset=st.integers(-(2**31), 2**31)),
)
maps = st.builds(
    MapSnapshot,
    size=count,
    done_intervals=st.lists(interval, max_size=4).map(tuple),
    active=st.lists(interval, max_size=4).map(tuple),
    completed=count,
)
views = st.builds(
    ConnectionView, wid=st.integers(0, 63), start=count, pos=count, end=count, rate=rate
)
jobs = st.builds(
    JobSnapshot,
    id=text,
    name=text,
    url=text,
    status=st.sampled_from(Phase),
    directory=text,
    output=maybe_text,
    target=maybe_text,
    size=maybe_count,
    completed=count,
    speed=rate,
    connection_views=st.lists(views, max_size=3).map(tuple),
    wanted_connections=st.integers(1, 64),
    connection_target=st.integers(0, 64),
    connection_reason=text,
    limit_rate=maybe_count,
    block_size=st.integers(1, 2**30),
    running=st.booleans(),
    retries=count,
    message=text,
    error=maybe_text,
    etag=maybe_text,
    last_modified=maybe_text,
    added=rate,
    started=st.none() | rate,
    finished=st.none() | rate,
    blocks=st.none() | maps,
)
logs = st.builds(LogLine, seq=count, when=rate, job_id=text, name=text, text=text, kind=text)
snapshots = st.builds(
    EngineSnapshot,
    jobs=st.lists(jobs, max_size=3).map(tuple),
    log=st.lists(logs, max_size=3).map(tuple),
    max_jobs=st.integers(1, 64),
    limit_rate=maybe_count,
    version=count,
    detail=st.frozensets(text, max_size=2),
)


@given(commands)
def test_a_command_survives_json(command: Command) -> None:
    wire = json.loads(json.dumps(command_to_json(command)))
    assert command_from_json(wire) == command


@given(snapshots)
def test_a_snapshot_survives_json(snap: EngineSnapshot) -> None:
    wire = json.loads(json.dumps(snapshot_to_json(snap)))
    assert snapshot_from_json(wire) == snap


@pytest.mark.parametrize(
    "wire",
    [
        None,
        [],
        {"v": 99, "command": "Pause", "fields": {}},
        {"v": 1, "command": "Format", "fields": {}},
        {"v": 1, "command": "Remove", "fields": {"nope": 1}},
        {"v": 1, "command": "Add", "fields": {"url": "http://x/"}},
        {"v": 1, "command": "Pause", "fields": {"job_id": 7}},
        {"v": 1, "command": "SetConnections", "fields": {"job_id": "a", "count": "8"}},
        {"v": 1, "command": "Remove", "fields": {"job_id": "a", "delete_partial": "yes"}},
        {"v": 1, "command": "SetLimit", "fields": {"job_id": None, "rate": "1M"}},
        {"v": 1, "command": "SetLimit", "fields": {"job_id": None, "rate": True}},
        {"v": 1, "command": "Move", "fields": {"job_id": "a", "offset": 1.5}},
    ],
)
def test_a_bad_command_is_one_codec_error(wire: object) -> None:
    with pytest.raises(CodecError):
        command_from_json(wire)


@pytest.mark.parametrize(
    "wire",
    [None, {"v": 2}, {"v": 1, "jobs": [{"id": 1}], "log": [], "max_jobs": 1}, {"v": 1}],
)
def test_a_bad_snapshot_is_one_codec_error(wire: object) -> None:
    with pytest.raises(CodecError):
        snapshot_from_json(wire)


def test_a_snapshot_carries_no_header_and_no_userinfo() -> None:
    """Options (with their headers) stay in the engine; the URL is redacted when made."""
    secret = "Bearer t0ps3cret"
    opts = Options(http=HttpOptions(headers=(("Authorization", secret),)))
    job = Job.new("https://alice:pa55@example.org/f.iso", Path("/tmp"), None, opts)
    live = DownloadSnapshot(
        url="https://example.org/f.iso",
        target="/tmp/f.iso",
        phase=Phase.DOWNLOADING,
        size=10,
        completed=5,
        speed=1.0,
        connections=(ConnectionView(0, 0, 5, 10, 1.0),),
        blocks=MapSnapshot(10, ((0, 5),), ((5, 10),), 5),
        retries=0,
        message="",
    )
    snap = EngineSnapshot((job_snapshot(job, live, None, detail=True),), (), 3)
    wire = json.dumps(snapshot_to_json(snap))
    assert "pa55" not in wire and "alice" not in wire and secret not in wire
    assert snapshot_from_json(json.loads(wire)).jobs[0].blocks == live.blocks


def test_text_from_outside_is_terminal_safe_in_every_snapshot_field() -> None:
    """ESC, OSC 52, C1 and bidi overrides from a server never reach a front end."""
    hostile = "x\x1b]52;c;Y3VybCB8IHNo\x07\x1b[2J\x9b1m\u202eevil"
    job = Job.new("http://example.org/f\x1b[31m.iso", Path("/tmp"), None, Options())
    job = job.with_changes(error=hostile, etag=hostile, last_modified=hostile)
    live = DownloadSnapshot(
        url="",
        target="/tmp/" + hostile,
        phase=Phase.DOWNLOADING,
        size=None,
        completed=0,
        speed=0.0,
        connections=(),
        blocks=None,
        retries=0,
        message=hostile,
        etag=hostile,
    )
    shown = job_snapshot(job, live, None, detail=False)
    text = json.dumps(job_to_json(shown), ensure_ascii=False)
    for bad in ("\x1b", "\x07", "\x9b", "\u202e"):
        assert bad not in text, f"{bad!r} reached the snapshot"
