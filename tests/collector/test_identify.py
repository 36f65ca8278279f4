"""The first-party ID cookie: the three rules, tampering, unsafe IDs, the first-visit race, server traffic."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from itsdangerous import Signer

from collector.identify import SALT
from tests.collector.conftest import App
from tests.conftest import COOKIE_SECRET


def browser_send(a: App, anonymous_id: str | None, cookie: str | None = None, **body: Any) -> httpx.Response:
    msg: dict[str, Any] = {"type": "page", "properties": {"url": "https://shop.example/"}}
    if anonymous_id:
        msg["anonymousId"] = anonymous_id
    headers = {"Cookie": f"ff_id={cookie}"} if cookie else {}
    return a.client.post("/v1/batch", params={"writeKey": a.write_key}, headers=headers,
                         content=httpx.Request("POST", "/", json={"batch": [msg], **body}).read())  # fmt: skip


def cookie_of(r: httpx.Response) -> str:
    header = r.headers["set-cookie"]
    assert header.startswith("ff_id=")
    return header.split(";")[0].split("=", 1)[1]


def sign(value: str, secret: str = COOKIE_SECRET) -> str:
    return Signer(secret, salt=SALT).sign(value).decode()


def test_no_cookie_adopts_the_message_id_and_signs_it(app: App) -> None:
    r = browser_send(app, "client-id-1")
    assert r.json()["anonymousId"] == "client-id-1"
    assert Signer(COOKIE_SECRET, salt=SALT).unsign(cookie_of(r)).decode() == "client-id-1"
    attrs = r.headers["set-cookie"]
    assert "HttpOnly" in attrs and "SameSite=lax" in attrs and "Max-Age=31536000" in attrs


def test_valid_cookie_decides_and_is_refreshed(app: App) -> None:
    r = browser_send(app, "fresh-local-id", cookie=sign("known-id"))
    assert r.json()["anonymousId"] == "known-id"
    assert cookie_of(r) == sign("known-id")
    assert app.export()[0]["anonymousId"] == "known-id"


def test_no_id_at_all_gets_a_new_uuid(app: App) -> None:
    r = browser_send(app, None)
    made = r.json()["anonymousId"]
    assert uuid.UUID(made) and app.export()[0]["anonymousId"] == made


def test_tampered_and_foreign_cookies_count_as_absent(app: App) -> None:
    tampered = sign("victim-id")[:-2] + "xx"
    assert browser_send(app, "mine", cookie=tampered).json()["anonymousId"] == "mine"
    foreign = sign("victim-id", secret="someone-else")
    assert browser_send(app, "mine", cookie=foreign).json()["anonymousId"] == "mine"
    unsigned = "victim-id"
    assert browser_send(app, "mine", cookie=unsigned).json()["anonymousId"] == "mine"
    assert {m["anonymousId"] for m in app.export()} == {"mine"}


def test_reset_lets_the_new_id_replace_the_cookie(app: App) -> None:
    r = browser_send(app, "after-logout", cookie=sign("before-logout"), reset=True)
    assert r.json()["anonymousId"] == "after-logout"
    assert cookie_of(r) == sign("after-logout")


def test_junk_client_id_is_replaced(app: App) -> None:
    r = browser_send(app, "undefined")
    assert r.json()["anonymousId"] != "undefined" and uuid.UUID(r.json()["anonymousId"])


@pytest.mark.parametrize("client_id", ["visitor-€", "a\r\nX-Injected: 1", "v1; Domain=example.org; Max-Age=0", "a b"])
def test_unsafe_browser_ids_are_not_put_in_the_cookie(app: App, client_id: str) -> None:
    """Found in review of odd and hostile input."""
    body = {"batch": [{"type": "page", "anonymousId": client_id}]}
    r = app.client.post("/v1/batch", params={"writeKey": app.write_key}, json=body)
    assert r.status_code == 200, r.text
    made = r.json()["anonymousId"]
    assert made != client_id and r.headers["set-cookie"].split(";")[0].startswith(f"ff_id={made}.")
    assert "X-Injected" not in r.headers and "example.org" not in r.headers["set-cookie"]
    assert app.export()[0]["anonymousId"] == made


def test_first_visit_race_ends_with_one_id(app: App) -> None:
    """Several requests leave a new visitor's browser together, none with a cookie."""
    client_id = str(uuid.uuid4())
    answers: list[str] = []
    cookies: list[str] = []
    barrier = threading.Barrier(8)

    def visit() -> None:
        barrier.wait(timeout=30)
        r = browser_send(app, client_id)
        answers.append(r.json()["anonymousId"])
        cookies.append(cookie_of(r))

    threads = [threading.Thread(target=visit) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
        assert not t.is_alive()
    assert set(answers) == {client_id} and len(set(cookies)) == 1
    assert {m["anonymousId"] for m in app.export()} == {client_id}


def test_server_key_keeps_ids_and_sets_no_cookie(app: App) -> None:
    r = app.send([{"type": "track", "event": "x", "anonymousId": "srv-anon"}],
                 headers={"Cookie": f"ff_id={sign('browser-id')}"})  # fmt: skip
    assert r.status_code == 200 and "set-cookie" not in r.headers
    assert r.json()["anonymousId"] is None
    assert app.export()[0]["anonymousId"] == "srv-anon"


def test_samesite_none_adds_secure(app_factory: Callable[..., App]) -> None:
    a = app_factory(cookie_samesite="none", cookie_domain="example.com", allowed_origins=("https://shop.example.com",))
    attrs = browser_send(a, "x").headers["set-cookie"]
    assert "SameSite=none" in attrs and "Secure" in attrs and "Domain=example.com" in attrs
