"""Pull a Footfall collector's messages and identity links into a local DuckDB file, and build one row per
person there.

    python examples/pull_profiles/pull.py --url http://127.0.0.1:8000 --token "$(footfall token)" --db profiles.duckdb

Each run goes on from where the last one stopped: it pulls `GET /v1/export` (messages) and `GET /v1/links`
(the identity graph) page by page from the cursors it saved, and stores each page together with its
cursor in one DuckDB transaction. A crash (or a failed request) between two pages loses nothing and
repeats nothing: the next run resumes after the last page that was committed. Then it rebuilds the
`people` table from everything pulled so far. Run it from cron, as often as you like.

Needs httpx and duckdb (`pip install httpx duckdb`). The export token is the collector's (`footfall
token`), also read from FOOTFALL_EXPORT_TOKEN.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import duckdb
import httpx

SCHEMA = """
CREATE TABLE IF NOT EXISTS cursors (
    stream VARCHAR PRIMARY KEY,          -- 'messages' or 'links'
    cursor VARCHAR NOT NULL              -- the collector's Footfall-Cursor after the last page stored
);
CREATE SEQUENCE IF NOT EXISTS receipt_order;
CREATE TABLE IF NOT EXISTS messages (
    message_id VARCHAR PRIMARY KEY,
    seq BIGINT NOT NULL DEFAULT nextval('receipt_order'),  -- the export's order: the collector's receipt order
    type VARCHAR NOT NULL,
    event VARCHAR,
    user_id VARCHAR,
    anonymous_id VARCHAR,
    timestamp TIMESTAMP NOT NULL,        -- UTC, corrected for the client's clock by the collector
    received_at TIMESTAMP NOT NULL,      -- UTC
    order_id VARCHAR,                    -- Order Completed: properties.order_id
    amount DECIMAL(38, 6),               -- ... its revenue, else its total
    currency VARCHAR,                    -- ... its currency, upper case
    campaign JSON,                       -- context.campaign (utm_* and click IDs)
    body JSON NOT NULL                   -- the message as exported
);
CREATE TABLE IF NOT EXISTS links (
    from_id VARCHAR PRIMARY KEY,         -- an anonymousId (identify) or a previousId (alias) ...
    user_id VARCHAR NOT NULL,            -- ... linked to this user; a linked ID keeps its first user
    kind VARCHAR NOT NULL,
    linked_at TIMESTAMP NOT NULL
);
"""

# One row per person. A person is an ID that is linked to no other: a userId, or the anonymousId of a
# visitor who never signed in. Every ID belongs to the person at the end of its chain of links (an
# anonymousId linked to a userId that was aliased to another userId belongs to the latter), followed for
# at most 16 links and never around a loop, as the collector does. A message belongs to the person of
# its userId, or of its anonymousId when it has no userId (someone else may have signed in on the same
# browser: their messages are theirs).
PEOPLE = """
CREATE OR REPLACE TABLE people AS
WITH RECURSIVE
    ids AS (
        SELECT user_id AS id FROM messages WHERE user_id IS NOT NULL
        UNION SELECT anonymous_id FROM messages WHERE anonymous_id IS NOT NULL
        UNION SELECT from_id FROM links
        UNION SELECT user_id FROM links
    ),
    walk (id, reached, path) AS (
        SELECT id, id, [id] FROM ids
        UNION ALL
        SELECT walk.id, links.user_id, list_append(walk.path, links.user_id)
        FROM walk JOIN links ON links.from_id = walk.reached
        WHERE len(walk.path) <= 16 AND NOT list_contains(walk.path, links.user_id)
    ),
    owner AS (SELECT id, arg_max(reached, len(path)) AS person_id FROM walk GROUP BY id),
    theirs AS (
        SELECT m.*, coalesce(by_user.person_id, by_anonymous.person_id) AS person_id
        FROM messages m
        LEFT JOIN owner by_user ON by_user.id = m.user_id
        LEFT JOIN owner by_anonymous ON by_anonymous.id = m.anonymous_id
    ),
    -- Each order once, as it was last sent (a re-sent order counts once).
    orders AS (
        SELECT person_id, order_id, amount, currency FROM theirs
        WHERE type = 'track' AND event = 'Order Completed'
        QUALIFY row_number() OVER (PARTITION BY person_id, order_id ORDER BY seq DESC) = 1
    ),
    revenue AS (
        SELECT person_id, currency, sum(amount) AS amount FROM orders WHERE amount IS NOT NULL GROUP BY ALL
    ),
    activity AS (
        SELECT person_id,
               count(*) FILTER (type = 'page') AS visits,
               min(timestamp) AS first_seen,
               max(timestamp) AS last_seen,
               arg_max(campaign, timestamp) FILTER (campaign IS NOT NULL) AS last_campaign
        FROM theirs GROUP BY person_id
    ),
    identified AS (
        SELECT user_id AS id FROM messages WHERE user_id IS NOT NULL UNION SELECT user_id FROM links
    )
