"""The servers of one file: shares by speed, retiring a failing or far slower server,
and the state files of schema 1 (no mirrors) read by schema 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rangetui.core.api import Add, command_from_json, command_to_json
from rangetui.core.errors import Refused, RetriableError
from rangetui.core.jobs import JobList
from rangetui.core.mirrors import SAMPLE_BYTES, agreeing_sources, mirror_http, sample_ranges
from rangetui.core.sources import (
    FORGIVING_BYTES,
    PROBATION_WID,
    SLOW_FACTOR,
    STRIKE_SPACING,
    STRIKES,
    Source,
    SourceSet,
)
from rangetui.core.spread import shares
from rangetui.core.store import SCHEMA, CorruptState, Store, _digest, read_json
from rangetui.core.types import HttpOptions, Remote
from tests.cli_helpers import wait_for
from tests.conftest import payload
from tests.fake_clock import FakeClock
from tests.faultserver import FaultServer

MIB = 1024 * 1024

REMOTE = Remote("http://a/f", 10_000_000, '"x"', None, True)


def sources(count: int, clock: FakeClock, said: list[str]) -> SourceSet:
    found = [Source(i, f"http://h{i}/f", REMOTE, HttpOptions()) for i in range(count)]
    return SourceSet(found, said.append, clock)


@pytest.mark.parametrize(
    ("wanted", "rates", "expected"),
    [
        (8, [None, None], [4, 4]),
        (8, [1.0, 0.0], [7, 1]),
        (8, [30.0, 10.0], [6, 2]),
        (1, [1.0, 5.0], [0, 1]),
        (3, [None, None, None], [1, 1, 1]),
        (8, [None, 0.0], [7, 1]),
    ],
)
def test_shares_follow_speed_with_one_each(
    wanted: int, rates: list[float | None], expected: list[int]
) -> None:
    assert shares(wanted, rates) == expected


def test_a_new_mirror_is_measured_on_a_connection_on_top_of_the_count() -> None:
    clock, said = FakeClock(), []
    s = sources(2, clock, said)
    url, mirror = s.all
    s.rebalance(8)
    assert all(s.assigned(w) is url for w in range(8)), "the URL keeps the whole count"
    assert s.probation() == {PROBATION_WID + 1: mirror}
    assert s.keeps(PROBATION_WID + 1, mirror)
    for _ in range(12):  # 1.2 s of the mirror at half the URL's speed per connection
        clock.now += 0.1
        s.received(url, 1_000_000)
        s.received(mirror, 500_000)
        s.sample({0: 1, 1: 1})
    assert mirror.live and s.probation() == {}
    assert not s.keeps(PROBATION_WID + 1, mirror), "its probation worker ends"
    s.rebalance(8)  # at once: the end of a probation forces it
    owners = [s.assigned(w).index for w in range(8)]
    assert sorted(owners) == [0] * 5 + [1] * 3


def test_a_mirror_without_a_slot_for_its_probation_shares_the_count() -> None:
    s = sources(2, FakeClock(), [])
    mirror = s.all[1]
    s.rebalance(8)
    s.no_probation(mirror)  # its host had no slot for a connection on top of the count
    assert s.probation() == {}
    s.rebalance(8)
    owners = [s.assigned(w).index for w in range(8)]
    assert sorted(owners) == [0] * 7 + [1], "one of the count measures it"


def test_no_probation_when_the_mirror_is_the_only_live_server() -> None:
    s = sources(2, FakeClock(), [])
    url, mirror = s.all
    s.retire(url, "far slower than a mirror")
    assert s.probation() == {}
    s.rebalance(4)
    assert all(s.assigned(w) is mirror for w in range(4))


def feed(s: SourceSet, clock: FakeClock, fast: Source, slow: Source, ticks: int = 20) -> None:
    """A tenth of a second per tick, ``slow`` at 1/16 of ``fast``'s speed per connection."""
    for _ in range(ticks):
        clock.now += 0.1
        s.received(fast, 1_000_000)
        s.received(slow, int(1_000_000 / (SLOW_FACTOR * 2)))
        s.sample({0: 1, 1: 1})


def test_a_far_slower_server_is_retired_and_its_workers_move() -> None:
    clock, said = FakeClock(), []
    s = sources(2, clock, said)
    fast, slow = s.all
    feed(s, clock, fast, slow)
    assert not slow.live and fast.live
    assert any("far slower" in line and "mirror http://h1/f" in line for line in said)
    s.rebalance(8)
    assert all(s.assigned(w) is fast for w in range(8))
    assert not s.keeps(7, slow)


