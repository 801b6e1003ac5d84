"""The line beside a download says what is news: a note goes once bytes have kept coming
for a while after it, and stays when none came (UX note 12: "resuming: 42532584 of
209715200 bytes already here" stayed under the table for the whole download)."""

from __future__ import annotations

from pathlib import Path

from rangetui.core.engine import Engine
from rangetui.core.note import NOTE_SECONDS, Note
from rangetui.core.resume import resuming_text
from rangetui.core.store import Store
from rangetui.core.types import Options, Phase
from tests.conftest import payload
from tests.engine_helpers import wait_job
from tests.fake_clock import FakeClock
from tests.faultserver import FaultServer

MiB = 1024 * 1024


def test_a_note_goes_once_bytes_kept_coming_after_it() -> None:
    clock = FakeClock()
    note = Note(clock)
    note.say("retrying in 2 s: connection reset", 1000)
    assert note.shown(5000) == "retrying in 2 s: connection reset"  # new: still news
    clock.advance(NOTE_SECONDS)
    assert note.shown(5000) == ""
    note.say("connection 3 is much slower than the others; reconnecting", 5000)
    assert note.shown(9000) != ""


def test_a_note_after_which_nothing_came_stays() -> None:
    clock = FakeClock()
    note = Note(clock)
    note.say("the connection stalled; retrying", 1000)
    clock.advance(60)
    assert note.shown(1000) == "the connection stalled; retrying"
    note.say("done", 8000)
    clock.advance(60)
    assert note.shown(8000) == "done"


def test_a_note_said_before_the_map_existed_waits_for_bytes_beyond_the_map() -> None:
    """ "resuming at 9 MiB" is said while the download's count still reads 0: a resume
    that then stalls must keep saying it."""
    clock = FakeClock()
    note = Note(clock)
    note.say("resuming at 9.0 MiB of 24.0 MiB (byte 9437184)", 0)
    note.rebase(9 * MiB)  # the map is in place: 9 MiB done, none of it new
    clock.advance(60)
    assert note.shown(9 * MiB) != ""
    assert note.shown(9 * MiB + 1) == ""


def test_a_lasting_note_stays_while_bytes_come() -> None:
    clock = FakeClock()
    note = Note(clock)
    note.say("the server allows one connection (no Range support): ...", 0, lasting=True)
    clock.advance(60)
    assert note.shown(50 * MiB) != ""


def test_resuming_says_sizes_and_the_exact_byte() -> None:
    assert resuming_text(3879672, 8388608) == "resuming at 3.7 MiB of 8.0 MiB (byte 3879672)"


def test_the_resume_note_clears_once_the_download_is_under_way(
    state_dir: Path, server: FaultServer, downloads: Path
) -> None:
    engine = Engine(Store(state_dir))
    engine.start()
    try:
        route = server.add("/n.bin", payload(16 * MiB), rate=MiB)
        job = engine.add(route, downloads, options=Options(connections=2))
        wait_job(engine, job, lambda j: j.completed > MiB)
        engine.pause(job)
        wait_job(engine, job, lambda j: j.status is Phase.PAUSED and not j.running)
        engine.resume(job)
        said = wait_job(engine, job, lambda j: j.message.startswith("resuming at"))
        quiet = wait_job(engine, job, lambda j: j.message == "", secs=30, what="a quiet line")
        assert quiet.status is Phase.DOWNLOADING and quiet.completed > said.completed
    finally:
        engine.shutdown()