SELECT
    a.person_id,
    CASE WHEN a.person_id IN (SELECT id FROM identified) THEN a.person_id END AS user_id,
    coalesce((SELECT list(o.id ORDER BY o.id) FROM owner o WHERE o.person_id = a.person_id AND o.id <> a.person_id),
             []::VARCHAR[]) AS linked_ids,
    a.visits,
    (SELECT count(*) FROM orders o WHERE o.person_id = a.person_id) AS orders,
    coalesce((SELECT map(list(r.currency ORDER BY r.currency), list(r.amount ORDER BY r.currency))
              FROM revenue r WHERE r.person_id = a.person_id),
             MAP {}::MAP(VARCHAR, DECIMAL(38, 6))) AS revenue,
    a.first_seen,
    a.last_seen,
    a.last_campaign
FROM activity a
ORDER BY a.person_id
"""


def utc(iso: str) -> datetime:
    """A naive UTC datetime from the collector's ISO 8601 times (`...Z`)."""
    return datetime.fromisoformat(iso).astimezone(UTC).replace(tzinfo=None)


def message_row(line: str) -> tuple[Any, ...]:
    msg = json.loads(line)
    order_id = amount = currency = None
    if msg["type"] == "track" and msg.get("event") == "Order Completed":
        props = msg.get("properties") or {}
        order_id = str(props.get("order_id"))
        currency = str(props.get("currency", "")).upper()
        try:
            amount = Decimal(str(props.get("revenue", props.get("total"))))
        except InvalidOperation:
            amount = None  # not a number: the order counts, its amount does not
    campaign = (msg.get("context") or {}).get("campaign")
    return (
        msg["messageId"],
        msg["type"],
        msg.get("event"),
        msg.get("userId"),
        msg.get("anonymousId"),
        utc(msg["timestamp"]),
        utc(msg["receivedAt"]),
        order_id,
        amount,
        currency,
        json.dumps(campaign) if campaign is not None else None,
        line,
    )


def link_row(line: str) -> tuple[Any, ...]:
    link = json.loads(line)
    return (link["fromId"], link["userId"], link["kind"], utc(link["linkedAt"]))


STREAMS: dict[str, tuple[str, str, Callable[[str], tuple[Any, ...]]]] = {
    "messages": (
        "/v1/export",
        "INSERT INTO messages (message_id, type, event, user_id, anonymous_id, timestamp, received_at, order_id,"
        " amount, currency, campaign, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        message_row,
    ),
    "links": (
        "/v1/links",
        "INSERT INTO links VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
        link_row,
    ),
}


def pages(http: httpx.Client, path: str, cursor: str | None, limit: int) -> Iterator[tuple[list[str], str]]:
    """The pages of an NDJSON pull after `cursor`, each with the cursor that follows it, until an empty one."""
    while True:
        response = http.get(path, params={"limit": limit, **({"cursor": cursor} if cursor else {})})
        if response.status_code != 200:
            sys.exit(f"GET {path}: {response.status_code} {response.text.strip()}")
        lines = [line for line in response.text.splitlines() if line]
        if not lines:
            return  # caught up for now
        cursor = response.headers["Footfall-Cursor"]
        yield lines, cursor


def pull(db: duckdb.DuckDBPyConnection, http: httpx.Client, stream: str, limit: int) -> int:
    """Store what is new in one stream; returns how many lines were pulled."""
    path, insert, to_row = STREAMS[stream]
    saved = db.execute("SELECT cursor FROM cursors WHERE stream = ?", [stream]).fetchone()
    pulled = 0
    for lines, cursor in pages(http, path, saved[0] if saved else None, limit):
        rows = [to_row(line) for line in lines]
        # The page and the cursor after it, committed together: never one without the other.
        db.begin()
        try:
            db.executemany(insert, rows)
            db.execute("INSERT OR REPLACE INTO cursors VALUES (?, ?)", [stream, cursor])
            db.commit()
        except BaseException:
            db.rollback()
            raise
        pulled += len(lines)
    return pulled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the collector's base URL")
    parser.add_argument("--token", default=os.environ.get("FOOTFALL_EXPORT_TOKEN"), help="the export token")
    parser.add_argument("--db", type=Path, default=Path("profiles.duckdb"), help="the DuckDB file")
    parser.add_argument("--limit", type=int, default=1000, help="messages or links a request")
    args = parser.parse_args()
    if not args.token:
        sys.exit("no export token: give --token or set FOOTFALL_EXPORT_TOKEN (`footfall token` prints it)")

    headers = {"Authorization": f"Bearer {args.token}"}
    with (
        duckdb.connect(str(args.db)) as db,
        httpx.Client(base_url=args.url.rstrip("/"), headers=headers, timeout=60) as http,
    ):
        db.execute(SCHEMA)
        counts = {stream: pull(db, http, stream, args.limit) for stream in STREAMS}
        db.execute(PEOPLE)
        [(people,)] = db.execute("SELECT count(*) FROM people").fetchall()
    print(f"pulled {counts['messages']} messages and {counts['links']} links; {people} people in {args.db}")


if __name__ == "__main__":
    main()
