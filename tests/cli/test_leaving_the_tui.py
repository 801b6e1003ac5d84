"""The line the TUI's command prints as the screen goes: what carries on without it."""

from __future__ import annotations

from rangetui.cli.tui import going_on
from rangetui.core.snapshots import EngineSnapshot, JobSnapshot
from rangetui.core.types import Phase


def _queue(*statuses: Phase) -> EngineSnapshot:
    jobs = tuple(
        JobSnapshot(str(i), f"f{i}", f"http://x/f{i}", status, "/tmp")
        for i, status in enumerate(statuses)
    )
    return EngineSnapshot(jobs, (), 3)


def test_nothing_is_said_when_nothing_goes_on() -> None:
    assert going_on(_queue(Phase.DONE, Phase.PAUSED, Phase.FAILED), stopped=False) == ""


def test_running_and_queued_downloads_go_on_in_the_background() -> None:
    line = going_on(_queue(Phase.DOWNLOADING, Phase.QUEUED, Phase.PAUSED), stopped=False)
    assert line.startswith("2 downloads go on in the background engine")
    assert "rangetui ls" in line
    one = going_on(_queue(Phase.PROBING), stopped=False)
    assert one.startswith("1 download goes on in the background engine")


def test_after_stopping_the_engine_they_go_on_at_its_next_start() -> None:
    line = going_on(_queue(Phase.DOWNLOADING, Phase.QUEUED), stopped=True)
    assert line == "the engine has stopped; 2 downloads go on at its next start"
