"""The log file keeps every event after the terminal is gone, and never a secret."""

from __future__ import annotations

import stat
from pathlib import Path

from tests.cli_helpers import MiB, run_get
from tests.conftest import payload
from tests.faultserver import FaultServer

PASSWORD = "hunter2-pw"
TOKEN = "tok-98765"


def test_get_writes_its_events_to_the_log_without_secrets(
    server: FaultServer, downloads: Path, state_dir: Path
) -> None:
    url = server.add("/logged.bin", payload(MiB, seed=1))
    secret_url = url.replace("http://", f"http://alice:{PASSWORD}@")
    result = run_get(secret_url, "-d", downloads, "--header", f"X-Api-Key: {TOKEN}")
    assert result.code == 0, result.describe()
    log = state_dir / "log" / "rangetui.log"
    text = log.read_text()
    assert f"added {url}" in text and "done: " in text, text
    assert PASSWORD not in text and TOKEN not in text and "alice" not in text
    assert stat.S_IMODE(log.stat().st_mode) == 0o600


def test_v_prints_the_queues_notes_too(server: FaultServer, downloads: Path) -> None:
    url = server.add("/verbose.bin", payload(MiB, seed=2))
    quiet = run_get(url, "-d", downloads)
    loud = run_get(url, "-o", downloads / "v2.bin", "-v")
    assert quiet.code == 0 and loud.code == 0, loud.describe()
    assert "added " not in quiet.stderr
    assert f"added {url}" in loud.stderr, loud.describe()
