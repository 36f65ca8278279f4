"""Time: `receivedAt` is the collector's clock; `timestamp` is corrected for the client's clock skew
(`receivedAt - (sentAt - originalTimestamp)`), and the client's own value is kept as
`originalTimestamp`. Absurd times are not believed: see `correct_time`.
"""

from __future__ import annotations

import contextlib
import time
from datetime import UTC, datetime, timedelta

from collector.types import AnyMessage
from collector.validate import MessageTimes

# A corrected time further ahead than this is the client's mistake; such messages get receivedAt.
MAX_FUTURE = timedelta(minutes=5)
# Nothing we collect happened before this; an earlier time is a broken clock (or a zero value).
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
# A browser's queue holds messages for days at most; an older corrected time is a clock gone wrong.
# Backends may import history, so this applies to browser traffic only.
BROWSER_MAX_AGE = timedelta(days=30)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_now: tuple[datetime, int, str] = (EPOCH, -1, "")


def received_now() -> tuple[datetime, int, str]:
    """Now, to the millisecond (as `receivedAt` keeps it): the time, ms since the epoch, and its ISO text.
    Made once a millisecond: under load, the requests of the same millisecond share them."""
    global _now
    ms = time.time_ns() // 1_000_000
    if ms != _now[1]:
        dt = EPOCH + timedelta(milliseconds=ms)
        _now = (dt, ms, iso(dt))
    return _now


def iso(dt: datetime) -> str:
    """`2026-12-01T17:03:34.485Z`. (Per message, so the short way: a UTC time's ISO text ends in +00:00.)"""
    if dt.tzinfo is not UTC:
        dt = dt.astimezone(UTC)
    return dt.isoformat(timespec="milliseconds")[:-6] + "Z"


def to_ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def envelope_sent_at(value: str | None) -> datetime | None:
    """A batch's own `sentAt`, if readable (an unreadable one means no correction, not a rejection)."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def correct_time(
    msg: AnyMessage,
    times: MessageTimes,
    received: datetime,
    received_iso: str,
    batch_sent_at: datetime | None,
    *,
    browser: bool = False,
    historical: bool = False,
) -> datetime:
    """Set receivedAt/originalTimestamp/timestamp on `msg`; return the corrected event time.

    `times` are the message's own, as validation read them; `batch_sent_at` the envelope's `sentAt`.
    `historical`: an imported file's line, whose `timestamp` is when it happened (a collector's export
    has corrected it already): no skew correction, and `originalTimestamp` is left as the line has it.
    """
    msg.received_at = received_iso
    if times.happened is None:
        msg.timestamp = received_iso
        return received
    happened = times.happened
    if historical:  # the line's own fields stay as they are
        sent_at = None
    else:
        msg.original_timestamp = msg.timestamp or msg.original_timestamp
        sent_at = times.sent_at or batch_sent_at
    if sent_at is not None:
        with contextlib.suppress(OverflowError):  # times at the ends of the calendar: no correction
            happened = received - (sent_at - happened)
    if happened - received > MAX_FUTURE or happened < EARLIEST or (browser and received - happened > BROWSER_MAX_AGE):
        happened = received
    msg.timestamp = iso(happened)
    return happened
