"""The details screen's text, made from a snapshot without a running app."""

from __future__ import annotations

from pathlib import Path

from rangetui.core.intervals import MapSnapshot
from rangetui.core.jobs import Job
from rangetui.core.snapshots import job_snapshot
from rangetui.core.types import (
    PROBATION_WID,
    ConnectionView,
    DownloadSnapshot,
    Options,
    Phase,
)
from rangetui.tui.details import details_lines
from rangetui.tui.smoothing import Smoother

MiB = 1024 * 1024


def test_a_mirrors_measuring_connection_is_named_and_not_counted() -> None:
    """With -t 8 and a mirror being measured, nine connections are open: the status
    says 8 of 8, and the ninth is labelled as the mirror's, not as connection #101."""
    job = Job.new("http://127.0.0.1/f.iso", Path("/tmp"), None, Options(connections=8))
    job = job.with_changes(mirrors=("http://127.0.0.1:8081/f.iso",), status=Phase.DOWNLOADING)
    views = tuple(ConnectionView(w, w * MiB, w * MiB, (w + 1) * MiB, 1e6) for w in range(8))
    measuring = ConnectionView(PROBATION_WID + 1, 8 * MiB, 8 * MiB, 9 * MiB, 1e6)
    live = DownloadSnapshot(
        url=job.url,
        target="/tmp/f.iso",
        phase=Phase.DOWNLOADING,
        size=16 * MiB,
        completed=0,
        speed=9e6,
        connections=(*views, measuring),
        blocks=MapSnapshot(16 * MiB, (), ((0, 9 * MiB),), 0),
        retries=0,
        message="",
    )
    snap = job_snapshot(job, live, None, detail=True)
    assert snap.connections == 8
    text = "\n".join(line.plain for line in details_lines(snap, [], 100, Smoother()))
    assert "8 of 8 connections" in text, text
    assert "#101" not in text, text
    assert "m1 " in text and "measuring mirror 1" in text, text
    assert "#7 " in text, text
