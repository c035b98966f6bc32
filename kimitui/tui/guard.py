"""Keys meant for one place must not land in a screen that just opened by itself.

A screen that appears without being asked for (the review gate, a question from
the engine) holds its keys for GUARD_S after it opens: whatever the user was
typing at that moment decides nothing. The App consults :attr:`KeyGuard.armed`
before a key reaches such a screen (``key_guard`` attribute), with the time
the key was typed, not the time the App got round to it.
"""

from __future__ import annotations

import time

GUARD_S = 0.3  # keys this soon after a screen opened by itself are ignored
# Keys that never decide anything, let through even while a guard holds.
ALWAYS = frozenset({"ctrl+q", "ctrl+c", "f1", "ctrl+g", "ctrl+l"})


class KeyGuard:
    """Closed until GUARD_S after :meth:`hold`; open from the start otherwise."""

    def __init__(self) -> None:
        self.until = float("-inf")

    def hold(self) -> float:
        """Ignore keys for GUARD_S from now; return the seconds held."""
        self.until = time.monotonic() + GUARD_S
        return GUARD_S

    def release(self) -> None:
        self.until = float("-inf")

    @property
    def armed(self) -> bool:
        return time.monotonic() >= self.until

    def allows(self, key: str, typed_at: float | None = None) -> bool:
        """Whether a key typed at ``typed_at`` (monotonic; a Key event's ``time``, set when
        the terminal's bytes were read) may act. A key typed during the hold stays
        ignored even when a busy app gets to it only after the hold ended."""
        when = time.monotonic() if typed_at is None else typed_at
        return when >= self.until or key in ALWAYS
