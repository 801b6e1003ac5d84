"""The map follows the data within a fraction of a second (a light map, saved without a
sync), and after a reboot only the synced (durable) map is trusted.

A reboot is faked by rewriting the light map's boot id: the kernel's
/proc/sys/kernel/random/boot_id changes at every boot, so a light map of another boot
claims bytes that were never synced and may be lost.
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

from rangetui.core.store import atomic_write_json, read_json
from tests.cli_helpers import MiB, assert_saved, run_get, start_get, wait_for
from tests.conftest import payload
from tests.faultserver import FaultServer
from tests.system.test_torture import map_file, read_done, total

SIZE = 16 * MiB


def killed_ahead_of_its_checkpoint(server: FaultServer, route: str, out: Path, state: Path) -> None:
    """kill -9 after the first durable checkpoint, when the light map claims more."""
    proc = start_get(server.url(route), "-o", out, "-t", "4", "-q")

    def light_ahead() -> bool:
        durable = total(read_done(map_file(state)))
        return durable > 0 and total(read_done(map_file(state, light=True))) > durable + MiB

    try:
        wait_for(light_ahead, 20, "a light map ahead of the durable one", step=0.005)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=10)


def resumed_from(stderr: str) -> int:
    match = re.search(r"resuming at .* \(byte (\d+)\)", stderr)
    assert match, stderr
    return int(match.group(1))


def test_a_kill_loses_at_most_what_came_since_the_last_light_map(
    server: FaultServer, downloads: Path, state_dir: Path
) -> None:
    data = payload(SIZE, seed=1)
    route, out = "/light.bin", downloads / "light.bin"
    server.add(route, data, rate=MiB)
    killed_ahead_of_its_checkpoint(server, route, out, state_dir)
    light = total(read_done(map_file(state_dir, light=True)))
    server.resource(route).rate = None
    result = run_get(server.url(route), "-o", out, "-t", "4")
    assert result.code == 0, result.describe()
    assert resumed_from(result.stderr) == light, "the light map of this boot was not used"
    assert_saved(out, data)


def test_after_a_reboot_only_the_synced_map_is_trusted(
    server: FaultServer, downloads: Path, state_dir: Path
) -> None:
    data = payload(SIZE, seed=2)
    route, out = "/reboot.bin", downloads / "reboot.bin"
    server.add(route, data, rate=MiB)
    killed_ahead_of_its_checkpoint(server, route, out, state_dir)
    light_path = map_file(state_dir, light=True)
    assert light_path is not None
    light = read_json(light_path)
    atomic_write_json(light_path, {**light, "boot_id": "a-boot-before-a-power-cut"})
    durable = total(read_done(map_file(state_dir)))
    time.sleep(0.1)
    server.resource(route).rate = None
    result = run_get(server.url(route), "-o", out, "-t", "4")
    assert result.code == 0, result.describe()
    assert resumed_from(result.stderr) == durable, "a light map of another boot was trusted"
    assert_saved(out, data)
