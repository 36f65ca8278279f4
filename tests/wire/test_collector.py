"""The collector against the wire fixtures: its constants are the fixtures', it accepts every valid fixture and
rejects every invalid one with the fixture's reason, and its limits hold exactly at the fixtures' numbers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import msgspec
import pytest

from collector import receive, types, validate
from tests.conftest import Collector
from tests.wire.golden import CURRENCIES, INVALID, JUNK_IDS, KEYS, LIMITS, VALID, compact, track_of_size


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    """One real collector (`footfall serve`) for the module: the tests only add messages."""
    collector = Collector(tmp_path_factory.mktemp("wire-collector")).start()
    yield collector
    collector.stop()


def post(app: Collector, body: bytes | dict[str, Any], *, sender: str = "server", path: str = "/v1/batch") -> Any:
    """POST a body as its sender does: the tracker with the browser key in the query, others with Basic auth."""
    content = body if isinstance(body, bytes) else compact(body)
    if sender == "tracker":
        query = {"writeKey": app.write_key}
        return httpx.post(app.url + path, params=query, content=content, headers={"Content-Type": "text/plain"})
    auth = (app.server_key, "")
    return httpx.post(app.url + path, content=content, auth=auth, headers={"Content-Type": "application/json"})


def rejected_reason(app: Collector, message: dict[str, Any]) -> str:
    """Send one bad message beside a good one; the bad one's reason (the good one must be stored)."""
    good = {"type": "track", "userId": "u42", "event": "Beside a bad one"}
    r = post(app, {"batch": [good, message]})
    answer = r.json()
    assert r.status_code == 200 and answer["accepted"] == 1, answer
    assert [x["index"] for x in answer["rejected"]] == [1], answer
    reason: str = answer["rejected"][0]["reason"]
    return reason


def accepted(app: Collector, messages: list[dict[str, Any]]) -> None:
    r = post(app, {"batch": messages})
    assert r.status_code == 200 and r.json()["rejected"] == [], r.text
    assert r.json()["accepted"] == len(messages)


# --- the constants --------------------------------------------------------------------------------------
def test_constants_are_the_fixtures() -> None:
    assert validate.CURRENCIES == CURRENCIES
    assert validate.JUNK_IDS == JUNK_IDS
    collector = {
        "message_bytes": validate.MAX_MESSAGE_BYTES,
        "batch_bytes": receive.MAX_BATCH_BYTES,
        "batch_messages": receive.MAX_BATCH_MESSAGES,
        "id_length": validate.MAX_ID_LENGTH,
        "name_length": validate.MAX_NAME_LENGTH,
    }
    assert collector == LIMITS


def test_envelope_keys_are_the_fixtures() -> None:
    envelope = set(KEYS["envelope"])
    assert envelope == receive.ENVELOPE_KEYS
    assert envelope == {f.encode_name for f in msgspec.structs.fields(receive._Batch)}


@pytest.mark.parametrize("struct", [types.Track, types.Page, types.Screen, types.Identify, types.Group, types.Alias])
def test_message_structs_have_the_fixtures_keys(struct: Any) -> None:
    spec = KEYS["types"][struct.__struct_config__.tag]
    fields = msgspec.structs.fields(struct)
    assert {"type"} | {f.encode_name for f in fields} == set(KEYS["message"]) | set(spec["keys"])
    assert {f.encode_name for f in fields if f.required} == set(spec["required"])


# --- the golden messages --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(VALID))
def test_accepts_every_valid_fixture(app: Collector, name: str) -> None:
    fixture = VALID[name]
    if "body" in fixture:
        r = post(app, fixture["body"], sender=fixture["sender"])
        count = len(fixture["body"]["batch"])
    else:
        r = post(app, {"batch": [fixture["message"]]}, sender=fixture["sender"])
        count = 1
        single = post(app, fixture["message"], sender=fixture["sender"], path=f"/v1/{fixture['message']['type']}")
        assert single.status_code == 200 and single.json()["rejected"] == [], single.text
    assert r.status_code == 200, r.text
    assert r.json()["rejected"] == [] and r.json()["accepted"] == count, r.text


