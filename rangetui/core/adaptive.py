"""How many connections one download uses: found by measuring, never more than asked for.

Like TCP's congestion control, in connections rather than packets: start with a few,
double while the total throughput still grows by a meaningful fraction, and stop at
the user's count (-t). A refusal (429/503, or several resets close together) halves
the count, remembers the count that was refused as a ceiling for a while, and from
then on the count grows one at a time. Plain numbers in and out, no lock and no clock
of its own: :class:`~rangetui.core.tuning.ConnectionTuner` serialises the calls and
passes the time, so that tests drive it with a fake clock.
"""

from __future__ import annotations

import enum
import math

from rangetui.core.retry import MAX_RETRY_AFTER
from rangetui.core.types import ConnectionReason, connections_note

START_CONNECTIONS = 4
"""A server that caps connections per client refuses few of these; loopback and most
servers are as fast with them as with more, and the count doubles within a second."""
MIN_GAIN = 0.10
"""A step that raised the total throughput by less than this fraction did not pay."""
SETTLED_SECONDS = 0.05
"""After every connection of a new count streams, so much more before measuring."""
MAX_SETTLE_SECONDS = 2.0
"""Measure anyway when not every connection streams by then (the file's tail, a host
budget, a slow server): the window is then judged on those that do."""
MIN_WINDOW_SECONDS = 0.25
MAX_WINDOW_SECONDS = 2.0
NO_GAIN_SECONDS = 1.0
"""A step is judged a loss only over this long at least: a server that throttles sends
in bursts (nginx's limit_rate, about one a second), so a short window can miss one.
A gain is believed at once: a needless connection costs less than a missing one."""
WINDOW_PER_SETTLE = 3.0
"""A window lasts three times what the new connections took to start streaming: short
on loopback, where a decision every half second loses nothing; longer where round
trips are long and the throughput of a moment says less."""
FIRST_HOLD_SECONDS = 30.0
MAX_HOLD_SECONDS = 300.0
"""How long a refused count stays out of reach; it doubles with each refusal."""
SAME_BURST_SECONDS = 1.0
"""Refusals this soon after one that halved the count answer the same requests."""
RESETS_AS_REFUSAL = 3
RESET_WINDOW_SECONDS = 5.0
"""So many dropped connections within so long count as one refusal; one is a glitch."""


class _Phase(enum.Enum):
    SETTLING = "settling"
    MEASURING = "measuring"
    HOLDING = "holding"


