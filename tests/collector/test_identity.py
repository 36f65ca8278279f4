"""Identity graph, profiles, 90-day anonymous expiry and erasure, against the real collector."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.conftest import EXPORT_TOKEN, Collector

NOW = datetime.now(UTC)


def at(days_ago: float) -> str:
    return (NOW - timedelta(days=days_ago)).isoformat().replace("+00:00", "Z")


def admin(c: Collector, method: str, path: str, **kw: Any) -> httpx.Response:
    return httpx.request(method, c.url + path, headers={"Authorization": f"Bearer {c.export_token}"}, **kw)


def footfall(c: Collector, *args: str) -> str:
    cmd = [sys.executable, "-m", "collector", *args, "--data-dir", str(c.data_dir)]
    if args[0] != "expire":  # expire works on the store itself; the others talk to the running collector
        cmd += ["--port", str(c.port), "--export-token", EXPORT_TOKEN]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def ids_of(c: Collector, **params: Any) -> set[str]:
    return {m["messageId"] for m in c.export(**params)}


def test_identify_links_earlier_anonymous_messages(collector: Collector) -> None:
    collector.send([
        {"type": "page", "anonymousId": "visitor", "messageId": "before-1", "timestamp": at(3)},
        {"type": "track", "event": "Product Viewed", "anonymousId": "visitor", "messageId": "before-2"},
        {"type": "track", "event": "Other's", "anonymousId": "someone-else", "messageId": "other"},
    ])  # fmt: skip
    collector.send([{"type": "identify", "anonymousId": "visitor", "userId": "alice", "messageId": "ident",
                     "traits": {"email": "alice@example.com"}}])  # fmt: skip
    assert ids_of(collector, userId="alice") == {"before-1", "before-2", "ident"}
    links = [json.loads(x) for x in admin(collector, "GET", "/v1/links").text.splitlines()]
    assert [(x["fromId"], x["userId"], x["kind"]) for x in links] == [("visitor", "alice", "identify")]


def test_profile_figures_match_a_hand_count(collector: Collector) -> None:
    ua = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"
    order = {"type": "track", "event": "Order Completed", "userId": "bob"}
    collector.send([
        {"type": "page", "anonymousId": "b-anon", "timestamp": at(10), "context": {"userAgent": ua}},
        {"type": "page", "anonymousId": "b-anon", "timestamp": at(9)},
        {"type": "identify", "anonymousId": "b-anon", "traits": {"plan": "free", "name": "B"}, "timestamp": at(9)},
        {"type": "identify", "anonymousId": "b-anon", "userId": "bob", "traits": {"plan": "pro"}, "timestamp": at(8)},
        {**order, "properties": {"order_id": "o1", "revenue": 10.1, "total": 12, "currency": "EUR"},
         "timestamp": at(7)},
        {**order, "properties": {"order_id": "o2", "total": 20.20, "currency": "eur"}, "timestamp": at(6)},
        {**order, "properties": {"order_id": "o2", "total": 20.20, "currency": "EUR"}, "timestamp": at(6)},
        {**order, "properties": {"order_id": "o3", "revenue": 5, "currency": "USD"}, "timestamp": at(5)},
        {"type": "track", "event": "Signed In", "userId": "bob", "anonymousId": "b-anon", "timestamp": at(1)},
        {"type": "page", "userId": "someone", "anonymousId": "b-anon", "timestamp": at(1)},
    ])  # fmt: skip
    p = admin(collector, "GET", "/v1/profiles/bob").json()
    assert p["userId"] == "bob" and p["linkedIds"] == ["b-anon"]
    assert p["messages"] == {"total": 9, "byType": {"page": 2, "identify": 2, "track": 5},
                             "byEvent": {"Order Completed": 4, "Signed In": 1}}  # fmt: skip
    assert p["pageViews"] == 2
    assert p["orders"] == {"count": 3, "revenue": {"EUR": 30.3, "USD": 5.0}}
    assert p["traits"]["plan"]["value"] == "pro" and p["traits"]["name"]["value"] == "B"
    assert p["firstSeen"] == at(10)[:23] + "Z" and p["lastSeen"] == at(1)[:23] + "Z"
    assert p["devices"][0]["type"] == "mobile"
    assert admin(collector, "GET", "/v1/profiles/nobody").status_code == 404


def test_alias_chains(collector: Collector) -> None:
    collector.send([
        {"type": "page", "anonymousId": "c-anon", "messageId": "c1"},
        {"type": "identify", "anonymousId": "c-anon", "userId": "carol-old", "messageId": "c2"},
        {"type": "track", "event": "x", "userId": "carol-old", "messageId": "c3"},
        {"type": "alias", "previousId": "carol-old", "userId": "carol", "messageId": "c4"},
        {"type": "alias", "previousId": "carol", "userId": "carol-2026", "messageId": "c5"},
        {"type": "track", "event": "y", "userId": "carol-2026", "messageId": "c6"},
    ])  # fmt: skip
    assert ids_of(collector, userId="carol-2026") == {f"c{i}" for i in range(1, 7)}
    profile = admin(collector, "GET", "/v1/profiles/carol-old").json()
    assert profile["userId"] == "carol-2026" and profile["requestedId"] == "carol-old"
    assert set(profile["linkedIds"]) == {"c-anon", "carol-old", "carol"}
    everyone = [json.loads(x) for x in admin(collector, "GET", "/v1/profiles").text.splitlines()]
    assert [p["userId"] for p in everyone] == ["carol-2026"]


def test_anonymous_messages_expire_and_identified_ones_stay(collector: Collector) -> None:
    collector.send([
        {"type": "page", "anonymousId": "never-known", "messageId": "gone", "timestamp": at(95)},
        {"type": "page", "anonymousId": "never-known", "messageId": "young", "timestamp": at(30)},
        {"type": "page", "anonymousId": "known-on-day-89", "messageId": "day-1", "timestamp": at(95)},
        {"type": "identify", "anonymousId": "known-on-day-89", "userId": "dora", "messageId": "day-89",
         "timestamp": at(7)},
        {"type": "track", "event": "old purchase", "userId": "erin", "messageId": "user-old", "timestamp": at(400)},
    ])  # fmt: skip
    httpx.post(collector.url + "/v1/batch", auth=(collector.server_key, ""), content=b'{"batch": [1]}')  # quarantined
    assert "would delete 1 anonymous messages" in footfall(collector, "expire", "--dry-run")
    in_61_days = (NOW + timedelta(days=61)).strftime("%Y-%m-%d")
    assert "would delete 2 anonymous messages" in footfall(collector, "expire", "--dry-run", "--as-of", in_61_days)
    in_91_days = (NOW + timedelta(days=91)).strftime("%Y-%m-%d")
    assert "and 1 quarantined" in footfall(collector, "expire", "--dry-run", "--as-of", in_91_days)
    assert len(ids_of(collector)) == 5
    assert "deleted 1 anonymous messages" in footfall(collector, "expire")
    assert ids_of(collector) == {"young", "day-1", "day-89", "user-old"}
    out = footfall(collector, "expire", "--as-of", (NOW + timedelta(days=400)).strftime("%Y-%m-%d"))
    assert "deleted 1 anonymous messages" in out and "and 1 quarantined" in out
    assert ids_of(collector) == {"day-1", "day-89", "user-old"}


def test_the_running_collector_expires_by_itself(collector_factory: Any) -> None:
    c = collector_factory("--expiry-interval-seconds", "1", "--anonymous-retention-days", "30")
    c.send([{"type": "page", "anonymousId": "v", "messageId": "old", "timestamp": at(31)},
            {"type": "page", "anonymousId": "v", "messageId": "new", "timestamp": at(29)}])  # fmt: skip
    deadline = time.monotonic() + 20
    while ids_of(c) != {"new"} and time.monotonic() < deadline:
        time.sleep(0.1)
    assert ids_of(c) == {"new"}
    assert httpx.get(c.url + "/healthz").json()["counters"]["expired_messages"] == 1


def test_erasure_removes_the_user_and_nothing_else(collector: Collector) -> None:
    collector.send([
        {"type": "page", "anonymousId": "f-anon", "messageId": "f1"},
        {"type": "identify", "anonymousId": "f-anon", "userId": "frank", "messageId": "f2", "traits": {"a": 1}},
        {"type": "track", "event": "x", "userId": "frank", "messageId": "f3"},
        {"type": "alias", "previousId": "frank", "userId": "frank-2", "messageId": "f4"},
        {"type": "page", "anonymousId": "f-anon", "userId": "grace", "messageId": "g-on-shared-laptop"},
        {"type": "identify", "anonymousId": "g-anon", "userId": "grace", "messageId": "g1", "traits": {"a": 2}},
        {"type": "track", "userId": "frank", "event": ""},
    ])  # fmt: skip
    r = admin(collector, "DELETE", "/v1/users/frank-2", params={"suppress": "true"})
    assert r.status_code == 200, r.text
    assert r.json() | {"ids": None} == {"userId": "frank-2", "ids": None, "suppressed": True, "messages": 4,
                                        "quarantine": 1, "links": 2, "traits": 1}  # fmt: skip
    assert ids_of(collector) == {"g-on-shared-laptop", "g1"}
    grace = admin(collector, "GET", "/v1/profiles/grace").json()
    assert grace["traits"]["a"]["value"] == 2 and grace["messages"]["total"] == 2
    assert admin(collector, "GET", "/v1/profiles/frank-2").status_code == 404
    assert admin(collector, "GET", "/v1/quarantine").text == ""
    later = collector.send([{"type": "track", "event": "back", "userId": "frank-2"},
                            {"type": "track", "event": "fine", "userId": "grace"}])  # fmt: skip
    assert later.json()["accepted"] == 1
    assert later.json()["rejected"][0]["reason"] == "this userId was erased and is suppressed"
    assert httpx.get(collector.url + "/healthz").json()["counters"]["suppressed"] == 1
    collector.send([{"type": "track", "event": "", "userId": "frank-2"}])  # invalid too: still not kept
    assert admin(collector, "GET", "/v1/quarantine").text == ""
    collector.stop()
    collector.start()  # suppression outlives a restart
    assert collector.send([{"type": "track", "event": "again", "userId": "frank-2"}]).status_code == 400
    collector.stop()
    for path in collector.data_dir.glob("footfall.db*"):  # deleted rows are overwritten, not only unlinked
        assert b"frank" not in path.read_bytes(), path


def test_erase_command(collector: Collector) -> None:
    collector.send([{"type": "track", "event": "x", "userId": "hank", "messageId": "h1"},
                    {"type": "track", "event": "x", "userId": "ivy", "messageId": "i1"}])  # fmt: skip
    out = footfall(collector, "erase", "hank")
    assert out.startswith("erased hank: 1 messages") and ids_of(collector) == {"i1"}


def test_a_user_who_comes_back_after_erasure_is_linked_again(collector: Collector) -> None:
    collector.send([{"type": "identify", "anonymousId": "anon-k", "userId": "user-k"}])
    assert admin(collector, "DELETE", "/v1/users/user-k").status_code == 200
    collector.send([{"type": "identify", "anonymousId": "anon-k", "userId": "user-k"},
                    {"type": "page", "anonymousId": "anon-k", "messageId": "back", "timestamp": at(120)}])  # fmt: skip
    links = [json.loads(x) for x in admin(collector, "GET", "/v1/links").text.splitlines()]
    assert [(x["fromId"], x["userId"]) for x in links] == [("anon-k", "user-k")]
    assert "deleted 0 anonymous messages" in footfall(collector, "expire")
    assert "back" in ids_of(collector, userId="user-k")


def test_a_message_naming_the_same_id_twice_links_nothing(collector: Collector) -> None:
    collector.send([{"type": "track", "event": "x", "userId": "self-old", "anonymousId": "self-old"},
                    {"type": "alias", "previousId": "self-old", "userId": "self-new"}])  # fmt: skip
    assert admin(collector, "GET", "/v1/profiles/self-old").json()["userId"] == "self-new"
