"""footfall/errors.py: what a delivery error says."""

from __future__ import annotations

import footfall


def test_rejected_names_three_reasons_and_counts_the_rest() -> None:
    rejections = [{"index": i, "messageId": f"m{i}", "reason": f"bad {i}"} for i in range(5)]
    error = footfall.Rejected(rejections)
    assert str(error) == "collector rejected 5 message(s): bad 0; bad 1; bad 2 (and 2 more)"
    assert error.rejections == rejections and isinstance(error, footfall.DeliveryError)


def test_gave_up_says_its_reason_and_keeps_the_cause() -> None:
    cause = footfall.APIError(503, "storage unavailable")
    error = footfall.GaveUp("gave up after 2 retries sending to http://c.test: last attempt: 503", cause)
    assert str(error) == error.reason == "gave up after 2 retries sending to http://c.test: last attempt: 503"
    assert error.cause is cause and str(cause) == "collector answered 503: storage unavailable"
