"""The examples, run as their READMEs say (one command each, as a subprocess) against a real collector.

`run_example` starts an example's command and, for a server, waits until it answers; the browser is
Debian's Chromium, set up as in `tests/js/conftest.py`. Every wait has a deadline.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Collector
from tests.js.conftest import browser, context, page, playwright
from tests.js.conftest import wait_for as js_wait_for  # the browser, set up once for all suites

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


class Program:
    """An example's long-running command (a web server), its output kept in a log file."""

    def __init__(self, args: list[str], log_path: Path) -> None:
        self.log_path = log_path
        self.args = args
        env = {k: v for k, v in os.environ.items() if not k.startswith("FOOTFALL_")}
        with log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, *args], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_until_serving(self, url: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.args} exited with {self.proc.returncode}:\n{self.log()}")
            try:
                httpx.get(url, timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.args} did not start serving {url}:\n{self.log()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def run_example(tmp_path: Path) -> Iterator[Callable[..., Program]]:
    started: list[Program] = []

    def start(*args: str) -> Program:
        program = Program(list(args), tmp_path / f"program{len(started)}.log")
        started.append(program)
        return program

    yield start
    for program in started:
        program.stop()


def wait_for(
    collector: Collector, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 15
) -> list[dict[str, Any]]:
    """Poll the collector's export until `predicate(messages)` holds (tests/js's helper, with a longer
    deadline: an example's pages and servers take longer than a fixture page)."""
    return js_wait_for(collector, predicate, timeout)


def profile(collector: Collector, user_id: str) -> dict[str, Any]:
    r = collector.admin_get(f"/v1/profiles/{user_id}")
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = json.loads(r.text)
    return answer


__all__ = ["browser", "context", "page", "playwright"]
