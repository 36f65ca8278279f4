"""The storage interface. Every backend implements it and passes tests/store/test_contract.py."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from collector.types import QuarantineRow, StoredMessage


@dataclass(frozen=True)
class ExportFilter:
    since: int | None = None  # receivedAt >= since (ms)
    until: int | None = None  # receivedAt < until (ms)
    type: str | None = None
    event: str | None = None
    user_id: str | None = None


class Store(ABC):
    """Where messages live. Writes come from one group committer, so a backend need not serialise them."""

    @abstractmethod
    async def open(self) -> None:
        """Connect and bring the schema up to date (versioned migrations)."""

    @abstractmethod
    async def close(self) -> None:
        """Release connections. Called once, after the last write."""

    @abstractmethod
    async def write(self, messages: Sequence[StoredMessage], quarantine: Sequence[QuarantineRow]) -> set[str]:
        """Store messages and quarantine rows in one transaction, committed before returning.

        Returns:
            The messageIds that were new. A messageId stored before (ever) is not stored again.
        """

    @abstractmethod
    async def read_messages(self, after: int, limit: int, where: ExportFilter) -> list[tuple[int, bytes]]:
        """Up to `limit` (sequence, body) pairs with sequence > `after`, in receipt order.

        Sequences only grow in commit order, so a reader that resumes from the last sequence it saw
        never misses a message committed later and never sees one twice.
        """

    @abstractmethod
    async def read_quarantine(self, after: int, limit: int) -> list[tuple[int, int, str, bytes]]:
        """Up to `limit` (id, receivedAt, reason, payload) quarantine rows with id > `after`."""
