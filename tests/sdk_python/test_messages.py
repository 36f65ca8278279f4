"""footfall/messages.py: what a call builds and encodes, and the collector's rules checked at the call."""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import footfall
import pytest
from footfall import messages

from tests.conftest import Collector
from tests.sdk_python.helpers import (
    exported_until,
)


def test_messages_get_ids_and_zoned_timestamps(collector: Collector) -> None:
    client = footfall.Client(collector.server_key, host=collector.url, gzip=False)
    for i in range(3):
        assert client.track(f"u{i}", "Ping")
    assert client.shutdown(timeout=10)
    messages = exported_until(collector, 3)
    assert len({m["messageId"] for m in messages}) == 3
    for m in messages:  # time-ordered version 7 UUIDs: the collector's index takes them near its end
        made = uuid.UUID(m["messageId"])
        assert made.version == 7 and abs((made.int >> 80) - time.time() * 1000) < 300_000
        stamp = datetime.fromisoformat(m["timestamp"])
        assert stamp.tzinfo is not None and abs(stamp - datetime.now(UTC)) < timedelta(minutes=5)


def test_caller_changes_after_the_call_do_not_change_the_message(collector: Collector) -> None:
    client = footfall.Client(collector.server_key, host=collector.url)
    props = {"step": 1}
    client.track("u1", "Ping", props, message_id="snap")
    props["step"] = 2
    assert client.shutdown(timeout=10)
    [msg] = exported_until(collector, 1)
    assert msg["properties"] == {"step": 1}


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.track("u", "E", {"x": Decimal("Infinity")}),
        lambda c: c.track("u", "E", {"x": Decimal("sNaN")}),
        lambda c: c.purchase("u", "o1", 10**400, "EUR"),
        lambda c: c.purchase("u", "o1", Decimal("Infinity"), "EUR"),
        lambda c: c.track("null", "E"),
        lambda c: c.track("undefined", "E"),
        lambda c: c.track(" ", "E"),
        lambda c: c.track("u" * 300, "E"),
        lambda c: c.track("u", "E" * 300),
        lambda c: c.group("u", "None"),
        lambda c: c.alias("null", "u"),
        lambda c: c.purchase("u", "o1", 10, "EUR", properties={"tax": "1.50"}),
        lambda c: c.purchase("u", "o1", 10, "EUR", properties={"products": [{"price": "9.99"}]}),
    ],
)
def test_calls_the_collector_would_refuse_return_false_and_never_raise(call: Any) -> None:
    client = footfall.Client("sk", host="http://127.0.0.1:9", send=False)
    assert call(client) is False
    assert client.stats.invalid == 1
    debug = footfall.Client("sk", host="http://127.0.0.1:9", send=False, debug=True)
    with pytest.raises(footfall.InvalidCall):
        call(debug)


def test_now_is_utc_iso_8601_with_milliseconds() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    stamp = messages.now()
    after = datetime.now(UTC)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", stamp)
    assert before <= datetime.fromisoformat(stamp) <= after
