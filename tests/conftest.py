"""Shared fixtures: the real collector, started as users start it (`footfall serve`) on a free port."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

WRITE_KEY = "wk_test"
SERVER_KEY = "sk_test_server_key_0001"
EXPORT_TOKEN = "ex_test_export_token_01"
COOKIE_SECRET = "cookie-secret-for-tests"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def child_pids(pid: int) -> set[int]:
    out = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        out |= {int(p) for p in (task / "children").read_text().split()}
    return out


def process_tree(pid: int) -> set[int]:
    """`pid` and every process under it."""
    out, todo = set(), [pid]
    while todo:
        p = todo.pop()
        out.add(p)
        with contextlib.suppress(FileNotFoundError):  # ended meanwhile
            todo += child_pids(p)
    return out


def writer_pids(pid: int) -> set[int]:
    """The SQLite writer processes under `pid` (one for each collector process that serves)."""
    return {p for p in process_tree(pid) - {pid} if b"collector.store.sqlite_writer" in cmdline(p)}


def cmdline(pid: int) -> bytes:
    """A process's command line (NUL-separated), or nothing once it has ended (or is a zombie)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return b""


class Collector:
    """A `footfall serve` process with known keys, a data directory of its own and a free port."""

    def __init__(
        self,
        data_dir: Path,
        *args: str,
        port: int | None = None,
        program: list[str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        """`program`: how to run `footfall` (default: this Python's `-m collector`); `cwd`: where (default: here)."""
        self.data_dir = data_dir
        self.port = port or free_port()
        self.args = args
        self.program = program or [sys.executable, "-m", "collector"]
        self.cwd = cwd
        self.url = f"http://127.0.0.1:{self.port}"
        self.write_key = WRITE_KEY
        self.server_key = SERVER_KEY
        self.export_token = EXPORT_TOKEN
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / "collector.log"

    def start(self) -> Collector:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            *self.program, "serve",
            "--port", str(self.port),
            "--data-dir", str(self.data_dir),
            "--write-key", WRITE_KEY,
            "--server-key", SERVER_KEY,
            "--export-token", EXPORT_TOKEN,
            "--cookie-secret", COOKIE_SECRET,
            *self.args,
        ]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if not k.startswith("FOOTFALL_")}
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.cwd)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"collector exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError(f"collector did not start:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    # --- talking to it -------------------------------------------------------------------------
    def send(self, messages: list[dict[str, Any]], key: str | None = None, **kw: Any) -> httpx.Response:
        return httpx.post(
            self.url + "/v1/batch", json={"batch": messages}, auth=(key or self.server_key, ""), timeout=10, **kw
        )

    def export_page(self, **params: Any) -> httpx.Response:
        return httpx.get(
            self.url + "/v1/export",
            params=params,
            headers={"Authorization": f"Bearer {self.export_token}"},
            timeout=30,
        )

    def admin_get(self, path: str, **params: Any) -> httpx.Response:
        """GET an admin endpoint with the export token."""
        return httpx.get(
            self.url + path, params=params, headers={"Authorization": f"Bearer {self.export_token}"}, timeout=30
        )

    def export(self, **params: Any) -> list[dict[str, Any]]:
        return export_all(self.export_page, **params)


def export_all(export_page: Callable[..., httpx.Response], **params: Any) -> list[dict[str, Any]]:
    """Every exported message, following the cursor until an empty page."""
    out: list[dict[str, Any]] = []
    params = dict(params)
    while True:
        r = export_page(**params)
        assert r.status_code == 200, r.text
        lines = [json.loads(line) for line in r.text.splitlines() if line]
        if not lines:
            return out
        out.extend(lines)
        params["cursor"] = r.headers["Footfall-Cursor"]


@contextlib.contextmanager
def sending_for(c: Collector, user: str) -> Iterator[set[str]]:
    """A sender that keeps sending for `user` (with the server key) until the block ends: each round an
    identify linking a new anonymousId, a page of that ID, a track. Yields, once 20 rounds were sent, the
    anonymousIds whose identify the collector stored (they belong to `user`), filled as the sender goes."""
    linked: set[str] = set()
    stop, started = threading.Event(), threading.Event()

    def send() -> None:
        with httpx.Client(auth=(c.server_key, ""), timeout=30) as client:
            i = 0
            while not stop.is_set():
                batch = [{"type": "identify", "anonymousId": f"anon-{i}", "userId": user, "messageId": f"i{i}"},
                         {"type": "page", "anonymousId": f"anon-{i}", "messageId": f"p{i}"},
                         {"type": "track", "event": "E", "userId": user, "messageId": f"t{i}"}]  # fmt: skip
                answer = client.post(c.url + "/v1/batch", json={"batch": batch}).json()
                if not any(r["index"] == 0 for r in answer["rejected"]):
                    linked.add(f"anon-{i}")
                if i == 20:
                    started.set()
                i += 1

    thread = threading.Thread(target=send)
    thread.start()
    try:
        assert started.wait(30), "the sender did not get going"
        yield linked
    finally:
        stop.set()
        thread.join(60)
    assert not thread.is_alive()


@pytest.fixture
def collector_factory(tmp_path: Path) -> Iterator[Any]:
    started: list[Collector] = []

    def make(*args: str, data_dir: Path | None = None, port: int | None = None) -> Collector:
        c = Collector(data_dir or tmp_path / f"data{len(started)}", *args, port=port)
        started.append(c)
        return c.start()

    yield make
    for c in started:
        c.stop()


@pytest.fixture
def collector(collector_factory: Any) -> Collector:
    c: Collector = collector_factory()
    return c
