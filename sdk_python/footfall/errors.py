"""What the SDK reports to `on_error` and raises in debug mode.

    FootfallError
    ├── InvalidCall        a tracking call had bad arguments (logged and dropped; raised when debug=True)
    └── DeliveryError      a batch, or part of one, did not reach the collector's store
        ├── APIError       the collector answered with an error status that is not retried
        ├── Rejected       the collector took the batch but refused some messages in it (a 200)
        └── GaveUp         retries ran out (network error, 5xx or 429), or the client shut down first

Bad options at construction raise `ValueError` or `TypeError`, as any Python constructor would.
"""

from __future__ import annotations

from typing import Any


class FootfallError(Exception):
    """Base class of everything the SDK reports."""


class InvalidCall(FootfallError, ValueError):
    """A tracking call had bad arguments; the message was not queued."""


class DeliveryError(FootfallError):
    """Messages that were queued will not be stored by the collector."""


class APIError(DeliveryError):
    """The collector answered `status` with `message`; the batch is dropped (retrying would not help)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"collector answered {status}: {message}")
        self.status = status
        self.message = message


class Rejected(DeliveryError):
    """The collector stored a batch except the messages in `rejections` (each `index`, `messageId`, `reason`)."""

    def __init__(self, rejections: list[dict[str, Any]]) -> None:
        reasons = "; ".join(str(r.get("reason")) for r in rejections[:3])
        more = f" (and {len(rejections) - 3} more)" if len(rejections) > 3 else ""
        super().__init__(f"collector rejected {len(rejections)} message(s): {reasons}{more}")
        self.rejections = rejections


class GaveUp(DeliveryError):
    """Delivery stopped without success. `reason` says why, naming the collector and what its last attempt met
    (`connection refused`, `503 Service Unavailable (...)`); `cause` is that last error (None when shut down first)."""

    def __init__(self, reason: str, cause: BaseException | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.cause = cause
