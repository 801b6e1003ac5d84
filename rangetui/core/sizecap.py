"""--max-filesize: a file larger than the cap is refused, a body of unknown length stops
at it (L12).

Without it, a body with no length that never ends fills the disk (7.6 GB in 20 s on
loopback). As curl's --max-filesize: a length the server gives is checked before a byte
is written, and a body without one is cut off once it passes the cap. What was written
is kept, as after any failure; the user decides whether it is worth anything.
"""

from __future__ import annotations

from rangetui.core.errors import FatalError
from rangetui.core.types import Remote
from rangetui.core.units import format_size


class SizeCap:
    """The cap of one download; ``None`` is no cap."""

    def __init__(self, cap: int | None) -> None:
        self.cap = cap

    def check(self, remote: Remote) -> None:
        """After every probe: a stated length over the cap ends the download at once."""
        if self.cap is not None and remote.size is not None and remote.size > self.cap:
            raise FatalError(
                f"the file is {format_size(remote.size)}, larger than --max-filesize"
                f" {format_size(self.cap)}; not downloading it"
            )

    def observe(self, done: int) -> None:
        """As bytes arrive: only a body without a stated length can pass the cap."""
        if self.cap is not None and done > self.cap:
            raise FatalError(
                f"the server sent more than --max-filesize {format_size(self.cap)}"
                " without saying how long the file is; stopped"
            )


__all__ = ["SizeCap"]
