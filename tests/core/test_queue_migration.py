"""The saved queue across versions: a queue saved before --fixed existed still loads."""

from __future__ import annotations

from pathlib import Path

from rangetui.core.jobs import QUEUE_VERSION, Job, JobList, migrate
from rangetui.core.store import Store, atomic_write_json, read_json
from rangetui.core.types import Options, Phase

V1_JOB = {
    "id": "abc123def456",
    "url": "https://example.org/a.iso",
    "directory": "/srv/downloads",
    "output": None,
    "options": {
        "connections": 6,
        "block_size": 1048576,
        "buffer_size": 1048576,
        "retries": 5,
        "limit_rate": None,
        "checksum": None,
        "checksum_file": None,
        "http": {"headers": [], "timeout": 15.0, "verify": True},
    },
    "status": "paused",
    "target": "/srv/downloads/a.iso",
    "size": 1000,
    "completed": 500,
    "error": None,
    "etag": None,
    "last_modified": None,
    "added": 1700000000.0,
    "finished": None,
    "started": None,
}


def test_a_version_1_queue_loads_as_adaptive(tmp_path: Path) -> None:
    """Saved before counts adapted: no ``version``, no ``options.fixed``. Those jobs never
    chose a fixed count, so they get today's default: -t is the most, not the rule."""
    store = Store(tmp_path)
    atomic_write_json(store.root / "queue.json", {"jobs": [V1_JOB]})
    jobs, note = JobList(store).load()
    assert note is None
    [job] = jobs
    assert job.options.connections == 6 and job.options.fixed is False
    assert job.status is Phase.PAUSED and job.completed == 500


def test_the_queue_is_saved_with_its_version_and_fixed(tmp_path: Path) -> None:
    store = Store(tmp_path)
    job = Job.new("https://example.org/b", tmp_path, None, Options(connections=3, fixed=True))
    JobList(store).save([job])
    data = read_json(store.root / "queue.json")
    assert data["version"] == QUEUE_VERSION == 2
    assert data["jobs"][0]["options"]["fixed"] is True
    [loaded], _ = JobList(store).load()
    assert loaded == job


def test_migrate_leaves_a_current_record_alone() -> None:
    current = {**V1_JOB, "options": {**V1_JOB["options"], "fixed": True}}  # type: ignore[dict-item]
    assert migrate(current, QUEUE_VERSION) == current
    assert migrate(current, 1)["options"]["fixed"] is True, "never overwrites a saved choice"


def test_a_record_that_is_not_an_object_is_skipped(tmp_path: Path) -> None:
    store = Store(tmp_path)
    atomic_write_json(store.root / "queue.json", {"version": 2, "jobs": [V1_JOB, "junk", 3]})
    jobs, note = JobList(store).load()
    assert len(jobs) == 1 and note is not None and "skipped 2" in note
