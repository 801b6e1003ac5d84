"""Regenerate screenshots/*.svg from the real app with real downloads in progress.

Serves files from the test suite's fault server on 127.0.0.1 (rate-limited, so that
they are still running when the picture is taken), drives the app with keys as a
user would, and saves what the screen shows. State and downloads go to a scratch
directory that is removed afterwards. From the repository root:

    python scripts/screenshots.py
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from textual.pilot import Pilot  # noqa: E402

from rangetui.core.engine import Engine  # noqa: E402
from rangetui.core.store import Store  # noqa: E402
from rangetui.core.types import Options, Phase  # noqa: E402
from rangetui.tui.app import RangeApp  # noqa: E402
from rangetui.tui.table import QueueTable  # noqa: E402
from tests.conftest import payload  # noqa: E402
from tests.faultserver import FaultServer  # noqa: E402

MiB = 1024 * 1024
SIZE = (120, 36)
OUT = ROOT / "screenshots"
WORK = Path(tempfile.gettempdir()) / "rangetui-screenshots"
"""A fixed place, so the paths in the pictures do not change from one run to the next."""


def serve(server: FaultServer) -> dict[str, str]:
    """The files, each slow enough to be caught half way."""
    return {
        "readme.txt": server.add("/readme.txt", payload(3_174, 1)),
        "mirror-list.txt": server.add("/mirror-list.txt", b"", status=404),
        "dataset.parquet": server.add("/dataset.parquet", payload(48 * MiB, 2), rate=MiB),
        "ubuntu-24.04.iso": server.add("/ubuntu-24.04.iso", payload(96 * MiB, 3), rate=MiB),
        "linux-6.12.tar.xz": server.add("/linux-6.12.tar.xz", payload(24 * MiB, 4), rate=MiB // 4),
        "model.bin": server.add("/model.bin", payload(32 * MiB, 5)),
    }


async def until(pilot: Pilot[None], check: Callable[[], bool], secs: float = 30.0) -> None:
    for _ in range(int(secs * 10)):
        if check():
            return
        await pilot.pause(0.1)
    raise SystemExit(f"screenshots: timed out waiting for {check}")


def ended(engine: Engine, job_id: str) -> bool:
    job = engine.snapshot().find(job_id)
    return job is not None and job.status in (Phase.DONE, Phase.FAILED)


def past(engine: Engine, job_id: str, fraction: float) -> bool:
    job = engine.snapshot().find(job_id)
    return job is not None and (job.fraction or 0.0) > fraction


async def shoot(engine: Engine, urls: dict[str, str], directory: Path) -> None:
    app = RangeApp(engine, directory, Options(connections=8))
    async with app.run_test(size=SIZE) as pilot:
        first = [engine.add(urls[n], directory) for n in ("readme.txt", "mirror-list.txt")]
        parquet = engine.add(urls["dataset.parquet"], directory, options=Options(connections=4))
        await until(pilot, lambda: all(ended(engine, job_id) for job_id in first))
        await until(pilot, lambda: past(engine, parquet, 0.15))
        engine.pause(parquet)
        for name in ("ubuntu-24.04.iso", "linux-6.12.tar.xz", "model.bin"):
            conns = 8 if name.endswith(".iso") else 4
            engine.add(urls[name], directory, options=Options(connections=conns))
        await until(pilot, lambda: app.query_one(QueueTable).row_count == 6)
        await pilot.press("j", "j", "j")
        await pilot.pause(5)
        app.save_screenshot("main.svg", str(OUT))
        await pilot.press("enter")
        await pilot.pause(1)
        app.save_screenshot("details.svg", str(OUT))
        await pilot.press("escape", "a", *"https://cdn.example.org/fedora-41.iso")
        app.save_screenshot("add.svg", str(OUT))
        await pilot.press("escape", "l")
        await pilot.pause(0.3)
        app.save_screenshot("log.svg", str(OUT))
        await pilot.press("escape", "question_mark")
        await pilot.pause(0.3)
        app.save_screenshot("help.svg", str(OUT))
        await pilot.press("escape", "L", *"4M")
        app.save_screenshot("limit.svg", str(OUT))
        await pilot.press("escape", "q")


def main() -> int:
    OUT.mkdir(exist_ok=True)
    shutil.rmtree(WORK, ignore_errors=True)
    directory = WORK / "Downloads"
    directory.mkdir(parents=True)
    os.environ["RANGETUI_STATE_DIR"] = str(WORK / "state")
    engine = Engine(Store(), max_jobs=2)
    engine.start()
    try:
        with FaultServer() as server:
            asyncio.run(shoot(engine, serve(server), directory))
    finally:
        engine.shutdown()
        shutil.rmtree(WORK, ignore_errors=True)
    print(f"screenshots: wrote {', '.join(sorted(p.name for p in OUT.glob('*.svg')))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
