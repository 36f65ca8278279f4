"""Time, in process: `timestamp` corrected for the client's clock skew; absurd times not believed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.collector.conftest import App


def iso(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


def test_timestamp_corrected_for_clock_skew(app: App) -> None:
    now = datetime.now(UTC)
    client_now = now + timedelta(hours=3)  # the client's clock is 3 hours fast
    happened = client_now - timedelta(seconds=40)
    body = {"batch": [{"type": "track", "event": "e", "userId": "u", "timestamp": iso(happened)}],
            "sentAt": iso(client_now)}  # fmt: skip
    r = app.client.post("/v1/batch", auth=(app.server_key, ""), json=body)
    assert r.status_code == 200
    got = app.export()[0]
    corrected = datetime.fromisoformat(got["timestamp"])
    assert abs((corrected - (now - timedelta(seconds=40))).total_seconds()) < 5
    assert got["originalTimestamp"] == iso(happened)


def test_absurd_times_are_not_believed(app: App) -> None:
    now = datetime.now(UTC)
    times = {"future": now + timedelta(days=400), "ancient": datetime(1970, 1, 1, tzinfo=UTC),
             "old": now - timedelta(days=200)}  # fmt: skip
    sources = {app.server_key: "server", app.write_key: "browser"}
    for name, when in times.items():
        for key, source in sources.items():
            app.client.post("/v1/batch", auth=(key, ""), json={"batch": [
                {"type": "track", "event": name, "anonymousId": "a", "timestamp": iso(when),
                 "messageId": f"{name}-{source}"}]})  # fmt: skip
    got = {tuple(m["messageId"].split("-")): m for m in app.export()}

    def believed(event: str, source: str) -> bool:
        return abs((datetime.fromisoformat(got[(event, source)]["timestamp"]) - times[event]).total_seconds()) < 1

    assert not believed("future", "server") and not believed("future", "browser")
    assert not believed("ancient", "server") and not believed("ancient", "browser")
    assert believed("old", "server") and not believed("old", "browser")  # backends may import history


def test_times_at_the_ends_of_the_calendar(app: App) -> None:
    """Found in review of odd and hostile input."""
    msgs = [{"type": "track", "event": "x", "userId": "u", "messageId": "m1", "timestamp": "0001-01-01T00:00:00Z",
             "sentAt": "9999-12-31T23:59:59Z"}]  # fmt: skip
    r = app.send(msgs)
    assert r.status_code == 200, r.text
    stored = datetime.fromisoformat(app.export()[0]["timestamp"])
    assert abs(stored - datetime.now(UTC)) < timedelta(minutes=1)  # not believed: receivedAt
    body = {"sentAt": "0001-01-01T00:00:00Z", "batch": [{**msgs[0], "messageId": "m2", "sentAt": None}]}
    body["batch"][0].pop("sentAt")
    assert app.client.post("/v1/batch", json=body, auth=(app.server_key, "")).status_code == 200


def test_iso_is_utc_with_milliseconds_whatever_the_zone_given() -> None:
    from datetime import timezone
    from zoneinfo import ZoneInfo

    from collector.enrich.clock import iso

    when = datetime(2024, 3, 1, 10, 0, 0, 123456, tzinfo=UTC)
    assert iso(when) == "2024-03-01T10:00:00.123Z"
    assert iso(when.astimezone(timezone(timedelta(hours=2)))) == "2024-03-01T10:00:00.123Z"
    assert iso(when.astimezone(ZoneInfo("UTC"))) == "2024-03-01T10:00:00.123Z"
    assert iso(when.astimezone(ZoneInfo("America/New_York"))) == "2024-03-01T10:00:00.123Z"
    assert iso(datetime(1, 1, 1, tzinfo=UTC)) == "0001-01-01T00:00:00.000Z"


def test_received_now_is_one_millisecond_in_three_forms() -> None:
    """The time, its ms and its text agree (the text is shared within a millisecond, and is made anew for
    the next one)."""
    import time

    from collector.enrich.clock import iso, received_now, to_ms

    seen = set()
    deadline = time.monotonic() + 5
    while len(seen) < 3 and time.monotonic() < deadline:  # a few different milliseconds
        before = datetime.now(UTC)
        dt, ms, text = received_now()
        assert dt.microsecond % 1000 == 0 and to_ms(dt) == ms and iso(dt) == text
        assert before - timedelta(milliseconds=1) < dt <= datetime.now(UTC)
        seen.add(ms)
    assert len(seen) == 3
