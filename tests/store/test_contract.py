"""One contract for every storage backend."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from collector.config import Settings
from collector.graph import linked_ids, owner
from collector.store import ExportFilter, Store, create_store
from collector.store.base import BEGINNING, Erased, WriteBatch
from collector.types import Link, QuarantineRow, StoredMessage, Trait
from tests.pg import postgres_url  # noqa: F401  (a fixture)

# "serving": SQLite as the running collector opens it, its group commits written in a process of their own
BACKENDS = ["sqlite", "sqlite-serving", "postgresql"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if backend == "postgresql":
        url: str = request.getfixturevalue("postgres_url")
        return url
    return str(tmp_path / "contract.db")


@pytest.fixture
def make_store(backend: str) -> Callable[[Settings], Store]:
    return lambda settings: create_store(settings, serving=backend.endswith("-serving"))


@pytest.fixture
async def store(db_url: str, tmp_path: Path, make_store: Callable[[Settings], Store]) -> AsyncIterator[Store]:
    s = make_store(Settings(db=db_url, data_dir=tmp_path))
    await s.open()
    yield s
    await s.close()


def msg(mid: str, *, type_: str = "track", event: str | None = "E", user: str | None = "u", received: int = 1000,
        anon: str | None = None) -> StoredMessage:  # fmt: skip
    return StoredMessage(mid, type_, event, user, anon, received, received, f'{{"messageId":"{mid}"}}'.encode())


async def test_write_returns_new_ids_and_dedups_forever(store: Store) -> None:
    assert await store.write(WriteBatch([msg("a"), msg("b")])) == {"a", "b"}
    assert await store.write(WriteBatch([msg("b"), msg("c")])) == {"c"}
    rows = await store.read_messages(BEGINNING, 100, ExportFilter())
    assert [body for _, body in rows] == [b'{"messageId":"a"}', b'{"messageId":"b"}', b'{"messageId":"c"}']


async def test_the_new_ids_are_told_apart_from_old_ones_and_repeats_in_any_place(store: Store) -> None:
    assert await store.write(WriteBatch([msg("a")])) == {"a"}
    assert await store.write(WriteBatch([msg("x"), msg("a"), msg("y"), msg("x")])) == {"x", "y"}
    many = [msg(f"m{i}") for i in range(4000)]  # several INSERT statements on SQLite
    assert await store.write(WriteBatch([*many[:3000], msg("a"), msg("m5"), *many[3000:]])) == {
        f"m{i}" for i in range(4000)
    }
    assert await store.write(WriteBatch([msg("m1"), msg("z"), msg("m3999")])) == {"z"}
    assert len(await store.read_messages(BEGINNING, 10_000, ExportFilter())) == 4004


async def test_read_is_keyset_paged_in_receipt_order(store: Store) -> None:
    await store.write(WriteBatch([msg(f"m{i}") for i in range(5000)]))
    seen: list[bytes] = []
    after = BEGINNING
    while rows := await store.read_messages(after, 700, ExportFilter()):
        seen += [b for _, b in rows]
        after = rows[-1][0]
    assert len(seen) == 5000 and seen[0] == b'{"messageId":"m0"}' and seen[-1] == b'{"messageId":"m4999"}'


async def test_filters(store: Store) -> None:
    await store.write(WriteBatch([msg("1", received=10), msg("2", type_="page", event=None, received=20),
                                  msg("3", event="Other", user="v", received=30)]))  # fmt: skip

    async def ids(**kw: object) -> list[bytes]:
        return [b for _, b in await store.read_messages(BEGINNING, 10, ExportFilter(**kw))]  # type: ignore[arg-type]

    assert len(await ids(type="page")) == 1
    assert await ids(event="Other") == [b'{"messageId":"3"}']
    assert await ids(person=frozenset({"v"})) == [b'{"messageId":"3"}']
    assert len(await ids(since=20)) == 2 and len(await ids(until=20)) == 1


async def test_quarantine_in_the_same_transaction(store: Store) -> None:
    await store.write(
        WriteBatch([msg("ok")], [QuarantineRow(5, "bad", b"{}", None), QuarantineRow(6, "worse", b"[]", "x")])
    )
    rows = await store.read_quarantine(BEGINNING, 10)
    assert [(r[1], r[2], r[3]) for r in rows] == [(5, "bad", b"{}"), (6, "worse", b"[]")]
    assert await store.read_quarantine(rows[-1][0], 10) == []


async def test_reopen_keeps_data_and_schema(
    db_url: str, tmp_path: Path, make_store: Callable[[Settings], Store]
) -> None:
    settings = Settings(db=db_url, data_dir=tmp_path)
    s = make_store(settings)
    await s.open()
    await s.write(WriteBatch([msg("kept")]))
    await s.close()
    s = make_store(settings)
    await s.open()
    assert await s.write(WriteBatch([msg("kept")])) == set()
    await s.close()


async def test_guarded_links_never_start_from_an_identified_user(store: Store) -> None:
    await store.write(WriteBatch([msg("alice-1", user="alice")], traits=[Trait("carol", "plan", b'"pro"', 1)],
                                 links=[Link("anon-b", "bob", "identify", 1)]))  # fmt: skip
    await store.write(WriteBatch(
        [msg("dave-1", user="dave")],  # dave is identified by this very batch
        guarded_links=[Link("alice", "mallory", "alias", 2), Link("carol", "mallory", "message", 2),
                       Link("bob", "mallory", "message", 2), Link("dave", "mallory", "message", 2),
                       Link("anon-m", "mallory", "identify", 2)]))  # fmt: skip
    assert await linked_ids(store, "mallory") == {"mallory", "anon-m"}
    assert await owner(store, "alice") is None and await owner(store, "bob") is None
    await store.write(WriteBatch(links=[Link("alice", "alice-new", "alias", 3)]))  # a server's merge is kept
    assert await owner(store, "alice") == "alice-new"


async def test_links_keep_their_first_user_and_chain(store: Store) -> None:
    links = [
        Link("anon-1", "old-user", "identify", 1),
        Link("anon-1", "intruder", "message", 2),
        Link("old-user", "new-user", "alias", 3),
        Link("anon-2", "new-user", "identify", 4),
    ]
    await store.write(WriteBatch(links=links))
    assert await linked_ids(store, "new-user") == {"new-user", "old-user", "anon-1", "anon-2"}
    assert await linked_ids(store, "intruder") == {"intruder"}
    assert await owner(store, "anon-1") == "new-user" and await owner(store, "new-user") is None
    page = await store.read_links(BEGINNING, 2)
    assert [link.from_id for _, link in page] == ["anon-1", "old-user"]
    assert [link.from_id for _, link in await store.read_links(page[-1][0], 10)] == ["anon-2"]


async def test_person_filter_leaves_other_users_messages_on_a_shared_anonymous_id(store: Store) -> None:
    await store.write(WriteBatch([msg("mine", user=None, anon="a"), msg("mine-too", user="u", anon="a"),
                                  msg("theirs", user="v", anon="a")]))  # fmt: skip
    rows = await store.read_messages(BEGINNING, 10, ExportFilter(person=frozenset({"u", "a"})))
    assert [b for _, b in rows] == [b'{"messageId":"mine"}', b'{"messageId":"mine-too"}']


async def test_traits_latest_wins_whatever_the_arrival_order(store: Store) -> None:
    await store.write(WriteBatch(traits=[Trait("u", "plan", b'"pro"', 20)]))
    await store.write(WriteBatch(traits=[Trait("u", "plan", b'"free"', 10), Trait("u", "email", b'"a@b"', 5)]))
    assert sorted(await store.read_traits({"u"})) == [
        Trait("u", "email", b'"a@b"', 5),
        Trait("u", "plan", b'"pro"', 20),
    ]
    assert await store.read_users("", 10) == ["u"]


async def test_many_rows_of_one_batch_keep_their_order_rules(store: Store) -> None:
    """A batch's links, traits and quarantine rows, more than one statement holds (SQLite writes several
    rows an INSERT): the first link of an ID and the latest trait still win, within the batch too."""
    traits = [Trait(f"u{i}", "plan", b'"free"', 10) for i in range(9000)]
    traits += [Trait("u1", "plan", b'"pro"', 30), Trait("u1", "plan", b'"old"', 20), Trait("u8999", "plan", b'"x"', 5)]
    links = [Link(f"a{i}", f"u{i}", "identify", 1) for i in range(9000)] + [Link("a1", "intruder", "message", 2)]
    quarantine = [QuarantineRow(1, "bad", b"{}", None, None, f"a{i}") for i in range(7000)]
    await store.write(WriteBatch(traits=traits, links=links, quarantine=quarantine))
    assert await store.read_traits({"u1", "u8999"}) == [
        Trait("u1", "plan", b'"pro"', 30),
        Trait("u8999", "plan", b'"free"', 10),
    ]
    assert await owner(store, "a1") == "u1" and await owner(store, "a8999") == "u8999"
    assert len(await store.read_links(BEGINNING, 20_000)) == 9000
    assert len(await store.read_quarantine(BEGINNING, 20_000)) == 7000


async def test_expiry_spares_linked_visitors_and_users(store: Store) -> None:
    await store.write(WriteBatch(
        [msg("anon-old", user=None, anon="a1", received=100), msg("anon-new", user=None, anon="a1", received=900),
         msg("linked-old", user=None, anon="a2", received=100), msg("user-old", user="u", received=100)],
        [QuarantineRow(100, "bad", b"{}", None), QuarantineRow(900, "bad", b"{}", None)],
        links=[Link("a2", "u", "identify", 950)]))  # fmt: skip
    assert await store.count_expired(500) == (1, 1)
    step = await store.expire_some(500, 1, BEGINNING)
    assert (step.messages, step.quarantine, step.done) == (1, 1, False)
    step = await store.expire_some(500, 1, step.position)  # the linked visitor's old message: kept
    assert (step.messages, step.quarantine, step.done) == (0, 0, False)
    step = await store.expire_some(500, 1, step.position)
    assert (step.messages, step.quarantine, step.done) == (0, 0, True)
    left = [b for _, b in await store.read_messages(BEGINNING, 10, ExportFilter())]
    assert b'{"messageId":"anon-old"}' not in left and len(left) == 3


async def test_erase_in_chunks_then_graph(store: Store) -> None:
    await store.write(WriteBatch(
        [msg(f"u{i}", user="u") for i in range(5)] + [msg("a", user=None, anon="a"), msg("other", user="v")],
        [QuarantineRow(1, "bad", b"{}", None, "u", None), QuarantineRow(1, "bad", b"{}", None, "v", None)],
        links=[Link("a", "u", "identify", 1)], traits=[Trait("u", "plan", b'"pro"', 1)]))  # fmt: skip
    ids = await linked_ids(store, "u")
    first = await store.erase(ids, 4)
    assert first == Erased(4, 1, 0, 0) and await store.read_erasures() == 0
    assert await store.erase(ids, 4) == Erased(2, 0, 1, 1)
    assert await store.read_erasures() == 1  # links went: other collectors must forget theirs
    assert await store.erase(ids, 4) == Erased(0, 0, 0, 0)
    assert await store.read_erasures() == 1
    assert [b for _, b in await store.read_messages(BEGINNING, 10, ExportFilter())] == [b'{"messageId":"other"}']
    assert len(await store.read_quarantine(BEGINNING, 10)) == 1 and await store.read_traits({"u"}) == []


async def test_suppression_is_remembered(store: Store) -> None:
    await store.suppress("hash-1", 5)
    await store.suppress("hash-1", 6)
    assert await store.read_suppressed() == {"hash-1"}


async def test_a_person_with_very_many_ids(store: Store) -> None:
    """More IDs than SQLite's default limit of bound variables (32,766; Debian's build allows more)."""
    anons = [f"anon-{i}" for i in range(40_000)]
    await store.write(WriteBatch([msg("first", user=None, anon=anons[0]), msg("other", user="v")],
                                 links=[Link(a, "u", "message", 1) for a in anons]))  # fmt: skip
    ids = await linked_ids(store, "u")
    assert len(ids) == 40_001
    rows = await store.read_messages(BEGINNING, 10, ExportFilter(person=frozenset(ids)))
    assert [b for _, b in rows] == [b'{"messageId":"first"}']
    assert await store.erase(ids, 1000) == Erased(1, 0, 40_000, 0)


async def test_sources_are_kept_revoked_and_unique(store: Store) -> None:
    from collector.types import Source

    web = Source("web", "browser", "hash-web", "wk_abcd", "https://shop.example", 10)
    assert await store.add_source(web)
    assert not await store.add_source(web._replace(key_hash="other"))  # the name is taken
    assert not await store.add_source(web._replace(name="web-2"))  # and so is the key
    assert await store.add_source(Source("api", "server", "hash-api", "sk_abcd", "", 11))
    assert [s.name for s in await store.read_sources()] == ["api", "web"]
    assert await store.revoke_source("web", 20) and not await store.revoke_source("web", 21)
    assert not await store.revoke_source("nobody", 20)
    assert {s.name: s.revoked_at for s in await store.read_sources()} == {"api": None, "web": 20}
    await store.write(WriteBatch([msg("from-api")._replace(source="api"), msg("no-source")]))
    rows = await store.read_messages(BEGINNING, 10, ExportFilter(source="api"))
    assert [r.body for r in rows] == [b'{"messageId":"from-api"}']


async def test_end_positions_give_only_what_comes_later(store: Store) -> None:
    assert await store.end_positions() == (BEGINNING, BEGINNING)
    await store.write(WriteBatch([msg("a")], [QuarantineRow(5, "bad", b"{}", None)]))
    messages_end, quarantine_end = await store.end_positions()
    await store.write(WriteBatch([msg("b")], [QuarantineRow(6, "worse", b"[]", None)]))
    assert [r.body for r in await store.read_messages(messages_end, 10, ExportFilter())] == [b'{"messageId":"b"}']
    assert [r.reason for r in await store.read_quarantine(quarantine_end, 10)] == ["worse"]


async def test_a_guarded_link_goes_when_its_from_id_becomes_a_user(store: Store) -> None:
    await store.write(WriteBatch(guarded_links=[Link("bob@example.com", "mallory", "identify", 1),
                                                Link("carol@example.com", "mallory", "identify", 1)]))  # fmt: skip
    assert await owner(store, "bob@example.com") == "mallory"
    await store.write(WriteBatch([msg("bob-1", user="bob@example.com")]))  # bob signs up
    await store.write(WriteBatch(links=[Link("anon-c", "carol@example.com", "identify", 2)]))  # carol, by a server
    assert await owner(store, "bob@example.com") is None and await owner(store, "carol@example.com") is None
    assert await linked_ids(store, "mallory") == {"mallory"}
    assert await owner(store, "anon-c") == "carol@example.com"
