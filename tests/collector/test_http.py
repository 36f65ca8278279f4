"""The HTTP layer shared by the endpoints: admin auth (the export token), in process."""

from __future__ import annotations

from tests.collector.conftest import App


def test_export_needs_the_token(app: App) -> None:
    assert app.client.get("/v1/export").status_code == 401
    r = app.client.get("/v1/export", headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401 and "export token" in r.json()["error"]
    r = app.client.get("/v1/export", headers={"Authorization": f"Basic {app.write_key}"})
    assert r.status_code == 401
