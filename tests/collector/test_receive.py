"""Receive: the request as a whole (body limits, gzip, malformed bodies, where the write key is), in process."""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

import pytest

from tests.collector.conftest import App


@pytest.mark.parametrize("how", ["basic", "body", "query"])
def test_write_key_locations(app: App, how: str) -> None:
    batch: dict[str, Any] = {"batch": [{"type": "track", "event": "x", "userId": "u"}]}
    kw: dict[str, Any] = {}
    if how == "basic":
        kw["auth"] = (app.server_key, "")
    elif how == "body":
        batch["writeKey"] = app.server_key
    else:
        kw["params"] = {"writeKey": app.server_key}
    r = app.client.post("/v1/batch", json=batch, **kw)
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(("auth", "text"), [(None, "missing write key"), (("nope", ""), "unknown write key")])
def test_bad_write_key_is_401(app: App, auth: Any, text: str) -> None:
    r = app.client.post("/v1/batch", json={"batch": []}, auth=auth)
    assert r.status_code == 401 and text in r.json()["error"]
    assert app.export() == []


def test_non_ascii_keys_and_tokens_are_401(app: App) -> None:
    """Found in review (each once gave a 500). The export token's part is admin auth (http.py)."""
    batch = b'{"batch":[{"type":"track","event":"x","userId":"u"}]}'
    assert app.client.post("/v1/batch?writeKey=%C3%A9", content=batch).status_code == 401
    assert app.client.post("/v1/batch", content='{"writeKey":"é","batch":[]}'.encode()).status_code == 401
    basic = "Basic " + base64.b64encode("é:".encode()).decode()
    assert app.client.post("/v1/batch", content=batch, headers={"Authorization": basic}).status_code == 401
    r = app.client.get("/v1/export", headers={"Authorization": b"Bearer \xc3\xa9"})
    assert r.status_code == 401


BIG = b'{"batch": [' + b",".join([b'{"type":"track","event":"x","userId":"u"}'] * 14000) + b"]}"


@pytest.mark.parametrize(
    ("body", "headers", "status", "text"),
    [
        (b'{"batch": [', {}, 400, "not valid JSON"),
        (b"", {}, 400, "body is empty"),
        (b"hello", {}, 400, "not valid JSON"),
        (b"[1, 2]", {}, 400, "body: Expected `object`"),
        (b'{"batch": {}}', {}, 400, "`batch`"),
        (b'{"events": []}', {}, 400, "unknown key `events`"),
        (b'{"batch": [], "sentAt": 5}', {}, 400, "`sentAt`"),
        (BIG, {}, 413, "the limit is 512000"),
        (gzip.compress(BIG), {"content-encoding": "gzip"}, 413, "once decompressed"),
        (b"not gzip", {"content-encoding": "gzip"}, 400, "not valid gzip"),
        (gzip.compress(b'{"batch": []}')[:-6], {"content-encoding": "gzip"}, 400, "truncated"),
        (b'{"batch": []}', {"content-encoding": "br"}, 415, "not supported"),
        (b"\xff\xfe{", {}, 400, "not valid JSON"),
    ],
)
def test_malformed_bodies_get_a_4xx_that_says_what(
    app: App, body: bytes, headers: dict[str, str], status: int, text: str
) -> None:
    r = app.client.post("/v1/batch", content=body, headers=headers, auth=(app.server_key, ""))
    assert r.status_code == status, r.text
    assert text in r.json()["error"]
    assert app.send([{"type": "track", "event": "after", "userId": "u"}]).status_code == 200


@pytest.mark.parametrize("path", ["/v1/batch", "/v1/track"])
def test_non_utf8_envelope_is_a_400(app: App, path: str) -> None:
    """Found in review: it once gave a 500."""
    body = b'{"sentAt":"\xe9","batch":[]}' if path == "/v1/batch" else b'{"event":"\xe9","userId":"u"}'
    r = app.client.post(path, content=body, auth=(app.server_key, ""))
    assert r.status_code == 400 and "not UTF-8" in r.json()["error"]


def test_gzip_and_text_plain_bodies(app: App) -> None:
    raw = json.dumps({"batch": [{"type": "track", "event": "zipped", "userId": "u"}]}).encode()
    r = app.client.post("/v1/batch", content=gzip.compress(raw), auth=(app.server_key, ""),
                        headers={"content-encoding": "gzip", "content-type": "text/plain;charset=UTF-8"})  # fmt: skip
    assert r.status_code == 200, r.text
    assert app.export()[0]["event"] == "zipped"


def _nested(levels: int, inner: bytes = b"1") -> bytes:
    """A JSON value nesting `levels` levels: objects and arrays in turn, an object outermost."""
    out = inner
    for i in range(levels):
        out = b'{"a":' + out + b"}" if (levels - 1 - i) % 2 == 0 else b"[" + out + b"]"
    return out


