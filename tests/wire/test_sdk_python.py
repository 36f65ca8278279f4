"""The Python SDK against the wire fixtures: its constants are the fixtures', it refuses at the call what the
collector refuses, and what it sends for each call has the golden message's shape and is stored by a real
collector."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from typing import Any

import footfall
import httpx
import pytest
from footfall import batching, messages
from footfall.errors import InvalidCall

from tests.conftest import Collector
from tests.wire.golden import CURRENCIES, INVALID, JUNK_IDS, LIMITS, VALID, compact, shape

PYTHON = {name: fixture for name, fixture in VALID.items() if fixture["sender"] == "python" and "message" in fixture}
REFUSED = {name: fixture for name, fixture in INVALID.items() if "python_call" in fixture}


class Recorder(httpx.HTTPTransport):
    """The SDK's real HTTP transport, keeping each request body (unzipped) and the collector's answer."""

    def __init__(self) -> None:
        super().__init__()
        self.exchanges: list[tuple[bytes, int, Any]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        if request.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        response = super().handle_request(request)
        response.read()
        self.exchanges.append((body, response.status_code, response.json()))
        return response

    @property
    def sent(self) -> list[dict[str, Any]]:
        return [m for body, _, _ in self.exchanges for m in json.loads(body)["batch"]]


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    c = Collector(tmp_path_factory.mktemp("wire-sdk")).start()
    yield c
    c.stop()


def offline() -> footfall.Client:
    """A client that checks and builds every call but sends nothing; a bad call raises InvalidCall."""
    return footfall.Client("sk_wire", host="http://127.0.0.1:9", send=False, debug=True)


@pytest.fixture
def clients() -> Iterator[list[footfall.Client]]:
    """Clients to shut down after the test (which closes their HTTP connections)."""
    made: list[footfall.Client] = []
    yield made
    for client in made:
        client.shutdown()


def sync_client(
    collector: Collector, recorder: Recorder, clients: list[footfall.Client], **options: Any
) -> footfall.Client:
    """A client that sends each call before returning, through `recorder`, to the real collector."""
    client = footfall.Client(
        collector.server_key, host=collector.url, sync_mode=True, debug=True, transport=recorder, **options
    )
    clients.append(client)
    return client


# --- the constants --------------------------------------------------------------------------------------
def test_constants_are_the_fixtures() -> None:
    assert messages.CURRENCIES == CURRENCIES
    assert messages.JUNK_IDS == JUNK_IDS
    sdk = {
        "message_bytes": messages.MAX_MESSAGE_BYTES,
        "id_length": messages.MAX_ID_LENGTH,
        "name_length": messages.MAX_NAME_LENGTH,
        "batch_messages": batching.MAX_BATCH_MESSAGES,
    }
    assert sdk == {name: LIMITS[name] for name in sdk}  # batch_bytes: see the next test


def test_batches_fill_the_collectors_batch_limit_less_the_envelope() -> None:
    """The SDK fills a batch's messages up to its MAX_BATCH_BYTES; the envelope around them must still fit
    within the collector's limit, and the room kept for it must be small (a batch that follows the limit)."""
    envelope = len(compact({**VALID["py_batch"]["body"], "batch": []}))
    assert batching.MAX_BATCH_BYTES + envelope <= LIMITS["batch_bytes"]
    assert LIMITS["batch_bytes"] - batching.MAX_BATCH_BYTES <= 1024


# --- what the SDK refuses at the call -------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refuses_at_the_call_what_the_collector_rejects(name: str) -> None:
    call = REFUSED[name]["python_call"]
    with pytest.raises(InvalidCall):
        getattr(offline(), call["method"])(**call["kwargs"])


ID_ARGUMENTS = {
    "user_id": ("track", {"event": "Junk"}),
    "anonymous_id": ("track", {"event": "Junk"}),
    "message_id": ("track", {"user_id": "u42", "event": "Junk"}),
    "previous_id": ("alias", {"user_id": "u42"}),
    "group_id": ("group", {"user_id": "u42"}),
}


@pytest.mark.parametrize("argument", sorted(ID_ARGUMENTS))
def test_refuses_every_junk_id(argument: str) -> None:
    method, others = ID_ARGUMENTS[argument]
    client = offline()
    for junk in JUNK_IDS:
        for written in {junk, junk.capitalize(), junk.upper(), f" {junk} "}:
            with pytest.raises(InvalidCall, match="not an ID"):
                getattr(client, method)(**others, **{argument: written})


