"""Root downloads into a directory that another user may write (0777, and sticky 1777).

The attacker is ``nobody`` in a real process (tests/attack_helpers.py). It plants links
and files at the names rangetui is about to use, and swaps the fresh ``.part`` for a
link after rangetui opened it. Whatever it does, root must never write through a link,
never adopt a file it did not create, and never name a file OUT that is not the one it
wrote; where it cannot finish safely it says so in one sentence.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rangetui.core.http.connection import Connection
from rangetui.core.store import ResumeState, Store
from rangetui.core.types import HttpOptions
from tests.attack_helpers import (
    as_nobody,
    assert_root_owned_file,
    assert_victim_intact,
    needs_root,
    shared_dir,
    start_as_nobody,
    stop,
    victim_file,
)
from tests.cli_helpers import (
    MiB,
    assert_clean_failure,
    finish,
    part_of,
    run_get,
    start_get,
    wait_for,
)
from tests.conftest import payload
from tests.faultserver import FaultServer

pytestmark = [needs_root, pytest.mark.timeout(120)]

PLANT_LINK = "import os, sys; os.symlink(sys.argv[1], sys.argv[2])"
PLANT_FILE = """
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
os.ftruncate(fd, int(sys.argv[2]))
os.pwrite(fd, b"attacker bytes " * 64, 0)
os.fchmod(fd, 0o666)
os.close(fd)
"""
SWAP_AFTER_OPEN = """
import os, sys, time
part, victim, stolen = sys.argv[1:4]
deadline = time.monotonic() + 30
while not os.path.lexists(part):
    if time.monotonic() > deadline:
        print("never saw the part file")
        sys.exit(0)
try:
    os.rename(part, stolen)
except OSError as e:
    print("rename refused:", e.strerror)
    sys.exit(0)
os.symlink(victim, part)
print("swapped")
"""
FLICKER_LINKS = """
import os, sys, time
victim, until = sys.argv[1], time.monotonic() + float(sys.argv[2])
names = sys.argv[3:]
while time.monotonic() < until:
    for name in names:
        try:
            os.symlink(victim, name)
        except OSError:
            continue
        try:
            os.unlink(name)
        except OSError:
            pass
"""
REPLACE_PART = """
import os, sys
part, stolen = sys.argv[1:3]
try:
    os.rename(part, stolen)
except OSError as e:
    print("rename refused:", e.strerror)
    sys.exit(0)
size = os.stat(stolen).st_size
fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
os.ftruncate(fd, size)
os.fchmod(fd, 0o666)
os.close(fd)
print("replaced")
"""


@pytest.fixture(params=[0o777, 0o1777], ids=["0777", "1777"])
def shared(request: pytest.FixtureRequest) -> Iterator[Path]:
    yield from shared_dir(request.param)


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    return victim_file(tmp_path)


def test_a_link_planted_at_the_part_file_is_never_followed(
    server: FaultServer, shared: Path, victim: Path
) -> None:
    url = server.add("/a.bin", payload(2 * MiB, seed=1))
    out = shared / "a.bin"
    as_nobody(PLANT_LINK, victim, part_of(out))
    result = run_get(url, "-o", out, "-t", "2")
    assert_clean_failure(result, max_lines=1)
    assert "link" in result.stderr, result.describe()
    assert_victim_intact(victim)
    assert not out.exists() and not out.is_symlink(), "OUT was created"


def test_a_link_planted_at_out_is_replaced_not_followed(
    server: FaultServer, shared: Path, victim: Path
) -> None:
    data = payload(2 * MiB, seed=2)
    url = server.add("/b.bin", data)
    out = shared / "b.bin"
    as_nobody(PLANT_LINK, victim, out)
    result = run_get(url, "-o", out, "-t", "2")
    assert result.code == 0, result.describe()
    assert_victim_intact(victim)
    assert_root_owned_file(out, data)


def test_a_part_file_of_another_user_is_never_adopted(
    server: FaultServer, shared: Path, victim: Path
) -> None:
    data = payload(2 * MiB, seed=3)
    url = server.add("/c.bin", data)
    out = shared / "c.bin"
    as_nobody(PLANT_FILE, part_of(out), len(data))
    result = run_get(url, "-o", out, "-t", "2")
    assert_clean_failure(result, max_lines=1)
    assert "uid 65534" in result.stderr, result.describe()
    assert not out.exists(), "the attacker's file became OUT"


@pytest.mark.parametrize("where", ["-o", "-d"])
def test_the_part_file_swapped_for_a_link_after_it_was_opened(
    server: FaultServer, shared: Path, victim: Path, where: str
) -> None:
    """In 0777 the swap succeeds: root must notice, write nothing through the link and not
    name the link OUT. In 1777 it cannot (the sticky bit), and the download finishes."""
    data = payload(4 * MiB, seed=4)
    url = server.add("/d.bin", data, rate=2 * MiB)
    out = shared / "d.bin"
    stolen = shared / "stolen.bin"
    attacker = start_as_nobody(SWAP_AFTER_OPEN, part_of(out), victim, stolen)
    time.sleep(0.3)  # the attacker is polling before the download starts
    place = ("-o", out) if where == "-o" else ("-d", shared)
    result = run_get(url, *place, "-t", "4", "-s", "256K")
    said, _ = stop(attacker)
    assert_victim_intact(victim)
    if "swapped" in said:
        assert_clean_failure(result, max_lines=2)  # a progress line may come first
        assert "replaced" in result.lines[-1], result.describe()
        assert not out.is_symlink(), "OUT is the attacker's link"
    else:
        assert "rename refused" in said, said
        assert result.code == 0, result.describe()
        assert_root_owned_file(out, data)


def test_links_flickering_at_the_names_a_dir_download_picks(
    server: FaultServer, shared: Path, victim: Path
) -> None:
    """The -d name is chosen, then created: the attacker plants and removes links at every
    candidate .part name as fast as it can, hoping to land one in between. (It never
    landed one in 40 runs before O_EXCL either: the window is microseconds. The swap
    above is what won that race.)"""
    data = payload(256 * 1024, seed=5)
    url = server.add("/race.bin", data)
    runs = 4
    names = [shared / "race.bin"] + [shared / f"race ({i}).bin" for i in range(1, runs + 2)]
    targets = [str(part_of(n)) for n in names]
    attacker = start_as_nobody(FLICKER_LINKS, victim, "60", *targets)
    try:
        for _ in range(runs):
            result = run_get(url, "-d", shared, "-t", "2")
            assert result.code == 0, result.describe()
            saved = Path(result.lines[-1].split("saved ", 1)[1].rsplit(" (", 1)[0])
            assert_root_owned_file(saved, data)
            assert_victim_intact(victim)
    finally:
        attacker.kill()
        stop(attacker)
    assert_victim_intact(victim)


def test_a_resume_never_adopts_a_part_file_swapped_in_by_another_user(
    server: FaultServer, shared: Path, victim: Path
) -> None:
    """Root is stopped mid-way; nobody replaces the .part with its own file of the same
    size (possible in 0777 only). The rerun must not splice the attacker's bytes in, and
    in 1777 it must still find and resume its own .part."""
    data = payload(4 * MiB, seed=6)
    url = server.add("/e.bin", data, rate=512 * 1024)
    out = shared / "e.bin"
    first = start_get(url, "-d", shared, "-t", "2", "-b", "64K")
    try:
        wait_for(lambda: server.bytes_sent("/e.bin") >= MiB, 20, "1 MiB")
        time.sleep(1.2)  # a checkpoint
    finally:
        first.terminate()
    assert finish(first, 10).code != 0
    said = as_nobody(REPLACE_PART, part_of(out), shared / "stolen.bin")
    server.resource("/e.bin").rate = None
    result = run_get(url, "-d", shared, "-t", "2")
    assert result.code == 0, result.describe()
    saved = Path(result.lines[-1].split("saved ", 1)[1].rsplit(" (", 1)[0])
    assert_root_owned_file(saved, data)
    if "replaced" in said:
        assert saved != out, "the attacker's .part was adopted"
    else:
        assert "rename refused" in said, said
        assert saved == out and "resum" in result.stderr, result.describe()


REPLACE_OUT = """
import os, sys
out, size = sys.argv[1], int(sys.argv[2])
os.rename(out, out + ".stolen")
fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
os.ftruncate(fd, size)
os.fchmod(fd, 0o666)
os.close(fd)
"""


def test_a_finished_file_swapped_in_by_another_user_is_not_called_complete(
    server: FaultServer, state_dir: Path
) -> None:
    """A crash between the rename and dropping the map leaves a map that claims OUT
    whole; a rerun trusts it ("already complete"). In a 0777 dir nobody may have put
    its own file of the right size there meanwhile: that is not our finished file."""
    for shared in shared_dir(0o777):
        data = payload(MiB, seed=7)
        url = server.add("/f.bin", data)
        first = run_get(url, "-d", shared)
        assert first.code == 0, first.describe()
        with Connection(HttpOptions()) as conn:
            remote = conn.probe(url)
        out = shared / "f.bin"
        Store(state_dir).save_map(ResumeState(str(out), url, remote, MiB, [(0, len(data))]))
        as_nobody(REPLACE_OUT, out, len(data))
        result = run_get(url, "-d", shared)
        assert result.code == 0 and "already" not in result.stderr, result.describe()
        saved = Path(result.lines[-1].split("saved ", 1)[1].rsplit(" (", 1)[0])
        assert saved != out
        assert_root_owned_file(saved, data)