def drop(s: SourceSet, source: Source, clock: FakeClock) -> bool:
    """One failed request, apart from the last by more than a burst."""
    clock.now += STRIKE_SPACING
    return s.strike(source, RetriableError("dropped"))


def bench_the_slow_one(s: SourceSet, clock: FakeClock) -> tuple[Source, Source]:
    fast, slow = s.all[1], s.all[0]
    feed(s, clock, fast, slow)
    assert not slow.live and slow.benched
    return fast, slow


def test_a_slow_server_comes_back_when_the_fast_one_keeps_failing() -> None:
    """The fast mirror sent quickly, then drops every request: the URL, benched for
    being slow, is used again rather than the download failing with the mirror."""
    clock, said = FakeClock(), []
    s = sources(2, clock, said)
    fast, slow = bench_the_slow_one(s, clock)
    assert not drop(s, fast, clock), "one failure: the caller retries"
    assert not slow.live
    assert drop(s, fast, clock), "the second: the URL is back"
    assert slow.live and not slow.benched and slow.rate is None, "to be measured afresh"
    assert any("the URL http://h0/f: back in use" in line for line in said), said
    s.rebalance(8)
    assert {s.assigned(w).index for w in range(8)} == {0, 1}
    for _ in range(STRIKES):
        drop(s, fast, clock)
    assert not fast.live and not fast.benched, "retired for failing, for good"
    for _ in range(STRIKES):
        assert not drop(s, slow, clock), "the last one is the caller's"
    assert not fast.live


def test_a_burst_of_failures_is_one_strike() -> None:
    """All eight connections of the mirror reset at once (a blip): the URL stays benched
    and the mirror in use."""
    clock = FakeClock()
    s = sources(2, clock, [])
    fast, slow = bench_the_slow_one(s, clock)
    for _ in range(8):
        clock.now += 0.01
        assert not s.strike(fast, RetriableError("reset"))
    assert fast.live and not slow.live and fast.strikes == 1


def test_an_error_not_worth_a_retry_brings_the_benched_back_at_once() -> None:
    clock, said = FakeClock(), []
    s = sources(2, clock, said)
    fast, slow = bench_the_slow_one(s, clock)
    assert s.strike(fast, Refused("403 Forbidden", 403)), "the URL goes on"
    assert slow.live and not fast.live
    assert any("403" in line and "mirror http://h1/f" in line for line in said), said


def test_a_server_brought_back_is_never_benched_again() -> None:
    """No back and forth: the mirror that failed twice completes again and is fast, but
    the URL stays in use (with a share by speed)."""
    clock, said = FakeClock(), []
    s = sources(2, clock, said)
    fast, slow = bench_the_slow_one(s, clock)
    drop(s, fast, clock)
    drop(s, fast, clock)
    s.completed(fast, MIB)
    feed(s, clock, fast, slow, ticks=30)
    assert slow.live
    assert sum("far slower" in line for line in said) == 1, said
    s.rebalance(8)
    assert sorted(s.assigned(w).index for w in range(8)) == [0] + [1] * 7


def test_a_completed_request_between_failures_brings_no_one_back() -> None:
    clock = FakeClock()
    s = sources(2, clock, [])
    fast, slow = bench_the_slow_one(s, clock)
    for _ in range(4):
        assert not drop(s, fast, clock)
        s.completed(fast, MIB)
    assert not slow.live


def test_a_server_failing_since_its_last_request_benches_no_one() -> None:
    """Its speed is the start of answers it drops: the slower server stays in use."""
    clock = FakeClock()
    s = sources(2, clock, [])
    url, dropping = s.all
    s.strike(dropping, RetriableError("dropped"))
    feed(s, clock, dropping, url)
    assert url.live


def test_strikes_retire_a_server_but_never_the_last() -> None:
    clock, said = FakeClock(), []
    s = sources(2, clock, said)
    primary, mirror = s.all
    for _ in range(STRIKES - 1):
        assert drop(s, mirror, clock)
    assert mirror.live
    assert drop(s, mirror, clock)
    assert not mirror.live
    assert not s.strike(primary, Refused("404", 404)), "the last server's error is the caller's"
    assert primary.live


def test_a_completed_request_forgives_strikes() -> None:
    s = sources(2, FakeClock(), [])
    mirror = s.all[1]
    for _ in range(STRIKES * 2):
        s.strike(mirror, RetriableError("dropped"))
        s.completed(mirror, MIB)
    assert mirror.live


