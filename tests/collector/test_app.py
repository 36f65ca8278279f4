"""The app's own routes (app.py), in process."""

from __future__ import annotations

from tests.collector.conftest import App


def test_healthz(app: App) -> None:
    health = app.client.get("/healthz").json()
    assert health["status"] == "ok" and "bots_dropped" not in health["counters"]
