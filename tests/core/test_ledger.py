"""The ledger's incremental parts: a snapshot rebuilds only what changed, and the
scheduler's look for queued jobs starts past those that cannot be; both must give what
a look at every job would."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import rangetui.core.ledger as ledger_module
from rangetui.core.jobs import Job
from rangetui.core.ledger import Ledger
from rangetui.core.snapshots import job_snapshot
from rangetui.core.types import Options, Phase

STATUSES = [Phase.QUEUED, Phase.PROBING, Phase.DOWNLOADING, Phase.DONE, Phase.FAILED]
STATUSES += [Phase.PAUSED]


def jobs(count: int) -> list[Job]:
    return [Job.new(f"http://h/f{i}", Path("/d"), None, Options()) for i in range(count)]


def from_scratch(ledger: Ledger) -> list[Any]:
    return [job_snapshot(job, None, None, False) for job in ledger.jobs()]


operations = st.lists(
    st.tuples(
        st.sampled_from(["append", "replace", "move", "remove", "snapshot", "queued", "twin"]),
        st.integers(min_value=0, max_value=30),
        st.sampled_from(STATUSES),
        st.integers(min_value=-3, max_value=3),
    ),
    max_size=60,
)


@given(operations)
def test_snapshots_and_the_queued_look_match_a_look_at_every_job(ops: list[Any]) -> None:
    ledger = Ledger()
    ledger.load(jobs(5))
    made = 0
    for op, n, status, offset in ops:
        current = ledger.jobs()
        if op == "append":
            made += 1
            ledger.append(Job.new(f"http://h/f{made % 7}", Path("/d"), None, Options()))
        elif op == "replace" and current:
            ledger.replace(current[n % len(current)].with_changes(status=status))
        elif op == "move" and current:
            ledger.move(current[n % len(current)].id, offset)
        elif op == "remove" and current:
            ledger.remove(current[n % len(current)])
        elif op == "snapshot":
            assert list(ledger.snapshot(frozenset(), {}, 1).jobs) == from_scratch(ledger)
        elif op == "queued":
            running = {j.id for j in current[: n % 4]}
            expected = [j for j in current if j.status is Phase.QUEUED and j.id not in running]
            assert ledger.queued(2, running) == expected[:2]
        elif op == "twin":
            again = Job.new(f"http://h/f{n % 7}", Path("/d"), None, Options())
            twins = [j for j in current if j.url == again.url and j.status is not Phase.DONE]
            assert ledger.unfinished_twin(again, {}) == (twins[0] if twins else None)
    assert list(ledger.snapshot(frozenset(), {}, 1).jobs) == from_scratch(ledger)


def test_a_snapshot_of_a_long_queue_rebuilds_only_the_job_that_changed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """get -i with thousands of URLs took a snapshot per ended file, each of every job."""
    ledger = Ledger()
    queue = jobs(2000)
    ledger.load(queue)
    ledger.snapshot(frozenset(), {}, 8)
    built: list[str] = []

    def counting(job: Job, *args: Any) -> Any:
        built.append(job.id)
        return job_snapshot(job, *args)

    monkeypatch.setattr(ledger_module, "job_snapshot", counting)
    ledger.replace(queue[1500].with_changes(status=Phase.DONE))
    running = _CountingDict()
    snap = ledger.snapshot(frozenset(), running, 8)
    assert built == [queue[1500].id]
    assert running.looks <= 1, f"asked about {running.looks} jobs: it walked the queue"
    assert snap.jobs[1500].status is Phase.DONE and len(snap.jobs) == 2000


def test_the_look_for_queued_jobs_starts_past_the_ended_ones() -> None:
    ledger = Ledger()
    queue = jobs(6)
    ledger.load(queue)
    for job in queue[:4]:
        ledger.replace(job.with_changes(status=Phase.DONE))
    assert ledger.queued(8, set()) == queue[4:]
    ledger.replace(queue[1].with_changes(status=Phase.QUEUED))  # a retry, far back
    assert ledger.queued(1, set()) == [queue[1].with_changes(status=Phase.QUEUED)]


class _CountingDict(dict[str, Any]):
    """The running downloads (none here), counting how many jobs were asked about."""

    looks = 0

    def get(self, key: str, default: Any = None) -> Any:
        self.looks += 1
        return super().get(key, default)
