"""A throwaway PostgreSQL database per test, on the server this machine runs (or FOOTFALL_TEST_POSTGRES)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator

import asyncpg
import pytest

SERVER = os.environ.get("FOOTFALL_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(SERVER, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def reachable() -> str | None:
    """None if the server answers, else why not."""
    try:
        asyncio.run(_admin("SELECT 1"))
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        return f"no PostgreSQL server at {SERVER}: {exc}"
    return None


@pytest.fixture
def postgres_url() -> Iterator[str]:
    why = reachable()
    if why is not None:
        pytest.skip(why)
    name = f"footfall_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f"CREATE DATABASE {name}"))
    yield SERVER.rsplit("/", 1)[0] + "/" + name
    asyncio.run(_admin(f"DROP DATABASE {name} WITH (FORCE)"))
