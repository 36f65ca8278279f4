from __future__ import annotations

import time
from typing import Any

from tests.conftest import Collector


def exported_until(collector: Collector, count: int, timeout: float = 20.0, **params: Any) -> list[dict[str, Any]]:
    """Poll the export until it holds at least `count` messages, or the timeout passes; return what it holds."""
    deadline = time.monotonic() + timeout
    while True:
        messages = collector.export(**params)
        if len(messages) >= count or time.monotonic() > deadline:
            return messages
        time.sleep(0.05)


class Errors:
    """An on_error callback that records what it was told."""

    def __init__(self) -> None:
        self.calls: list[tuple[Exception, list[dict[str, Any]]]] = []

    def __call__(self, error: Exception, messages: list[dict[str, Any]]) -> None:
        self.calls.append((error, messages))

    @property
    def messages(self) -> list[dict[str, Any]]:
        return [m for _, batch in self.calls for m in batch]