def _post(app: App, body: bytes, path: str = "/v1/batch") -> Any:
    return app.client.post(path, content=body, auth=(app.server_key, ""))


def test_a_too_deep_message_is_rejected_alone_and_the_rest_stored(app: App) -> None:
    """About 1,000 levels once raised RecursionError: a 500 that lost the whole batch, retried forever."""
    ok = b'{"type":"track","event":"ok","userId":"u","messageId":"ok-%d"}'
    for deep in (b'{"type":"track","event":"E","userId":"u","properties":' + _nested(1200) + b"}",
                 _nested(5000),  # a message that is only brackets
                 b'{"type":"track","event":"E","userId":"u","context":{"x":' + _nested(80) + b"}}"):  # fmt: skip
        body = b'{"batch":[' + ok % 1 + b"," + deep + b"," + ok % 2 + b"]}"
        r = _post(app, body)
        assert r.status_code == 200, r.text
        assert r.json()["accepted"] == 2 and r.json()["duplicates"] in (0, 2)
        assert [x["index"] for x in r.json()["rejected"]] == [1]
        assert "nests deeper than 64 levels" in r.json()["rejected"][0]["reason"]
    quarantined = app.admin("GET", "/v1/quarantine").text.splitlines()
    assert len(quarantined) == 3 and all("nests deeper" in line for line in quarantined)


def test_the_nesting_limit_is_64_levels_of_a_message(app: App) -> None:
    def message(levels: int) -> bytes:  # the message object is level 1, its properties level 2
        return b'{"type":"track","event":"E","userId":"u","properties":' + _nested(levels - 1) + b"}"

    assert _post(app, b'{"batch":[' + message(64) + b"]}").json()["accepted"] == 1
    r = _post(app, b'{"batch":[' + message(65) + b"]}")
    assert r.status_code == 400 and "nests deeper than 64 levels" in r.json()["rejected"][0]["reason"]


def test_a_too_deep_envelope_or_single_message_is_a_400(app: App) -> None:
    r = _post(app, b'{"batch":[],"context":' + _nested(2000) + b"}")
    assert r.status_code == 400 and "nests deeper than 64 levels outside `batch`" in r.json()["error"]
    r = _post(app, b'{"batch":' + _nested(2000) + b"}")
    assert r.status_code in (400,) and "error" in r.json()
    single = b'{"type":"track","event":"E","userId":"u","properties":' + _nested(2000) + b"}"
    r = _post(app, single, "/v1/track")
    assert r.status_code == 400 and "nests deeper than 64 levels" in r.json()["error"]


def test_a_batch_carries_at_most_2500_messages(app: App) -> None:
    many = [{"type": "track", "event": "E", "userId": "u"}] * 2501
    r = app.client.post("/v1/batch", json={"batch": many}, auth=(app.server_key, ""))
    assert r.status_code == 413 and "the limit is 2500 a request" in r.json()["error"]
    assert app.export() == []


def test_a_flood_of_invalid_messages_costs_a_bounded_quarantine_and_answer(app: App) -> None:
    """170,000 invalid messages in 341 KB once wrote 170,000 quarantine rows and a 15 MB answer."""
    junk = b'{"batch":[' + b",".join([b"{}"] * 2500) + b"]}"
    r = app.client.post("/v1/batch", content=junk, auth=(app.server_key, ""))
    assert r.status_code == 400
    answer = r.json()
    assert answer["rejectedCount"] == 2500 and len(answer["rejected"]) == 100 and len(r.content) < 20_000
    assert len(app.admin("GET", "/v1/quarantine").text.splitlines()) == 100


def test_a_multi_member_gzip_body_is_read_whole_and_trailing_bytes_are_an_error(app: App) -> None:
    body = b'{"batch":[{"type":"track","event":"E","userId":"u","messageId":"gz-1"}]}'
    two_members = gzip.compress(body[:20]) + gzip.compress(body[20:])  # valid RFC 1952: read both
    headers = {"Content-Encoding": "gzip"}
    r = app.client.post("/v1/batch", content=two_members, headers=headers, auth=(app.server_key, ""))
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
    r = app.client.post("/v1/batch", content=gzip.compress(body) + b"junk", headers=headers,
                        auth=(app.server_key, ""))  # fmt: skip
    assert r.status_code == 400 and "4 bytes after its gzip stream" in r.json()["error"]
    bomb = gzip.compress(body[:20]) + gzip.compress(b" " * 600_000 + body[20:])  # the limit counts all members
    r = app.client.post("/v1/batch", content=bomb, headers=headers, auth=(app.server_key, ""))
    assert r.status_code == 413
