"""examples/pull_profiles: a known set of messages sent to a real collector, pulled into DuckDB by the
example's command; the people rows are exactly the expected ones, agree with the collector's profiles,
and a second pull adds only what is new."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from tests.conftest import Collector
from tests.examples.conftest import EXAMPLES, ROOT, profile

START = datetime.now(UTC).replace(microsecond=0, tzinfo=None) - timedelta(hours=2)


def at(minute: int) -> datetime:
    return START + timedelta(minutes=minute)


def message(kind: str, minute: int, **fields: Any) -> dict[str, Any]:
    """A message of the set, with a timestamp `minute` minutes after START and a messageId naming both."""
    return {"type": kind, "messageId": f"m{minute}", "timestamp": at(minute).isoformat() + "Z", **fields}


def order(minute: int, user: dict[str, str], order_id: str, currency: str, **amounts: float) -> dict[str, Any]:
    props = {"order_id": order_id, "currency": currency, **amounts}
    return message("track", minute, event="Order Completed", properties=props, **user)


def campaign(name: str, source: str = "news") -> dict[str, Any]:
    return {"context": {"campaign": {"name": name, "source": source}}}


FIRST = [
    message("page", 0, anonymousId="a1", **campaign("spring")),
    message("page", 1, anonymousId="a1"),
    order(2, {"anonymousId": "a1"}, "o-1", "EUR", total=10.0),
    message("identify", 3, anonymousId="a1", userId="u1", traits={"email": "u1@example.com"}),
    message("page", 4, anonymousId="a3"),
    message("identify", 5, anonymousId="a3", userId="u1-old"),  # an older account of u1's ...
    message("track", 6, userId="u1-old", event="Signed Up"),
    message("alias", 7, previousId="u1-old", userId="u1"),  # ... merged into u1: a3 -> u1-old -> u1
    order(8, {"userId": "u1"}, "o-2", "usd", total=5.5),
    order(9, {"userId": "u1"}, "o-1", "EUR", total=10.0),  # the same order again: counts once
    message("page", 10, anonymousId="b1", **campaign("summer", "ads")),
    message("identify", 11, anonymousId="b1", userId="u2"),
    order(12, {"userId": "u2"}, "o-3", "EUR", revenue=20.0, total=24.0),  # revenue, not total
    message("track", 13, userId="u2", anonymousId="a1", event="Signed In"),  # u2 on u1's browser: u2's
    message("page", 14, anonymousId="c1"),
    message("page", 15, anonymousId="c1", **campaign("autumn")),  # never signs in (yet)
]
SECOND = [
    message("identify", 16, anonymousId="c1", userId="u3"),
    order(17, {"userId": "u3"}, "o-4", "GBP", total=7.25),
    message("page", 18, anonymousId="a1"),
    order(19, {"userId": "u2"}, "o-3", "EUR", revenue=20.0, total=24.0),  # again
]


def person(
    person_id: str,
    user_id: str | None,
    linked: list[str],
    visits: int,
    orders: int,
    revenue: dict[str, str],
    first: int,
    last: int,
    last_campaign: dict[str, str] | None,
) -> dict[str, Any]:
    return {
        "person_id": person_id,
        "user_id": user_id,
        "linked_ids": linked,
        "visits": visits,
        "orders": orders,
        "revenue": {currency: Decimal(amount) for currency, amount in revenue.items()},
        "first_seen": at(first),
        "last_seen": at(last),
        "last_campaign": last_campaign,
    }


SPRING, SUMMER, AUTUMN = (
    {"name": n, "source": s} for n, s in [("spring", "news"), ("summer", "ads"), ("autumn", "news")]
)
PEOPLE_AFTER_FIRST = [
    person("c1", None, [], 2, 0, {}, 14, 15, AUTUMN),
    person("u1", "u1", ["a1", "a3", "u1-old"], 3, 2, {"EUR": "10", "USD": "5.5"}, 0, 9, SPRING),
    person("u2", "u2", ["b1"], 1, 1, {"EUR": "20"}, 10, 13, SUMMER),
]
PEOPLE_AFTER_SECOND = [
    person("u1", "u1", ["a1", "a3", "u1-old"], 4, 2, {"EUR": "10", "USD": "5.5"}, 0, 18, SPRING),
    person("u2", "u2", ["b1"], 1, 1, {"EUR": "20"}, 10, 19, SUMMER),
    person("u3", "u3", ["c1"], 2, 1, {"GBP": "7.25"}, 14, 17, AUTUMN),
]


def run_pull(collector: Collector, db: Path) -> str:
    """The example's one command; returns what it printed."""
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "pull_profiles" / "pull.py"),
         "--url", collector.url, "--token", collector.export_token, "--db", str(db), "--limit", "3"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def rows(db: Path, query: str) -> list[dict[str, Any]]:
    with duckdb.connect(str(db), read_only=True) as con:
        cursor = con.execute(query)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def people(db: Path) -> list[dict[str, Any]]:
    found = rows(db, "SELECT * FROM people ORDER BY person_id")
    for row in found:
        row["last_campaign"] = None if row["last_campaign"] is None else json.loads(row["last_campaign"])
    return found


def agree_with_the_collector(collector: Collector, found: list[dict[str, Any]]) -> None:
    for row in found:
        if row["user_id"] is None:
            continue  # a visitor who never signed in has no profile on the collector
        theirs = profile(collector, row["user_id"])
        assert row["linked_ids"] == theirs["linkedIds"]
        assert row["visits"] == theirs["pageViews"]
        assert row["orders"] == theirs["orders"]["count"]
        assert {c: float(v) for c, v in row["revenue"].items()} == theirs["orders"]["revenue"]
        assert row["first_seen"] == datetime.fromisoformat(theirs["firstSeen"]).replace(tzinfo=None)
        assert row["last_seen"] == datetime.fromisoformat(theirs["lastSeen"]).replace(tzinfo=None)


def test_pull_builds_people_that_agree_with_the_collector_and_goes_on_incrementally(
    collector: Collector, tmp_path: Path
) -> None:
    db = tmp_path / "profiles.duckdb"
    answer = collector.send(FIRST)
    assert answer.status_code == 200 and answer.json()["accepted"] == len(FIRST), answer.text

    assert run_pull(collector, db) == f"pulled 16 messages and 4 links; 3 people in {db}\n"
    assert people(db) == PEOPLE_AFTER_FIRST
    agree_with_the_collector(collector, people(db))

    answer = collector.send(SECOND)
    assert answer.status_code == 200 and answer.json()["accepted"] == len(SECOND), answer.text
    # Only the new messages and the new link are pulled: the run went on from the saved cursors.
    assert run_pull(collector, db) == f"pulled 4 messages and 1 links; 3 people in {db}\n"
    assert people(db) == PEOPLE_AFTER_SECOND
    agree_with_the_collector(collector, people(db))

    stored = rows(db, "SELECT message_id FROM messages ORDER BY seq")
    assert [r["message_id"] for r in stored] == [m["messageId"] for m in FIRST + SECOND]
    assert run_pull(collector, db) == f"pulled 0 messages and 0 links; 3 people in {db}\n"