class ConnectionCount:
    """The adaptive count's state; every method takes ``now`` and returns what to say."""

    def __init__(self, ceiling: int, fixed: bool, now: float) -> None:
        self.ceiling = ceiling
        self.fixed = fixed
        self.wanted = ceiling if fixed else min(START_CONNECTIONS, ceiling)
        self.reason = ConnectionReason.FIXED if fixed else ConnectionReason.GROWING
        self._phase = _Phase.SETTLING
        self._changed_at: float | None = None
        """Set by the first look after a change: a download probes before it streams."""
        self._window_at = now
        self._window_bytes = 0
        self._window = MIN_WINDOW_SECONDS
        self._last_rate: float | None = None
        self._before: int | None = None
        """The count before the step being measured: where a step that did not pay
        goes back to."""
        self._additive = False
        self._refused_at: int | None = None
        self._refused_until = 0.0
        self._hold = 0.0
        self._quiet_until = 0.0
        self._burst_until = -math.inf
        self._hold_until = math.inf
        self._resets: list[float] = []
        self._said: tuple[int, ConnectionReason] | None = None
        self._slow_start = not fixed
        """The first few double as soon as they all stream, unmeasured: a server that
        caps connections has refused one of them by then, and on any other a window
        at the start count would cost a throttled download what the count should win."""
        if not fixed and self.wanted >= ceiling:
            self._settle_at(ConnectionReason.CEILING, math.inf)

    # -- what the pool reports ---------------------------------------------------------

    def observe(self, now: float, done: int, streaming: int) -> str | None:
        """Each tick: the bytes done so far and the connections streaming right now."""
        if self.fixed:
            return None
        if self._phase is _Phase.SETTLING:
            if self._changed_at is None:
                self._changed_at = now
            waited = now - self._changed_at
            if self._slow_start and streaming >= self.wanted:
                self._start_over(now)
                return None
            if streaming >= self.wanted or waited >= MAX_SETTLE_SECONDS:
                span = WINDOW_PER_SETTLE * waited
                self._window = min(MAX_WINDOW_SECONDS, max(MIN_WINDOW_SECONDS, span))
                self._start_window(now + SETTLED_SECONDS, done)
            return None
        if self._phase is _Phase.HOLDING:
            if now >= self._hold_until and self._cap(now) > self.wanted:
                self._last_rate = None  # conditions changed while we held: a new baseline
                self._start_window(now, done)
            return None
        if now < self._window_at:
            self._window_bytes = done  # still settling: the window starts later
            return None
        if now - self._window_at < self._window:
            return None
        elapsed = now - self._window_at
        rate = (done - self._window_bytes) / elapsed
        if not self._paid(rate) and elapsed < max(self._window, NO_GAIN_SECONDS):
            return None  # not yet a verdict: the window grows
        return self._decide(now, rate)

    def refused(self, now: float, retry_after: float | None) -> str | None:
        """A 429/503 while other connections work: halve, and keep off the refused count."""
        if self.fixed or now < self._burst_until:
            return None
        self._refused_at = self.wanted
        self._hold = FIRST_HOLD_SECONDS if not self._hold else min(MAX_HOLD_SECONDS, 2 * self._hold)
        wait = min(MAX_RETRY_AFTER, max(0.0, retry_after or 0.0))
        self._refused_until = now + max(self._hold, wait)
        self._quiet_until = now + wait
        self._burst_until = now + SAME_BURST_SECONDS
        self._additive = True
        self._slow_start = False
        self._last_rate = None
        self._change(now, max(1, self.wanted // 2), ConnectionReason.REFUSED)
        return f"the server refused a connection (busy); using {self.wanted} for now"

    def lost(self, now: float) -> str | None:
        """A connection dropped: a refusal only when several drop close together."""
        self._resets = [t for t in self._resets if now - t < RESET_WINDOW_SECONDS] + [now]
        if len(self._resets) < RESETS_AS_REFUSAL:
            return None
        self._resets = []
        return self.refused(now, None)

    def set_ceiling(self, now: float, count: int) -> None:
        """The user's count: used at once, and the most from now on. The user knows
        better than an old refusal, so that is forgotten."""
        self.ceiling = count
        self._slow_start = False
        self._refused_at = None
        self._hold = 0.0
        self._last_rate = None
        why = ConnectionReason.FIXED if self.fixed else ConnectionReason.CEILING
        self._change(now, count, why)

    # -- internals ---------------------------------------------------------------------

    def _decide(self, now: float, rate: float) -> str | None:
        """Grow while the last step paid; when it did not, go back to where it paid."""
        if not self._paid(rate):
            self.wanted = self._before or self.wanted
            return self._settle_at(ConnectionReason.NO_GAIN, math.inf)
        self._last_rate = rate
        if now < self._quiet_until:  # the server's Retry-After: a pause, not a verdict
            self._settle_at(ConnectionReason.REFUSED, self._quiet_until)
            return None
        cap = self._cap(now)
        target = min(cap, self.wanted + 1 if self._additive else 2 * self.wanted)
        if target <= self.wanted:
            if cap < self.ceiling:
                return self._settle_at(ConnectionReason.REFUSED, self._refused_until)
            return self._settle_at(ConnectionReason.CEILING, math.inf)
        before = self.wanted
        self._change(now, target, ConnectionReason.GROWING)
        self._before = before
        return None

    def _start_over(self, now: float) -> None:
        """The slow start's one unmeasured step: the next count is the first measured."""
        self._slow_start = False
        target = min(self._cap(now), 2 * self.wanted)
        if target > self.wanted:
            self._change(now, target, ConnectionReason.GROWING)

    def _paid(self, rate: float) -> bool:
        last = self._last_rate
        return last is None or rate >= last * (1 + MIN_GAIN)

    def _cap(self, now: float) -> int:
        if self._refused_at is not None and now < self._refused_until:
            return max(1, min(self.ceiling, self._refused_at - 1))
        return self.ceiling

    def _change(self, now: float, count: int, reason: ConnectionReason) -> None:
        self._before = None
        self.wanted = count
        self.reason = reason
        self._phase = _Phase.SETTLING
        self._changed_at = now

    def _start_window(self, at: float, done: int) -> None:
        self._phase = _Phase.MEASURING
        self._window_at = at
        self._window_bytes = done

    def _settle_at(self, reason: ConnectionReason, until: float) -> str | None:
        """Hold this count (until ``until``); say so when that is news. Reaching the
        user's count is what is expected: the snapshot shows it, the log need not."""
        self.reason = reason
        self._phase = _Phase.HOLDING
        self._hold_until = until
        said = (self.wanted, reason)
        if reason is ConnectionReason.CEILING or said == self._said:
            return None
        self._said = said
        return connections_note(self.wanted, reason, self.ceiling)


__all__ = ["START_CONNECTIONS", "ConnectionCount"]
