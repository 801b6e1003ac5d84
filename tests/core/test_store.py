"""Persistence: atomic envelopes, corrupt files set aside, owner-only permissions."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest

from rangetui.core.setaside import expire_set_aside
from rangetui.core.store import (
    CorruptState,
    ResumeState,
    Store,
    atomic_write_json,
    read_json,
)
from rangetui.core.types import Remote

REMOTE = Remote("http://h/f", 100, '"e"', None, True)


def test_round_trip(tmp_path: Path) -> None:
    store = Store(tmp_path / "s")
    state = ResumeState(str(tmp_path / "f"), "http://h/f", REMOTE, 10, [(0, 30), (50, 60)])
    store.save_map(state)
    loaded = store.load_map(tmp_path / "f")
    assert loaded == state


def test_missing_is_none(tmp_path: Path) -> None:
    assert Store(tmp_path).load_map(tmp_path / "nothing") is None


@pytest.mark.parametrize(
    "damage",
    [
        lambda raw: raw[: len(raw) // 2],  # torn write
        lambda raw: raw.replace(b'"done"', b'"dune"'),  # edited: checksum no longer matches
        lambda raw: b"\x00\xff garbage",
        lambda raw: json.dumps({"schema": 999, "sha256": "", "data": {}}).encode(),
    ],
)
def test_corrupt_file_is_set_aside_and_reported(tmp_path: Path, damage) -> None:  # type: ignore[no-untyped-def]
    store = Store(tmp_path / "s")
    target = tmp_path / "f"
    store.save_map(ResumeState(str(target), "http://h/f", REMOTE, 10, [(0, 30)]))
    path = store.map_path(target)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(CorruptState, match="moved it to"):
        store.load_map(target)
    assert not path.exists()
    assert list(path.parent.glob(path.name + ".corrupt-*"))
    assert store.load_map(target) is None  # next run starts clean


def test_valid_envelope_with_wrong_shape_is_set_aside(tmp_path: Path) -> None:
    store = Store(tmp_path / "s")
    target = tmp_path / "f"
    atomic_write_json(store.map_path(target), {"target": str(target)})
    with pytest.raises(CorruptState):
        store.load_map(target)


def test_files_are_private(tmp_path: Path) -> None:
    root = tmp_path / "s"
    atomic_write_json(root / "x.json", {"a": 1})
    assert stat.S_IMODE((root / "x.json").stat().st_mode) == 0o600
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    assert read_json(root / "x.json") == {"a": 1}
    assert not [p for p in root.iterdir() if p.name.endswith(".tmp")]


def test_state_root_honours_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RANGETUI_STATE_DIR", str(tmp_path / "here"))
    assert Store().root == tmp_path / "here"


def test_a_map_holds_no_credentials_and_still_belongs_to_its_url(tmp_path: Path) -> None:
    """L10: a map outlives its job, so the URL's password is never written to it; a map
    of an older version that holds one loses it on reading."""
    store = Store(tmp_path / "s")
    secret_url = "http://alice:pw-S3cret@h/f"
    remote = Remote(secret_url, 100, '"e"', None, True)
    mirrors = ["http://bob:pw-S3cret@m/f", "http://m2/f"]
    state = ResumeState(str(tmp_path / "f"), secret_url, remote, 10, [(0, 30)], None, mirrors)
    store.save_map(state)
    assert b"S3cret" not in store.map_path(tmp_path / "f").read_bytes()
    loaded = store.load_map(tmp_path / "f")
    assert loaded is not None and loaded.is_of(secret_url) and not loaded.is_of("http://h/g")
    assert loaded.url == "http://h/f" and loaded.remote.url == "http://h/f"
    assert loaded.mirrors == ["http://m2/f"], "a mirror needing credentials is not remembered"
    old = {**state.to_json(), "url": secret_url, "mirrors": mirrors}
    old["remote"] = {**old["remote"], "url": secret_url}
    older = ResumeState.from_json(old)
    assert "S3cret" not in json.dumps(older.to_json()) and older.is_of(secret_url)


def test_only_set_aside_files_past_their_time_are_removed(tmp_path: Path) -> None:
    (tmp_path / "queue.json.corrupt-20200101-000000").write_text("x")
    (tmp_path / "queue.json.corrupt-29991231-000000").write_text("x")
    (tmp_path / "queue.json.corrupt-garbage").write_text("x")
    (tmp_path / "queue.json").write_text("x")
    (tmp_path / "maps.corrupt-20200101-000000").mkdir()
    removed = expire_set_aside(tmp_path)
    assert [p.name for p in removed] == ["queue.json.corrupt-20200101-000000"]
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == [
        "maps.corrupt-20200101-000000",
        "queue.json",
        "queue.json.corrupt-29991231-000000",
        "queue.json.corrupt-garbage",
    ]


def test_a_state_dir_removed_while_running_is_made_again(tmp_path: Path) -> None:
    """Dirs are checked once per process; one that went away is made (and checked) anew."""
    store = Store(tmp_path / "s")
    state = ResumeState(str(tmp_path / "f"), "http://h/f", REMOTE, 10, [(0, 30)])
    store.save_map(state)
    shutil.rmtree(tmp_path / "s")
    store.save_map(state)
    assert store.load_map(tmp_path / "f") == state
    assert stat.S_IMODE((tmp_path / "s" / "maps").stat().st_mode) == 0o700


def test_a_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    for n in range(3):
        atomic_write_json(tmp_path / "x.json", {"n": n})
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]
    assert read_json(tmp_path / "x.json") == {"n": 2}


def test_temp_files_of_a_writer_that_died_are_removed_at_the_next_start(tmp_path: Path) -> None:
    """A kill -9 between creating a state file's temp and renaming it left the temp for
    good; its name says whose it was, so the next start removes those of dead writers."""
    store = Store(tmp_path / "s")
    store.check()
    dead_pid = _ended_pid()
    maps = store.maps_dir
    dead = maps / f".abc.json.{dead_pid}-3.tmp"
    live = maps / f".abc.json.{os.getpid()}-4.tmp"
    old = store.finished_dir / ".def.json.x1y2z3ab.tmp"
    maps.mkdir(mode=0o700)
    store.finished_dir.mkdir(mode=0o700)
    for path in (dead, live, old):
        path.write_text("{")
    os.utime(old, (time.time() - 2 * 86400,) * 2)
    store.check()
    assert not dead.exists() and not old.exists()
    assert live.exists(), "a running writer's temp is left alone"


def _ended_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid
