"""Mirrors through the background engine: `rangetui add --mirror`, `-i` lines with tabs,
and what `ls --json` shows of them (redacted)."""

from __future__ import annotations

from pathlib import Path

from rangetui.core.mirrors import SAMPLE_BYTES
from tests.cli_helpers import MiB, assert_saved
from tests.conftest import payload
from tests.daemon_helpers import add, job_in, wait_status
from tests.faultserver import FaultServer

SIZE = 8 * MiB
SAMPLES = 2 * SAMPLE_BYTES


def test_add_with_mirror_fetches_from_both(
    server: FaultServer, mirror: FaultServer, state_dir: Path, downloads: Path
) -> None:
    data = payload(SIZE, seed=3)
    url = server.add("/f.bin", data, rate=MiB)
    other = mirror.add("/f.bin", data, rate=MiB)
    secret = other.replace("http://", "http://user:hunter2@")
    (job_id,) = add(url, "--mirror", secret, "-d", downloads, "-t", "8")
    job = wait_status(state_dir, job_id, "done", timeout=60)
    assert_saved(downloads / "f.bin", data)
    assert mirror.bytes_sent("/f.bin") > SAMPLES
    assert job["mirrors"] == [other], job
    assert "hunter2" not in str(job_in(state_dir, job_id))


def test_add_reads_tab_separated_mirrors(
    server: FaultServer, mirror: FaultServer, state_dir: Path, downloads: Path, tmp_path: Path
) -> None:
    data = payload(SIZE, seed=4)
    url = server.add("/g.bin", data, rate=MiB)
    other = mirror.add("/g.bin", data, rate=MiB)
    listing = tmp_path / "list.txt"
    listing.write_text(f"{url}\t{other}\n  out=g-named.bin\n", encoding="utf-8")
    (job_id,) = add("-i", listing, "-d", downloads, "-t", "8")
    wait_status(state_dir, job_id, "done", timeout=60)
    assert_saved(downloads / "g-named.bin", data)
    assert mirror.bytes_sent("/g.bin") > SAMPLES
