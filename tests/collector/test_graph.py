"""The identity graph, in process: links from identify and alias (chains too), and links made again."""

from __future__ import annotations

import json

from tests.collector.conftest import App, at, expire, ids_of


def test_identify_links_earlier_anonymous_messages(app: App) -> None:
    app.send([
        {"type": "page", "anonymousId": "visitor", "messageId": "before-1", "timestamp": at(3)},
        {"type": "track", "event": "Product Viewed", "anonymousId": "visitor", "messageId": "before-2"},
        {"type": "track", "event": "Other's", "anonymousId": "someone-else", "messageId": "other"},
    ])  # fmt: skip
    app.send([{"type": "identify", "anonymousId": "visitor", "userId": "alice", "messageId": "ident",
               "traits": {"email": "alice@example.com"}}])  # fmt: skip
    assert ids_of(app, userId="alice") == {"before-1", "before-2", "ident"}
    links = [json.loads(x) for x in app.admin("GET", "/v1/links").text.splitlines()]
    assert [(x["fromId"], x["userId"], x["kind"]) for x in links] == [("visitor", "alice", "identify")]


def test_alias_chains(app: App) -> None:
    app.send([
        {"type": "page", "anonymousId": "c-anon", "messageId": "c1"},
        {"type": "identify", "anonymousId": "c-anon", "userId": "carol-old", "messageId": "c2"},
        {"type": "track", "event": "x", "userId": "carol-old", "messageId": "c3"},
        {"type": "alias", "previousId": "carol-old", "userId": "carol", "messageId": "c4"},
        {"type": "alias", "previousId": "carol", "userId": "carol-2026", "messageId": "c5"},
        {"type": "track", "event": "y", "userId": "carol-2026", "messageId": "c6"},
    ])  # fmt: skip
    assert ids_of(app, userId="carol-2026") == {f"c{i}" for i in range(1, 7)}
    profile = app.admin("GET", "/v1/profiles/carol-old").json()
    assert profile["userId"] == "carol-2026" and profile["requestedId"] == "carol-old"
    assert set(profile["linkedIds"]) == {"c-anon", "carol-old", "carol"}
    everyone = [json.loads(x) for x in app.admin("GET", "/v1/profiles").text.splitlines()]
    assert [p["userId"] for p in everyone] == ["carol-2026"]


def test_a_user_who_comes_back_after_erasure_is_linked_again(app: App) -> None:
    app.send([{"type": "identify", "anonymousId": "anon-k", "userId": "user-k"}])
    assert app.admin("DELETE", "/v1/users/user-k").status_code == 200
    app.send([{"type": "identify", "anonymousId": "anon-k", "userId": "user-k"},
              {"type": "page", "anonymousId": "anon-k", "messageId": "back", "timestamp": at(120)}])  # fmt: skip
    links = [json.loads(x) for x in app.admin("GET", "/v1/links").text.splitlines()]
    assert [(x["fromId"], x["userId"]) for x in links] == [("anon-k", "user-k")]
    assert "deleted 0 anonymous messages" in expire(app)
    assert "back" in ids_of(app, userId="user-k")


def test_a_message_naming_the_same_id_twice_links_nothing(app: App) -> None:
    app.send([{"type": "track", "event": "x", "userId": "self-old", "anonymousId": "self-old"},
              {"type": "alias", "previousId": "self-old", "userId": "self-new"}])  # fmt: skip
    assert app.admin("GET", "/v1/profiles/self-old").json()["userId"] == "self-new"