def test_short_requests_that_arrive_whole_forgive_nothing() -> None:
    """A mirror that drops every answer past 200 KB completes only a tail's short
    requests: it is still retired after three failures."""
    clock = FakeClock()
    s = sources(2, clock, [])
    mirror = s.all[1]
    for _ in range(STRIKES):
        drop(s, mirror, clock)
        s.completed(mirror, FORGIVING_BYTES - 1)
    assert not mirror.live


def test_a_mirror_found_after_the_end_is_not_added_or_said() -> None:
    said: list[str] = []
    s = sources(1, FakeClock(), said)
    s.close()
    s.add("http://late/f", REMOTE, HttpOptions())
    assert len(s.all) == 1 and said == []


def test_sample_ranges_are_inside_the_file_and_not_only_at_zero() -> None:
    ranges = sample_ranges(10_000_000)
    assert len(ranges) == 2 and ranges[-1] == (10_000_000 - SAMPLE_BYTES, 10_000_000)
    assert all(0 <= a < b <= 10_000_000 and b - a == SAMPLE_BYTES for a, b in ranges)
    assert sample_ranges(100) == [(0, 100)]


def test_user_headers_stay_with_the_urls_host() -> None:
    http = HttpOptions(headers=(("Authorization", "Bearer t"), ("User-Agent", "me")))
    assert mirror_http(http, "http://a/f", "http://a/g") is http
    assert mirror_http(http, "http://a/f", "http://b/f").headers == (("User-Agent", "me"),)


def test_an_add_with_mirrors_crosses_the_socket() -> None:
    add = Add("http://a/f", "/tmp", mirrors=("http://b/f", "http://c/f"))
    assert command_from_json(json.loads(json.dumps(command_to_json(add)))) == add


def _write_v1(path: Path, data: object) -> None:
    envelope = {"schema": 1, "sha256": _digest(data), "data": data}
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.write_text(json.dumps(envelope), encoding="utf-8")


V1_JOB = {
    "id": "abc123def456",
    "url": "http://a/f",
    "directory": "/tmp",
    "output": None,
    "options": {"connections": 4, "http": {"headers": []}},
    "status": "paused",
    "completed": 5,
    "added": 1.0,
}


def test_a_schema_1_queue_is_migrated(state_dir: Path) -> None:
    store = Store(state_dir)
    joblist = JobList(store)
    _write_v1(joblist.path, {"jobs": [V1_JOB]})
    jobs, note = joblist.load()
    assert note is None and len(jobs) == 1
    assert jobs[0].id == "abc123def456" and jobs[0].mirrors == ()
    joblist.save([jobs[0].with_changes(mirrors=("http://b/f",))])
    saved = json.loads(joblist.path.read_text(encoding="utf-8"))
    assert saved["schema"] == SCHEMA == 2
    assert saved["data"]["jobs"][0]["mirrors"] == ["http://b/f"]
    assert joblist.load()[0][0].mirrors == ("http://b/f",)


def test_a_schema_1_map_is_migrated(state_dir: Path) -> None:
    store = Store(state_dir)
    target = state_dir / "f.bin"
    old = {
        "target": str(target),
        "url": "http://a/f",
        "remote": {
            "url": "http://a/f",
            "size": 10,
            "etag": None,
            "last_modified": None,
            "accept_ranges": True,
        },
        "block_size": 4,
        "done": [[0, 4]],
        "boot_id": None,
    }
    _write_v1(store.map_path(target), old)
    state = store.load_map(target)
    assert state is not None and state.mirrors == [] and state.done == [(0, 4)]


def test_a_state_file_of_a_later_schema_is_set_aside(state_dir: Path) -> None:
    path = state_dir / "queue.json"
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    data = {"jobs": []}
    path.write_text(json.dumps({"schema": SCHEMA + 1, "sha256": _digest(data), "data": data}))
    with pytest.raises(CorruptState, match="damaged"):
        read_json(path)
    assert not path.exists()


def test_the_urls_samples_failing_is_one_line_after_one_retry(
    server: FaultServer, mirror: FaultServer
) -> None:
    """The samples are read on a thread of their own: when the URL will not give them,
    no mirror is checked, one line says so, and the download goes on from the URL."""
    data = payload(MIB, seed=3)
    url = server.add("/f.bin", data, status=404)
    other = mirror.add("/f.bin", data)
    said: list[str] = []
    remote = Remote(url, len(data), None, None, True)
    found = agreeing_sources(url, remote, [other], HttpOptions(), said.append)
    wait_for(lambda: said, 10, "the line about the samples")
    assert len(said) == 1 and said[0].startswith("mirrors not checked: the URL's samples failed")
    assert "404" in said[0], said
    assert len(server.requests) == 2, "one retry"
    assert mirror.requests == [] and len(found.all) == 1
