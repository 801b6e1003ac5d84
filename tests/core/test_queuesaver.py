"""When the queue is written: a user's command at once, the downloads' changes at most
once a second (a save per ended file made a long list's cost grow with its square)."""

from __future__ import annotations

from pathlib import Path

from rangetui.core.jobs import Job, JobList, MemoryJobList
from rangetui.core.ledger import Ledger
from rangetui.core.queuesaver import COST_SHARE, SAVE_SECONDS, QueueSaver
from rangetui.core.store import Store
from rangetui.core.types import Options, Phase
from tests.fake_clock import FakeClock


def saved_statuses(joblist: JobList) -> list[Phase]:
    return [job.status for job in joblist.load()[0]]


def test_ends_are_saved_at_most_once_a_second_and_commands_at_once(tmp_path: Path) -> None:
    joblist, ledger, clock = JobList(Store(tmp_path)), Ledger(), FakeClock()
    jobs = [Job.new(f"http://h/f{i}", tmp_path, None, Options()) for i in range(3)]
    ledger.load(jobs)
    saver = QueueSaver(joblist, ledger, clock)

    ledger.replace(jobs[0].with_changes(status=Phase.DONE))  # a download ended
    assert not saver.due(asked=False, running=True)
    clock.now += SAVE_SECONDS / 2
    ledger.replace(jobs[1].with_changes(status=Phase.DONE))
    assert not saver.due(asked=False, running=True)
    clock.now += SAVE_SECONDS / 2
    assert saver.due(asked=False, running=True)
    saver.save({})
    assert saved_statuses(joblist) == [Phase.DONE, Phase.DONE, Phase.QUEUED]

    ledger.replace(jobs[2].with_changes(status=Phase.PAUSED))  # a user's pause
    assert saver.due(asked=True, running=False), "a command is saved at once"
    saver.save({})
    assert saved_statuses(joblist)[2] is Phase.PAUSED
    assert not saver.due(asked=True, running=False), "nothing changed since"
    clock.now += SAVE_SECONDS
    assert not saver.due(asked=False, running=False), "nothing changed, nothing running"
    assert saver.due(asked=False, running=True), "running downloads' progress, each second"


def test_gets_queue_is_never_saved(tmp_path: Path) -> None:
    ledger, clock = Ledger(), FakeClock()
    ledger.load([Job.new("http://h/f", tmp_path, None, Options())])
    saver = QueueSaver(MemoryJobList(Store(tmp_path)), ledger, clock)
    clock.now += 10 * SAVE_SECONDS
    assert not saver.due(asked=True, running=True)


class SlowJobList(JobList):
    """The real queue file, with a save that takes 50 ms of the test's clock."""

    def __init__(self, store: Store, clock: FakeClock) -> None:
        super().__init__(store)
        self.clock = clock
        self.saves = 0

    def save(self, jobs: list[Job]) -> None:
        super().save(jobs)
        self.saves += 1
        self.clock.now += 0.05


def test_saving_takes_at_most_a_tenth_of_the_time_and_no_command_is_forgotten(
    tmp_path: Path,
) -> None:
    """An `add -i` of thousands is as many commands, each of which saved a queue of
    thousands (4000 URLs took 36 s to add)."""
    clock = FakeClock()
    joblist, ledger = SlowJobList(Store(tmp_path), clock), Ledger()
    saver = QueueSaver(joblist, ledger, clock)
    for i in range(30):  # a command every 10 ms
        ledger.append(Job.new(f"http://h/f{i}", tmp_path, None, Options()))
        if saver.due(asked=True, running=False):
            saver.save({})
        clock.now += 0.01
    assert joblist.saves <= 2 + 30 * 0.01 / (COST_SHARE * 0.05), joblist.saves
    clock.now += COST_SHARE * 0.05
    assert saver.due(asked=False, running=False), "the last commands are saved all the same"
    saver.save({})
    assert len(joblist.load()[0]) == 30
