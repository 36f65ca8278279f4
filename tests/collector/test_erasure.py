"""Erasure, in process: a user's data goes, nobody else's; suppression refuses them later, across a restart."""

from __future__ import annotations

from typing import Any

from tests.collector.conftest import App, ids_of
from tests.conftest import Collector, sending_for


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


# --- security: what a stranger can and cannot do -------------------------------------------------
def _files_holding(c: Collector, *needles: bytes) -> list[str]:
    """Every file of the data directory that holds any of `needles`."""
    return sorted(
        str(path.name)
        for path in c.data_dir.rglob("*")
        if path.is_file() and path.name != "collector.log" and any(n in path.read_bytes() for n in needles)
    )


def test_erasure_leaves_no_copy_in_any_file_while_the_collector_runs(collector: Collector) -> None:
    c = collector
    batch = [{"type": "identify", "userId": "erin-42", "traits": {"email": "erin@example.org"}, "messageId": f"e{i}"}
             for i in range(2000)]  # fmt: skip
    assert c.send(batch).json()["accepted"] == 2000
    assert c.send([{"type": "track", "event": "E", "userId": "other", "messageId": "keep"}]).status_code == 200
    assert _files_holding(c, b"erin-42", b"erin@example.org"), "the test must see the data before erasure"
    assert httpx_delete(c, "/v1/users/erin-42")["messages"] == 2000
    assert _files_holding(c, b"erin-42", b"erin@example.org") == []  # the WAL too, with the collector running
    assert [m["messageId"] for m in c.export()] == ["keep"]


def test_erasing_an_empty_user_id_is_a_400_and_deletes_nothing(collector: Collector) -> None:
    import httpx

    assert collector.send([{"type": "track", "event": ""}]).status_code == 400  # quarantined, no IDs
    for path in ("/v1/users/", "/v1/users/%20"):
        r = httpx.delete(collector.url + path, headers={"Authorization": f"Bearer {collector.export_token}"})
        assert r.status_code == 400 and "userId" in r.text, r.text
    assert len(collector.admin_get("/v1/quarantine").text.splitlines()) == 1


def test_erasure_finds_quarantined_bytes_that_name_the_user(collector: Collector) -> None:
    import httpx

    body = b'{"batch":[{"type":"identify","userId":"ivan","traits":{"name":"M\xfcller"}}]}'
    r = httpx.post(collector.url + "/v1/batch", content=body, auth=(collector.server_key, ""))
    assert r.status_code == 400 and "not UTF-8" in r.text
    assert len(collector.admin_get("/v1/quarantine").text.splitlines()) == 1
    assert httpx_delete(collector, "/v1/users/ivan")["quarantine"] == 1
    assert collector.admin_get("/v1/quarantine").text == ""


def test_erasure_with_suppression_holds_against_a_sender_running_throughout(collector: Collector) -> None:
    import httpx

    c = collector
    with sending_for(c, "rita") as linked:
        r = httpx.delete(c.url + "/v1/users/rita", params={"suppress": "true"},
                         headers={"Authorization": f"Bearer {c.export_token}"}, timeout=120)  # fmt: skip
        assert r.status_code == 200, r.text
        # the sender goes on: its messages for rita are refused, its pages stay anonymous
        c.send([{"type": "track", "event": "sentinel", "userId": "someone", "messageId": "sentinel"}])
    assert c.export(userId="rita") == []
    assert c.admin_get("/v1/profiles/rita").status_code == 404
    assert [line for line in c.admin_get("/v1/links").text.splitlines() if '"rita"' in line] == []
    left = {m.get("anonymousId") for m in c.export()}
    assert linked and not (left & linked), sorted(left & linked)[:5]


def httpx_delete(c: Collector, path: str) -> dict[str, Any]:
    import httpx

    r = httpx.delete(c.url + path, headers={"Authorization": f"Bearer {c.export_token}"}, timeout=60)
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


def test_erasing_a_user_named_like_a_word_keeps_other_unreadable_messages(collector: Collector) -> None:
    """Found in review: a quarantined message was erased when its bytes held the userId anywhere."""
    import httpx

    for body in (b'{"batch":[{"type":"track","event":"","userId":"track","x":"\xff"}]}',
                 b'{"batch":[{"type":"track","event":"track","userId":"someone","x":"\xff"}]}'):  # fmt: skip
        httpx.post(collector.url + "/v1/batch", content=body, auth=(collector.server_key, ""))
    assert len(collector.admin_get("/v1/quarantine").text.splitlines()) == 2
    assert httpx_delete(collector, "/v1/users/track")["quarantine"] == 1  # the one that names the user
    assert len(collector.admin_get("/v1/quarantine").text.splitlines()) == 1
