"""CORS: the exact Origin with credentials, and the allowed origins, in process."""

from __future__ import annotations

from collections.abc import Callable

from tests.collector.conftest import App


def test_cors_answers_with_the_exact_origin(app: App) -> None:
    origin = "http://shop.example:3000"
    pre = app.client.options("/v1/batch", headers={"Origin": origin, "Access-Control-Request-Method": "POST"})
    assert pre.status_code == 204
    assert pre.headers["access-control-allow-origin"] == origin
    assert pre.headers["access-control-allow-credentials"] == "true"
    r = app.send([{"type": "page", "anonymousId": "a"}], headers={"Origin": origin})
    assert r.headers["access-control-allow-origin"] == origin and r.headers["vary"] == "Origin"


def test_allowed_origins_refuses_others(app_factory: Callable[..., App]) -> None:
    a = app_factory(allowed_origins="https://shop.example")
    ok = a.send([{"type": "page", "anonymousId": "a"}], headers={"Origin": "https://shop.example"})
    bad = a.send([{"type": "page", "anonymousId": "a"}], headers={"Origin": "https://evil.example"})
    assert ok.status_code == 200 and bad.status_code == 403
    assert "allowed_origins" in bad.json()["error"]