@pytest.mark.parametrize("argument", sorted(ID_ARGUMENTS))
def test_id_length_limit(argument: str) -> None:
    method, others = ID_ARGUMENTS[argument]
    limit = LIMITS["id_length"]
    client = offline()
    assert getattr(client, method)(**others, **{argument: "i" * limit})
    with pytest.raises(InvalidCall, match=f"the limit is {limit}"):
        getattr(client, method)(**others, **{argument: "i" * (limit + 1)})


@pytest.mark.parametrize(("method", "argument"), [("track", "event"), ("page", "name"), ("screen", "name")])
def test_name_length_limit(method: str, argument: str) -> None:
    limit = LIMITS["name_length"]
    client = offline()
    assert getattr(client, method)("u42", **{argument: "n" * limit})
    with pytest.raises(InvalidCall, match=f"the limit is {limit}"):
        getattr(client, method)("u42", **{argument: "n" * (limit + 1)})


def test_takes_every_listed_currency_and_no_other() -> None:
    client = offline()
    for code in CURRENCIES:
        for written in (code, code.lower()):
            assert client.purchase("u42", "o-1", 10, written)
    for code in ("BTC", "EURO", "US", "€", "XYZ"):
        with pytest.raises(InvalidCall, match="ISO 4217"):
            client.purchase("u42", "o-1", 10, code)


def test_message_size_limit_is_the_collectors(collector: Collector, clients: list[footfall.Client]) -> None:
    """A message of exactly the limit is sent and stored; one byte more is refused at the call."""
    limit = LIMITS["message_bytes"]
    recorder = Recorder()
    client = sync_client(collector, recorder, clients, gzip=False)

    def track(pad: int, message_id: str) -> bool:
        return client.track("u42", "Padded", {"pad": "x" * pad}, message_id=message_id)

    assert track(0, "size-1")
    size = len(compact(recorder.sent[0]))  # the same message but its pad; messageIds of one length
    assert track(limit - size, "size-2")
    assert len(compact(recorder.sent[1])) == limit
    _, status, answer = recorder.exchanges[1]
    assert status == 200 and answer["accepted"] == 1, answer
    with pytest.raises(InvalidCall, match=f"the limit is {limit}"):
        track(limit - size + 1, "size-3")
    assert len(recorder.exchanges) == 2


# --- what the SDK sends ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(PYTHON))
def test_each_call_sends_the_golden_shape_and_is_stored(
    collector: Collector, clients: list[footfall.Client], name: str
) -> None:
    fixture = PYTHON[name]
    recorder = Recorder()
    client = sync_client(collector, recorder, clients)
    assert getattr(client, fixture["call"]["method"])(**fixture["call"]["kwargs"])
    [(body, status, answer)] = recorder.exchanges
    assert status == 200 and answer["rejected"] == [] and answer["accepted"] == 1, answer
    sent = json.loads(body)
    assert shape(sent["batch"][0]) == shape(fixture["message"])
    envelope = VALID["py_batch"]["body"]
    assert shape({**sent, "batch": []}) == shape({**envelope, "batch": []})


def test_largest_batches_fit_the_collectors_limit(collector: Collector) -> None:
    """Messages near the size limit, more than one batch can hold: every batch the SDK makes is taken as it
    is (no 413, which would make the SDK split it), within the collector's limit."""
    recorder = Recorder()
    client = footfall.Client(
        collector.server_key, host=collector.url, debug=True, transport=recorder, flush_at=100, gzip=False
    )
    pad = "x" * (LIMITS["message_bytes"] - 400)
    count = 2 * LIMITS["batch_bytes"] // LIMITS["message_bytes"] + 1
    for i in range(count):
        assert client.track("u42", "Large", {"pad": pad}, message_id=f"large-{i:03d}")
    assert client.flush(timeout=60)
    client.shutdown()
    assert [status for _, status, _ in recorder.exchanges] == [200] * len(recorder.exchanges)
    assert len(recorder.exchanges) >= 3
    assert all(len(body) <= LIMITS["batch_bytes"] for body, _, _ in recorder.exchanges)
    assert sum(answer["accepted"] for _, _, answer in recorder.exchanges) == count
