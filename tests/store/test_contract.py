"""One contract for every storage backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from collector.config import Settings
from collector.store import ExportFilter, Store, create_store
from collector.types import QuarantineRow, StoredMessage

BACKENDS = ["sqlite"]


def settings_for(backend: str, tmp_path: Path) -> Settings:
    return Settings(db=str(tmp_path / "contract.db"), data_dir=tmp_path)


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    s = create_store(settings_for(request.param, tmp_path))
    await s.open()
    yield s
    await s.close()


def msg(mid: str, *, type_: str = "track", event: str | None = "E", user: str | None = "u", received: int = 1000,
        anon: str | None = None) -> StoredMessage:  # fmt: skip
    return StoredMessage(mid, type_, event, user, anon, received, received, f'{{"messageId":"{mid}"}}'.encode())


async def test_write_returns_new_ids_and_dedups_forever(store: Store) -> None:
    assert await store.write([msg("a"), msg("b")], []) == {"a", "b"}
    assert await store.write([msg("b"), msg("c")], []) == {"c"}
    rows = await store.read_messages(0, 100, ExportFilter())
    assert [body for _, body in rows] == [b'{"messageId":"a"}', b'{"messageId":"b"}', b'{"messageId":"c"}']


async def test_read_is_keyset_paged_in_receipt_order(store: Store) -> None:
    await store.write([msg(f"m{i}") for i in range(5000)], [])
    seen: list[bytes] = []
    after = 0
    while rows := await store.read_messages(after, 700, ExportFilter()):
        seen += [b for _, b in rows]
        after = rows[-1][0]
    assert len(seen) == 5000 and seen[0] == b'{"messageId":"m0"}' and seen[-1] == b'{"messageId":"m4999"}'


async def test_filters(store: Store) -> None:
    await store.write([msg("1", received=10), msg("2", type_="page", event=None, received=20),
                       msg("3", event="Other", user="v", received=30)], [])  # fmt: skip

    async def ids(**kw: object) -> list[bytes]:
        return [b for _, b in await store.read_messages(0, 10, ExportFilter(**kw))]  # type: ignore[arg-type]

    assert len(await ids(type="page")) == 1
    assert await ids(event="Other") == [b'{"messageId":"3"}']
    assert await ids(user_id="v") == [b'{"messageId":"3"}']
    assert len(await ids(since=20)) == 2 and len(await ids(until=20)) == 1


async def test_quarantine_in_the_same_transaction(store: Store) -> None:
    await store.write([msg("ok")], [QuarantineRow(5, "bad", b"{}", None), QuarantineRow(6, "worse", b"[]", "x")])
    rows = await store.read_quarantine(0, 10)
    assert [(r[1], r[2], r[3]) for r in rows] == [(5, "bad", b"{}"), (6, "worse", b"[]")]
    assert await store.read_quarantine(rows[-1][0], 10) == []


async def test_reopen_keeps_data_and_schema(tmp_path: Path) -> None:
    settings = settings_for("sqlite", tmp_path)
    s = create_store(settings)
    await s.open()
    await s.write([msg("kept")], [])
    await s.close()
    s = create_store(settings)
    await s.open()
    assert await s.write([msg("kept")], []) == set()
    await s.close()
