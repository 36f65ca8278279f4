from tests.conftest import Collector


def test_track_is_exported(collector: Collector) -> None:
    r = collector.send([{"type": "track", "event": "Signed Up", "userId": "u1", "messageId": "m1"}])
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 1
    [msg] = collector.export()
    assert msg["event"] == "Signed Up" and msg["userId"] == "u1" and msg["messageId"] == "m1"
