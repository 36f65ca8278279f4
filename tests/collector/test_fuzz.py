"""Fuzzed ingest (Hypothesis): whatever arrives, no 5xx, and valid messages beside the junk are stored."""

from __future__ import annotations

import gzip
import itertools
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.collector.conftest import App

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
KEYS = ["type", "event", "userId", "anonymousId", "messageId", "timestamp", "sentAt", "context", "properties",
        "traits", "name", "previousId", "groupId", "integrations", "originalTimestamp"]  # fmt: skip
# Near-miss messages: real keys with any values (types, nesting, sizes the rules must catch).
MESSAGES = st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), JSON, max_size=8)


def deep(levels: int) -> bytes:
    return b'{"a":' * levels + b"1" + b"}" * levels


JUNK = st.one_of(
    JSON.map(lambda v: json.dumps(v).encode()),
    MESSAGES.map(lambda v: json.dumps(v).encode()),
    st.integers(60, 3000).map(deep),
    st.binary(max_size=40).map(lambda b: json.dumps(b.decode("latin-1")).encode()),  # odd characters
    st.just(b'"\\ud800"'),  # a lone surrogate escape
    st.just('{"type":"identify","userId":"u","traits":{"n":"M\xfcller"}}'.encode("latin-1")),  # not UTF-8
)
_ids = itertools.count()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(junk=st.lists(JUNK, max_size=6), valid=st.integers(0, 4), zipped=st.booleans())
def test_no_5xx_and_the_valid_messages_are_stored(app: App, junk: list[bytes], valid: int, zipped: bool) -> None:
    ids = [f"fuzz-{next(_ids)}" for _ in range(valid)]
    good = [json.dumps({"type": "track", "event": "E", "userId": "u", "messageId": m}).encode() for m in ids]
    elements = [x for pair in itertools.zip_longest(good, junk) for x in pair if x is not None]
    body = b'{"batch":[' + b",".join(elements) + b"]}"
    headers = {"Content-Encoding": "gzip"} if zipped else {}
    r = app.client.post("/v1/batch", content=gzip.compress(body) if zipped else body, headers=headers,
                        auth=(app.server_key, ""))  # fmt: skip
    assert r.status_code < 500, r.text
    if ids and r.status_code == 200:
        stored = {m["messageId"] for m in app.export(userId="u")}
        assert set(ids) <= stored
    elif ids:  # the envelope itself was refused: say why
        assert "error" in r.json(), r.text


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(st.binary(max_size=300), JSON.map(lambda v: json.dumps(v).encode()),
                      st.integers(60, 3000).map(deep)),
       path=st.sampled_from(["/v1/batch", "/v1/track", "/v1/identify", "/v1/alias"]))  # fmt: skip
def test_any_body_on_any_endpoint_is_never_a_5xx(app: App, body: bytes, path: str) -> None:
    r = app.client.post(path, content=body, auth=(app.server_key, ""))
    assert r.status_code < 500, r.text
    answer: Any = r.json()
    assert isinstance(answer, dict) and ("error" in answer or "accepted" in answer)
