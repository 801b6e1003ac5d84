"""A download that has failed but is not reaped yet, as a front end sees it."""

from __future__ import annotations

from pathlib import Path

from rangetui.core.jobs import Job
from rangetui.core.snapshots import job_snapshot
from rangetui.core.types import DownloadSnapshot, Options, Phase


def test_a_failure_not_yet_reaped_has_its_error() -> None:
    """The download thread says FAILED a moment before the engine records the error;
    `get` stops at FAILED and printed "error: None" (a flaky torture test)."""
    job = Job.new("https://example.org/c", Path("/tmp"), None, Options())
    job = job.with_changes(status=Phase.DOWNLOADING)
    live = DownloadSnapshot("u", None, Phase.FAILED, None, 0, 0.0, (), None, 0, "no space left")
    assert job_snapshot(job, live, None, False).error == "no space left"
