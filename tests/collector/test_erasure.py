"""Erasure, in process: a user's data goes, nobody else's; suppression refuses them later, across a restart."""

from __future__ import annotations

from tests.collector.conftest import App, ids_of


def test_erasure_removes_the_user_and_nothing_else(app: App) -> None:
    app.send([
        {"type": "page", "anonymousId": "f-anon", "messageId": "f1"},
        {"type": "identify", "anonymousId": "f-anon", "userId": "frank", "messageId": "f2", "traits": {"a": 1}},
        {"type": "track", "event": "x", "userId": "frank", "messageId": "f3"},
        {"type": "alias", "previousId": "frank", "userId": "frank-2", "messageId": "f4"},
        {"type": "page", "anonymousId": "f-anon", "userId": "grace", "messageId": "g-on-shared-laptop"},
        {"type": "identify", "anonymousId": "g-anon", "userId": "grace", "messageId": "g1", "traits": {"a": 2}},
        {"type": "track", "userId": "frank", "event": ""},
    ])  # fmt: skip
    r = app.admin("DELETE", "/v1/users/frank-2", params={"suppress": "true"})
    assert r.status_code == 200, r.text
    assert r.json() | {"ids": None} == {"userId": "frank-2", "ids": None, "suppressed": True, "messages": 4,
                                        "quarantine": 1, "links": 2, "traits": 1}  # fmt: skip
    assert ids_of(app) == {"g-on-shared-laptop", "g1"}
    grace = app.admin("GET", "/v1/profiles/grace").json()
    assert grace["traits"]["a"]["value"] == 2 and grace["messages"]["total"] == 2
    assert app.admin("GET", "/v1/profiles/frank-2").status_code == 404
    assert app.admin("GET", "/v1/quarantine").text == ""
    later = app.send([{"type": "track", "event": "back", "userId": "frank-2"},
                      {"type": "track", "event": "fine", "userId": "grace"}])  # fmt: skip
    assert later.json()["accepted"] == 1
    assert later.json()["rejected"][0]["reason"] == "this userId was erased and is suppressed"
    assert app.client.get("/healthz").json()["counters"]["suppressed"] == 1
    app.send([{"type": "track", "event": "", "userId": "frank-2"}])  # invalid too: still not kept
    assert app.admin("GET", "/v1/quarantine").text == ""
    app.stop()
    app.start()  # suppression outlives a restart
    assert app.send([{"type": "track", "event": "again", "userId": "frank-2"}]).status_code == 400
    app.stop()
    for path in app.data_dir.glob("footfall.db*"):  # deleted rows are overwritten, not only unlinked
        assert b"frank" not in path.read_bytes(), path