@pytest.mark.parametrize("name", sorted(INVALID))
def test_rejects_every_invalid_fixture_with_its_reason(app: Collector, name: str) -> None:
    fixture = INVALID[name]
    assert fixture["reason"] in rejected_reason(app, fixture["message"])


def junk_variants() -> list[str]:
    """Each junk ID as broken client code writes it: as listed, capitalised, shouted, padded."""
    out = set()
    for junk in JUNK_IDS:
        out |= {junk, junk.capitalize(), junk.upper(), f" {junk} "}
    return sorted(out)


@pytest.mark.parametrize("field", ["userId", "anonymousId", "messageId", "previousId", "groupId"])
def test_rejects_every_junk_id(app: Collector, field: str) -> None:
    base: dict[str, Any] = {
        "previousId": {"type": "alias", "userId": "u42"},
        "groupId": {"type": "group", "userId": "u42"},
    }.get(field, {"type": "track", "event": "Junk", "anonymousId": "a-7"})
    for junk in junk_variants():
        reason = rejected_reason(app, {**base, field: junk})
        assert f"`{field}` is {junk!r}, which is not an ID" in reason


# --- the limits, exactly --------------------------------------------------------------------------------
@pytest.mark.parametrize("field", ["userId", "anonymousId", "messageId", "previousId", "groupId"])
def test_id_length_limit(app: Collector, field: str) -> None:
    limit = LIMITS["id_length"]
    base: dict[str, Any] = {
        "previousId": {"type": "alias", "userId": "u42"},
        "groupId": {"type": "group", "userId": "u42"},
    }.get(field, {"type": "track", "event": "Long ID", "userId": "u42"})
    accepted(app, [{**base, field: "i" * limit}])
    reason = rejected_reason(app, {**base, field: "i" * (limit + 1)})
    assert f"`{field}` is {limit + 1} characters; the limit is {limit}" in reason


@pytest.mark.parametrize(("type_", "field"), [("track", "event"), ("page", "name"), ("screen", "name")])
def test_name_length_limit(app: Collector, type_: str, field: str) -> None:
    limit = LIMITS["name_length"]
    accepted(app, [{"type": type_, "userId": "u42", field: "n" * limit}])
    reason = rejected_reason(app, {"type": type_, "userId": "u42", field: "n" * (limit + 1)})
    assert f"`{field}` is {limit + 1} characters; the limit is {limit}" in reason


def test_message_size_limit(app: Collector) -> None:
    limit = LIMITS["message_bytes"]
    accepted(app, [track_of_size(limit)])
    reason = rejected_reason(app, track_of_size(limit + 1))
    assert f"message is {limit + 1} bytes; the limit is {limit}" in reason


def batch_of_size(size: int) -> bytes:
    """A batch body of exactly `size` bytes, of messages each within the message limit."""
    count = -(-size // (LIMITS["message_bytes"] - 64))
    overhead = len(b'{"batch":[]}') + count - 1
    share, extra = divmod(size - overhead, count)
    messages = [track_of_size(share + (extra if i == 0 else 0), messageId=f"big-{size}-{i:02d}") for i in range(count)]
    body = compact({"batch": messages})
    assert len(body) == size
    return body


def test_batch_size_limit(app: Collector) -> None:
    limit = LIMITS["batch_bytes"]
    body = batch_of_size(limit)
    r = post(app, body)
    assert r.status_code == 200 and r.json()["accepted"] == len(json.loads(body)["batch"]), r.text
    r = post(app, batch_of_size(limit + 1))
    assert r.status_code == 413 and f"the limit is {limit}" in r.text, r.text


def test_every_listed_currency_is_accepted_in_either_case(app: Collector) -> None:
    order = VALID["py_purchase"]["message"]
    messages = []
    for code in sorted(CURRENCIES):
        for written in (code, code.lower()):
            properties = {**order["properties"], "currency": written}
            messages.append({**order, "messageId": f"currency-{written}", "properties": properties})
    accepted(app, messages)
