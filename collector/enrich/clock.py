"""Time: `receivedAt` is the collector's clock; `timestamp` is corrected for the client's clock skew
(`receivedAt - (sentAt - originalTimestamp)`), and the client's own value is kept as
`originalTimestamp`. Absurd times are not believed: see `correct_time`.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

from collector.types import AnyMessage
from collector.validate import parse_time

# A corrected time further ahead than this is the client's mistake; such messages get receivedAt.
MAX_FUTURE = timedelta(minutes=5)
# Nothing we collect happened before this; an earlier time is a broken clock (or a zero value).
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
# A browser's queue holds messages for days at most; an older corrected time is a clock gone wrong.
# Backends may import history, so this applies to browser traffic only.
BROWSER_MAX_AGE = timedelta(days=30)


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def to_ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def correct_time(
    msg: AnyMessage, received: datetime, received_iso: str, envelope_sent_at: str | None, *, browser: bool = False
) -> datetime:
    """Set receivedAt/originalTimestamp/timestamp on `msg`; return the corrected event time.

    Raises Invalid for a message time that is not ISO 8601 with a zone.
    """
    msg.received_at = received_iso
    original = msg.timestamp or msg.original_timestamp
    if original is None:
        msg.timestamp = received_iso
        return received
    msg.original_timestamp = original
    happened = parse_time("timestamp" if msg.timestamp else "originalTimestamp", original)
    sent_at = parse_time("sentAt", msg.sent_at) if msg.sent_at is not None else None
    if sent_at is None and envelope_sent_at is not None:
        with contextlib.suppress(ValueError):  # an unreadable envelope sentAt: no correction
            sent_at = parse_time("sentAt", envelope_sent_at)
    if sent_at is not None:
        with contextlib.suppress(OverflowError):  # times at the ends of the calendar: no correction
            happened = received - (sent_at - happened)
    if happened - received > MAX_FUTURE or happened < EARLIEST or (browser and received - happened > BROWSER_MAX_AGE):
        happened = received
    msg.timestamp = iso(happened)
    return happened
