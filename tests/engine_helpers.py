"""Waiting on the engine from a test, in bounded steps."""

from __future__ import annotations

import time
from collections.abc import Callable

from rangetui.core.engine import Engine
from rangetui.core.snapshots import JobSnapshot


def wait_job(
    engine: Engine,
    job_id: str,
    pred: Callable[[JobSnapshot], bool],
    secs: float = 20.0,
    what: str = "the condition",
) -> JobSnapshot:
    """Poll the engine's snapshot until ``pred`` holds for the job; fail with its last state."""
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        snap = engine.snapshot().find(job_id)
        if snap is not None and pred(snap):
            return snap
        time.sleep(0.02)
    snap = engine.snapshot().find(job_id)
    last = None if snap is None else (snap.status, snap.error, snap.running)
    raise AssertionError(f"timed out after {secs} s waiting for {what}; last: {last}")
