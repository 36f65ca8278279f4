"""Telling waiters that messages arrived: one path for the export's `wait` and the live view.

A commit in this process wakes every waiter at once (`Notifier.poke`, called by the group committer).
Commits by other collectors on the same PostgreSQL database wake nobody here, so a waiter also looks at
the store every `POLL_SECONDS`. Nothing runs while nobody waits: the notifier is one event that the
committer sets.
"""

from __future__ import annotations

import asyncio
import contextlib

POLL_SECONDS = 0.5


class Notifier:
    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.waiting = 0
        self.closing = False  # the server is shutting down: waiters answer with what they have

    def close(self) -> None:
        self.closing = True
        self._event.set()

    def poke(self) -> None:
        """Something was committed: wake every waiter."""
        if self.waiting:
            self._event.set()
            self._event = asyncio.Event()

    async def wait(self, seconds: float) -> None:
        """Until something is committed here, or `seconds` pass (then look at the store anyway)."""
        if self.closing:
            return
        self.waiting += 1
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), min(seconds, POLL_SECONDS))
        finally:
            self.waiting -= 1
