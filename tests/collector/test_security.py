"""What a stranger can and cannot do (issue: security and privacy). Each test failed on the code before."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.conftest import Collector


def _fill(c: Collector, n: int) -> None:
    batch = [{"type": "track", "event": "E", "userId": "u", "messageId": f"m{i}"} for i in range(n)]
    assert c.send(batch).json()["accepted"] == n


@pytest.mark.parametrize("path", ["/v1/export", "/v1/quarantine", "/v1/links"])
def test_forged_or_edited_cursors_are_refused(collector: Collector, path: str) -> None:
    _fill(collector, 3)
    forged = base64.urlsafe_b64encode(b"v1:999999").decode().rstrip("=")  # past the end: was an empty page forever
    for cursor in (forged, base64.urlsafe_b64encode(b"v1:1").decode().rstrip("=")):
        r = collector.admin_get(path, cursor=cursor)
        assert r.status_code == 400 and "not one this collector gave out" in r.text, (cursor, r.text)
    first = collector.admin_get(path, limit=1)
    good = first.headers["Footfall-Cursor"]
    assert collector.admin_get(path, cursor=good).status_code == 200
    edited = good[:-1] + ("A" if good[-1] != "A" else "B")
    assert collector.admin_get(path, cursor=edited).status_code == 400


def test_profiles_cursor_is_authenticated_too(collector: Collector) -> None:
    _fill(collector, 1)
    forged = base64.urlsafe_b64encode(b"u1:").decode().rstrip("=")
    assert collector.admin_get("/v1/profiles", cursor=forged).status_code == 400


def test_cursors_survive_a_secret_rotation_and_not_a_foreign_secret(collector_factory: Any, tmp_path: Any) -> None:
    old = collector_factory("--cookie-secret", "old-secret", data_dir=tmp_path / "d")
    _fill(old, 4)
    cursor = old.admin_get("/v1/export", limit=2).headers["Footfall-Cursor"]
    old.stop()
    rotated = collector_factory("--cookie-secret", "old-secret,new-secret", data_dir=tmp_path / "d")
    r = rotated.admin_get("/v1/export", cursor=cursor)
    assert r.status_code == 200 and len(r.text.splitlines()) == 2
    rotated.stop()
    foreign = collector_factory("--cookie-secret", "someone-else", data_dir=tmp_path / "d")
    assert foreign.admin_get("/v1/export", cursor=cursor).status_code == 400


def test_the_browser_key_cannot_claim_a_user_agent_or_an_ip(collector: Collector) -> None:
    import httpx

    iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X)"
    msg = {"type": "track", "event": "E", "userId": "u", "messageId": "claims",
           "context": {"userAgent": iphone, "ip": "81.2.69.142"}}  # fmt: skip
    r = httpx.post(collector.url + "/v1/batch", json={"batch": [msg]}, auth=(collector.write_key, ""),
                   headers={"User-Agent": ""})  # fmt: skip
    assert r.status_code == 200, r.text
    stored = collector.export()[0]["context"]
    assert "userAgent" not in stored and "device" not in stored
    assert stored["ip"] == "127.0.0.0"  # the socket peer, truncated; not what the message said
    server = {**msg, "messageId": "server-claims"}  # a backend says for whom it sends
    assert collector.send([server]).status_code == 200
    kept = collector.export()[1]["context"]
    assert kept["userAgent"].startswith("Mozilla/5.0 (iPhone") and kept["ip"] == "81.2.69.0"


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
    import threading

    import httpx

    c = collector
    linked: set[str] = set()  # anonymousIds whose identify for rita was stored: they belong to rita
    stop = threading.Event()
    sent = threading.Event()

    def sender() -> None:
        with httpx.Client(auth=(c.server_key, ""), timeout=30) as client:
            i = 0
            while not stop.is_set():
                anon = f"anon-{i}"
                batch = [{"type": "identify", "anonymousId": anon, "userId": "rita", "messageId": f"i{i}"},
                         {"type": "page", "anonymousId": anon, "messageId": f"p{i}"},
                         {"type": "track", "event": "E", "userId": "rita", "messageId": f"t{i}"}]  # fmt: skip
                answer = client.post(c.url + "/v1/batch", json={"batch": batch}).json()
                if not any(r["index"] == 0 for r in answer["rejected"]):
                    linked.add(anon)
                if i == 20:
                    sent.set()
                i += 1

    thread = threading.Thread(target=sender)
    thread.start()
    try:
        assert sent.wait(30)
        r = httpx.delete(c.url + "/v1/users/rita", params={"suppress": "true"},
                         headers={"Authorization": f"Bearer {c.export_token}"}, timeout=120)  # fmt: skip
        assert r.status_code == 200, r.text
        # the sender goes on: its messages for rita are refused, its pages stay anonymous
        c.send([{"type": "track", "event": "sentinel", "userId": "someone", "messageId": "sentinel"}])
    finally:
        stop.set()
        thread.join(60)
    assert not thread.is_alive()
    assert c.export(userId="rita") == []
    assert c.admin_get("/v1/profiles/rita").status_code == 404
    assert [line for line in c.admin_get("/v1/links").text.splitlines() if '"rita"' in line] == []
    left = {m.get("anonymousId") for m in c.export()}
    assert linked and not (left & linked), sorted(left & linked)[:5]


def test_one_client_at_full_speed_does_not_starve_another(collector_factory: Any) -> None:
    import httpx

    c = collector_factory(
        "--rate-limit-per-ip", "5", "--rate-limit-per-ip-burst", "5", "--trusted-proxies", "127.0.0.1"
    )
    msg = {"type": "track", "event": "E", "anonymousId": "a"}

    def post(ip: str, key: str) -> httpx.Response:
        return httpx.post(c.url + "/v1/track", json=msg, auth=(key, ""), headers={"X-Forwarded-For": ip})

    greedy = [post("203.0.113.1", c.write_key) for _ in range(12)]
    refused = [r for r in greedy if r.status_code == 429]
    assert refused and all(r.status_code in (200, 429) for r in greedy)
    assert int(refused[0].headers["Retry-After"]) >= 1 and "rate_limit_per_ip" in refused[0].json()["error"]
    assert post("203.0.113.2", c.write_key).status_code == 200  # another visitor is not held back
    assert all(post("203.0.113.1", c.server_key).status_code == 200 for _ in range(12))  # servers: no IP limit
    assert httpx.get(c.url + "/healthz").json()["counters"]["rate_limited"] == len(refused)


def test_a_write_key_can_be_limited_too(collector_factory: Any) -> None:
    c = collector_factory("--rate-limit-per-key", "1", "--rate-limit-per-key-burst", "2")
    codes = [c.send([{"type": "track", "event": "E", "userId": "u"}]).status_code for _ in range(4)]
    assert codes[:2] == [200, 200] and 429 in codes[2:]


def test_token_buckets_refill_and_forget_the_oldest() -> None:
    from collector.ratelimit import TokenBuckets

    now = [0.0]
    buckets = TokenBuckets(2.0, 3.0, max_keys=2, clock=lambda: now[0])
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == pytest.approx(0.5)  # one token comes in half a second
    now[0] = 0.5
    assert buckets.take("a") == 0.0
    buckets.take("b")
    buckets.take("c")  # "a" is forgotten: memory stays bounded, and "a" comes back with a full bucket
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
