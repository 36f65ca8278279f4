"""The in-process tier: the collector's app under Starlette's `TestClient`, over a real SQLite file.

`app` is `create_app(settings)` as `footfall serve` builds it (the same keys as the subprocess collector in
tests/conftest.py), entered as a context manager so that the lifespan opens the store and starts the
writer. Use it for the behaviour of the stages and endpoints. What needs a real server process stays on
`collector` / `collector_factory`: kill -9, the CLI, the access log, file modes, the socket peer's IP
(TestClient's client host is "testclient", not an address) and HTTP framing.
"""

from __future__ import annotations

import http.cookiejar
import os
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from collector.app import create_app
from collector.config import Settings, load_settings
from tests.conftest import COOKIE_SECRET, EXPORT_TOKEN, SERVER_KEY, WRITE_KEY, Collector, export_all

with warnings.catch_warnings():
    # Starlette asks for httpx2 for its TestClient, and warns when it finds httpx (our dependency) instead.
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient` is deprecated")
    from starlette.testclient import TestClient


def no_cookie_jar() -> http.cookiejar.CookieJar:
    """A jar that keeps nothing: each request carries only the cookies a test gives it, as with `httpx.post`."""
    return http.cookiejar.CookieJar(policy=http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))


# TestClient says "testclient"; requests carry httpx's own User-Agent, as they do to the subprocess collector.
HTTPX_UA = {"User-Agent": f"python-httpx/{httpx.__version__}"}


class App:
    """The collector app in this process, with known keys and a data directory of its own."""

    url = "http://testserver"

    def __init__(self, data_dir: Path, **overrides: Any) -> None:
        self.data_dir = data_dir
        self.settings: Settings = load_settings(
            environ={},
            data_dir=data_dir,
            write_key=WRITE_KEY,
            server_key=SERVER_KEY,
            export_token=EXPORT_TOKEN,
            cookie_secret=COOKIE_SECRET,
            **overrides,
        ).with_secrets()
        self.write_key = WRITE_KEY
        self.server_key = SERVER_KEY
        self.export_token = EXPORT_TOKEN
        self._client: TestClient | None = None

    @property
    def client(self) -> TestClient:
        assert self._client is not None, "the app is not running"
        return self._client

    def start(self) -> App:
        client = TestClient(create_app(self.settings), base_url=self.url, cookies=no_cookie_jar(), headers=HTTPX_UA)
        client.__enter__()  # runs the lifespan: store, writer, enricher
        self._client = client
        return self

    def stop(self) -> None:
        """Run the lifespan's shutdown (the store is closed), as a stopped server would."""
        if self._client is not None:
            self._client.__exit__(None, None, None)
            self._client = None

    # --- talking to it (as Collector does) -------------------------------------------------------
    def send(self, messages: list[Any], key: str | None = None, **kw: Any) -> httpx.Response:
        return self.client.post("/v1/batch", json={"batch": messages}, auth=(key or self.server_key, ""), **kw)

    def admin(self, method: str, path: str, **kw: Any) -> httpx.Response:
        """A request with the export token."""
        return self.client.request(method, path, headers={"Authorization": f"Bearer {self.export_token}"}, **kw)

    def export_page(self, **params: Any) -> httpx.Response:
        return self.admin("GET", "/v1/export", params=params)

    def export(self, **params: Any) -> list[dict[str, Any]]:
        return export_all(self.export_page, **params)


@pytest.fixture
def app_factory(tmp_path: Path) -> Iterator[Callable[..., App]]:
    """`app_factory(bots="drop", ...)`: an app with those settings (keyword arguments as `load_settings` takes)."""
    started: list[App] = []

    def make(**overrides: Any) -> App:
        app = App(tmp_path / f"app{len(started)}", **overrides)
        started.append(app)
        return app.start()

    yield make
    for app in started:
        app.stop()


@pytest.fixture
def app(app_factory: Callable[..., App]) -> App:
    return app_factory()


def wait_for(condition: Callable[[], bool], what: str, seconds: float = 20) -> None:
    """Poll `condition` until it holds; fail, saying `what` was awaited, after `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {seconds} s waiting for {what}")
        time.sleep(0.05)


def footfall(*args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    """Run the `footfall` command (without FOOTFALL_* from the environment that runs the tests)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOOTFALL_")} | {"COLUMNS": "200"}
    kw.setdefault("timeout", 60)
    return subprocess.run([sys.executable, "-m", "collector", *args], capture_output=True, text=True, env=env, **kw)


NOW = datetime.now(UTC)


def at(days_ago: float) -> str:
    """An ISO time `days_ago` days before the tests started."""
    return (NOW - timedelta(days=days_ago)).isoformat().replace("+00:00", "Z")


def ids_of(c: App | Collector, **params: Any) -> set[str]:
    """The messageIds that the export gives (with these filters)."""
    return {m["messageId"] for m in c.export(**params)}


def expire(c: App | Collector, *args: str) -> str:
    """`footfall expire ARGS` on the store of `c`, which may be running; its output."""
    done = footfall("expire", *args, "--data-dir", str(c.data_dir), timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout
