"""Retention: anonymous messages expire, identified ones stay; by `footfall expire` and by the running app."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from tests.collector.conftest import NOW, App, at, expire, ids_of, wait_for


def test_anonymous_messages_expire_and_identified_ones_stay(app: App) -> None:
    app.send([
        {"type": "page", "anonymousId": "never-known", "messageId": "gone", "timestamp": at(95)},
        {"type": "page", "anonymousId": "never-known", "messageId": "young", "timestamp": at(30)},
        {"type": "page", "anonymousId": "known-on-day-89", "messageId": "day-1", "timestamp": at(95)},
        {"type": "identify", "anonymousId": "known-on-day-89", "userId": "dora", "messageId": "day-89",
         "timestamp": at(7)},
        {"type": "track", "event": "old purchase", "userId": "erin", "messageId": "user-old", "timestamp": at(400)},
    ])  # fmt: skip
    app.client.post("/v1/batch", auth=(app.server_key, ""), content=b'{"batch": [1]}')  # quarantined
    assert "would delete 1 anonymous messages" in expire(app, "--dry-run")
    in_61_days = (NOW + timedelta(days=61)).strftime("%Y-%m-%d")
    assert "would delete 2 anonymous messages" in expire(app, "--dry-run", "--as-of", in_61_days)
    in_91_days = (NOW + timedelta(days=91)).strftime("%Y-%m-%d")
    assert "and 1 quarantined" in expire(app, "--dry-run", "--as-of", in_91_days)
    assert len(ids_of(app)) == 5
    assert "deleted 1 anonymous messages" in expire(app)
    assert ids_of(app) == {"young", "day-1", "day-89", "user-old"}
    out = expire(app, "--as-of", (NOW + timedelta(days=400)).strftime("%Y-%m-%d"))
    assert "deleted 1 anonymous messages" in out and "and 1 quarantined" in out
    assert ids_of(app) == {"day-1", "day-89", "user-old"}


def test_the_running_collector_expires_by_itself(app_factory: Callable[..., App]) -> None:
    a = app_factory(expiry_interval_seconds=1, anonymous_retention_days=30)
    a.send([{"type": "page", "anonymousId": "v", "messageId": "old", "timestamp": at(31)},
            {"type": "page", "anonymousId": "v", "messageId": "new", "timestamp": at(29)}])  # fmt: skip
    wait_for(lambda: ids_of(a) == {"new"}, "the expiry task to delete the old message")
    assert ids_of(a) == {"new"}
    assert a.client.get("/healthz").json()["counters"]["expired_messages"] == 1
