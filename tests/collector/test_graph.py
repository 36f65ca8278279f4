"""The identity graph, in process: links from identify and alias (chains too), and links made again."""

from __future__ import annotations

import json
from typing import Any

from tests.collector.conftest import App, at, expire, ids_of
from tests.conftest import Collector


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


# --- security: what a stranger can and cannot do -------------------------------------------------
def _browser(c: Collector, messages: list[dict[str, Any]], cookies: Any = None) -> Any:
    import httpx

    return httpx.post(c.url + "/v1/batch", json={"batch": messages}, auth=(c.write_key, ""), cookies=cookies)


def _owner_of(c: Collector, some_id: str) -> str | None:
    links = [json.loads(line) for line in c.admin_get("/v1/links").text.splitlines()]
    return next((link["userId"] for link in links if link["fromId"] == some_id), None)


def test_the_browser_key_cannot_link_another_user_into_its_own(collector: Collector) -> None:
    """Alias, identify and any message carrying both IDs: with the public key, only the request's own
    anonymousId is linked, and never an identified user."""
    c = collector
    assert c.send([{"type": "identify", "userId": "alice", "traits": {"email": "alice@example.com"}},
                   {"type": "track", "event": "Order Completed", "userId": "alice", "messageId": "alice-order",
                    "properties": {"order_id": "o1", "total": 10, "currency": "EUR"}}]).status_code == 200  # fmt: skip
    attacks = [
        {"type": "alias", "previousId": "alice", "userId": "mallory"},
        {"type": "identify", "anonymousId": "alice", "userId": "mallory"},  # adopted as the browser's own ID
        {"type": "track", "event": "E", "anonymousId": "alice", "userId": "mallory"},
        {"type": "page", "anonymousId": "alice", "userId": "mallory"},
    ]
    for attack in attacks:  # each alone, as a stranger's first visit (no cookie): the ID is adopted
        assert _browser(c, [attack]).status_code == 200
        assert _owner_of(c, "alice") is None, attack
    assert {m["userId"] for m in c.export(userId="mallory")} == {"mallory"}
    profile = c.admin_get("/v1/profiles/alice").json()
    assert profile["userId"] == "alice" and profile["orders"]["count"] == 1 and "requestedId" not in profile
    erased = httpx_delete(c, "/v1/users/mallory")
    assert "alice" not in erased["ids"]
    assert "alice-order" in {m["messageId"] for m in c.export(userId="alice")}


def test_the_browser_key_links_its_own_anonymous_id(collector: Collector) -> None:
    c = collector
    first = _browser(c, [{"type": "page", "anonymousId": "visitor-1"}])
    cookies = first.cookies
    assert _browser(c, [{"type": "identify", "userId": "bob"}], cookies).status_code == 200
    assert _owner_of(c, "visitor-1") == "bob"
    second = _browser(c, [{"type": "page", "anonymousId": "visitor-2"}])
    alias = {"type": "alias", "previousId": "visitor-2", "userId": "bob2"}  # its own ID: allowed
    assert _browser(c, [alias], second.cookies).status_code == 200
    assert _owner_of(c, "visitor-2") == "bob2"
    other = {"type": "alias", "previousId": "visitor-1", "userId": "bob3"}  # not its own: nothing
    assert _browser(c, [other], second.cookies).status_code == 200
    assert _owner_of(c, "visitor-1") == "bob"


def test_merging_users_is_a_server_key_action(collector: Collector) -> None:
    c = collector
    assert c.send([{"type": "identify", "userId": "alice", "traits": {"plan": "pro"}}]).status_code == 200
    assert c.send([{"type": "alias", "previousId": "alice", "userId": "alice-2"}]).status_code == 200
    assert _owner_of(c, "alice") == "alice-2"


def httpx_delete(c: Collector, path: str) -> dict[str, Any]:
    import httpx

    r = httpx.delete(c.url + path, headers={"Authorization": f"Bearer {c.export_token}"}, timeout=60)
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


def test_an_id_linked_before_its_owner_signs_up_is_not_theirs(collector: Collector) -> None:
    """Found in review: linking a guessable ID (an e-mail address) before it became a user pulled that
    person's later history into the stranger's account."""
    c = collector
    assert (
        _browser(c, [{"type": "identify", "anonymousId": "alice@example.com", "userId": "mallory"}]).status_code == 200
    )
    assert _owner_of(c, "alice@example.com") == "mallory"  # an anonymous ID then: allowed
    me = {"anonymousId": "anon-alice-1", "userId": "alice@example.com"}
    order = {"order_id": "o1", "total": 99, "currency": "USD"}
    alice = [
        {"type": "page", "anonymousId": "anon-alice-1", "messageId": "secret-page"},
        {"type": "identify", **me, "traits": {"phone": "555"}},
        {"type": "track", "event": "Order Completed", **me, "messageId": "alice-order", "properties": order},
    ]
    assert _browser(c, alice).status_code == 200
    assert _owner_of(c, "alice@example.com") is None  # a user now: the browser's link from it is gone
    assert {m["messageId"] for m in c.export(userId="mallory")}.isdisjoint({"secret-page", "alice-order"})
    assert c.admin_get("/v1/profiles/alice@example.com").json()["userId"] == "alice@example.com"
    assert "alice@example.com" not in httpx_delete(c, "/v1/users/mallory")["ids"]
    assert "alice-order" in {m["messageId"] for m in c.export(userId="alice@example.com")}


def test_links_committed_across_an_erasure_are_not_remembered() -> None:
    """Found in review: an erasure could run between two slices of an import's commit, and the links of
    that commit were then remembered as written although the erasure had deleted them."""
    from collector.graph import Graph
    from collector.types import Link
    from collector.validate import decode

    graph = Graph(set())
    msg = decode(json.dumps({"type": "track", "event": "E", "anonymousId": "a", "userId": "u"}).encode())
    link = graph.updates(msg, 1, 1)[0]
    assert link == [Link("a", "u", "message", 1)]
    before = graph.erasures
    graph.forget({"someone-else"})  # an erasure while the commit ran
    graph.remember(link, erasures=before)
    assert graph.updates(msg, 1, 1)[0] == link  # not remembered: written again
    graph.remember(link, erasures=graph.erasures)
    assert graph.updates(msg, 1, 1)[0] == []  # remembered
