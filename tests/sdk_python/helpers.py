from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
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


def wait_until(condition: Callable[[], object], timeout: float = 20.0) -> bool:
    """Poll `condition` until it holds (True) or the timeout passes (False)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


class Errors:
    """An on_error callback that records what it was told."""

    def __init__(self) -> None:
        self.calls: list[tuple[Exception, list[dict[str, Any]]]] = []

    def __call__(self, error: Exception, messages: list[dict[str, Any]]) -> None:
        self.calls.append((error, messages))

    @property
    def messages(self) -> list[dict[str, Any]]:
        return [m for _, batch in self.calls for m in batch]


def by_id(messages: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {m["messageId"]: m for m in messages}


FAST_RETRIES = {"retry_delay": 0.02, "max_retry_delay": 0.2, "max_retries": 100}


SDK_ROOT = str(Path(__file__).resolve().parents[2] / "sdk_python")


def run_script(source: str, collector: Collector) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": SDK_ROOT, "FF_KEY": collector.server_key, "FF_HOST": collector.url}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(source)], env=env, capture_output=True, text=True, timeout=60
    )


WARNING = "this is the public browser key; backends should use the server key"


ANSWER = {"success": True, "accepted": 1, "duplicates": 0, "rejected": [], "warning": WARNING}
