"""Importing files: `footfall import` (CSV with a mapping, NDJSON, gzip) on the store of a running collector,
and `POST /v1/import/stream` for server keys. Same pipeline as live messages; idempotent; round trip."""

from __future__ import annotations

import gzip
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.collector.conftest import at, footfall, wait_for
from tests.conftest import Collector, child_pids, cmdline

CUSTOMERS = """customer_id,email,plan,zip,since
cust-1,ann@example.com,pro,01234,2021-05-01T09:00:00Z
cust-2,bob@example.com,free,12345,2022-01-15T12:30:00Z
"""
ORDERS = """order_number,customer,amount,currency,ordered_at
ord-100,cust-1,59.90,EUR,2023-03-01T10:00:00Z
ord-101,cust-1,20,EUR,2023-04-01T10:00:00Z
ord-102,cust-2,9.5,USD,2023-05-01T10:00:00Z
"""
CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"


def run_import(c: Collector | Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`footfall import` on a collector's data directory (through that collector, as it runs; `--direct`
    among `args` writes straight into its store), or on a data directory no collector serves."""
    if isinstance(c, Collector):
        args = ("--data-dir", str(c.data_dir), "--server-key", c.server_key, *args)
    else:
        args = ("--data-dir", str(c), *args)
    done = footfall("import", *args, timeout=300)
    assert done.returncode == 0, done.stderr + done.stdout
    return done


def counts(output: str) -> dict[str, int]:
    """The summary line's figures: {"read": 7, "stored": 4, "duplicates": 0, ...}."""
    line = next(x for x in output.splitlines() if x.startswith("read "))
    words = line.replace(",", "").replace(":", "").split()
    found = {"read": int(words[1])}
    for i, word in enumerate(words):
        if word.isdigit() and i + 1 < len(words) and i > 2:
            found[words[i + 1]] = int(word)
    return found


def ndjson(messages: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(m) + "\n" for m in messages)


def _committed_yet(data_dir: Path) -> bool:
    """Whether an import has committed messages; its database may exist before its tables do."""
    try:
        return (data_dir / "footfall.db").exists() and stored_count(data_dir) > 0
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return False
        raise


def stored_count(data_dir: Path) -> int:
    with sqlite3.connect(f"file:{data_dir / 'footfall.db'}?mode=ro", uri=True, timeout=10) as db:
        return int(db.execute("SELECT count(*) FROM messages").fetchone()[0])


def test_crm_customers_and_store_orders_join_web_messages_into_one_profile(
    collector: Collector, tmp_path: Path
) -> None:
    # The website: an anonymous visitor browses, then signs in as cust-1 (the browser key, as the tracker sends).
    web = [{"type": "page", "anonymousId": "visitor-1", "properties": {"url": "https://shop.example/?utm_source=news"}},
           {"type": "identify", "anonymousId": "visitor-1", "userId": "cust-1"}]  # fmt: skip
    r = collector.send(web, key=collector.write_key, headers={"User-Agent": CHROME})
    assert r.status_code == 200 and r.json()["accepted"] == 2, r.text
    # Offline: the CRM's customers and the shop's orders, imported while the collector runs.
    (tmp_path / "customers.csv").write_text(CUSTOMERS)
    (tmp_path / "orders.csv.gz").write_bytes(gzip.compress(ORDERS.encode()))
    out = run_import(collector, str(tmp_path / "customers.csv"), "--user-id-column", "customer_id",
                     "--timestamp-column", "since").stdout  # fmt: skip
    assert counts(out)["stored"] == 2 and counts(out)["rejected"] == 0, out
    out = run_import(collector, str(tmp_path / "orders.csv.gz"), "--event", "Order Completed",
                     "--user-id-column", "customer", "--timestamp-column", "ordered_at",
                     "--property", "order_id=order_number", "--property", "total=amount:number",
                     "--property", "currency").stdout  # fmt: skip
    assert counts(out)["stored"] == 3, out

    profile = collector.admin_get("/v1/profiles/cust-1").json()
    assert profile["anonymousIds"] == ["visitor-1"] and profile["pageViews"] == 1
    assert profile["traits"]["email"]["value"] == "ann@example.com"
    assert profile["traits"]["zip"]["value"] == "01234"  # a number's look with a leading zero stays text
    assert profile["traits"]["plan"] == {"value": "pro", "setAt": "2021-05-01T09:00:00.000Z"}
    assert profile["orders"] == {"count": 2, "revenue": {"EUR": 79.9}}
    assert profile["firstSeen"] == "2021-05-01T09:00:00.000Z"  # the file's own times are kept
    assert profile["messages"]["byType"] == {"page": 1, "identify": 2, "track": 2}
    other = collector.admin_get("/v1/profiles/cust-2").json()
    assert other["orders"] == {"count": 1, "revenue": {"USD": 9.5}} and other["traits"]["zip"]["value"] == 12345
    orders = collector.export(event="Order Completed")
    assert {m["timestamp"] for m in orders} == {"2023-03-01T10:00:00.000Z", "2023-04-01T10:00:00.000Z",
                                                "2023-05-01T10:00:00.000Z"}  # fmt: skip
    assert all(m["receivedAt"] > at(1) for m in orders)  # receivedAt: the time of the import


def test_a_file_imported_twice_stores_nothing_twice(collector: Collector, tmp_path: Path) -> None:
    lines = [{"type": "track", "event": "Signed Up", "userId": f"u{i}", "timestamp": at(3)} for i in range(50)]
    lines += [{"type": "page", "anonymousId": f"a{i}", "timestamp": at(2), "properties": {"path": f"/{i}"}}
              for i in range(50)]  # fmt: skip
    lines.append({"type": "track", "event": "Given", "userId": "u0", "messageId": "given-id"})
    path = tmp_path / "events.ndjson"
    path.write_text(ndjson(lines))
    first = counts(run_import(collector, str(path)).stdout)
    assert first["stored"] == 101 and first["duplicates"] == 0
    # The same lines with their keys in another order and other spacing are the same messages.
    path.write_text("".join(json.dumps(dict(reversed(m.items())), indent=None, separators=(" ,", " : ")) + "\n"
                            for m in lines))  # fmt: skip
    second = counts(run_import(collector, str(path)).stdout)
    assert second["stored"] == 0 and second["duplicates"] == 101
    exported = collector.export()
    assert len(exported) == 101 and len({m["messageId"] for m in exported}) == 101
    assert "given-id" in {m["messageId"] for m in exported}


def test_an_interrupted_import_run_again_completes_without_duplicates(tmp_path: Path) -> None:
    n = 60_000
    path = tmp_path / "big.ndjson"
    with path.open("w") as fh:
        for i in range(n):  # no messageIds: each is derived from the line
            fh.write(json.dumps({"type": "track", "event": "Viewed", "userId": f"u{i % 500}", "timestamp": at(1),
                                 "properties": {"i": i}}) + "\n")  # fmt: skip
    data_dir = tmp_path / "data"
    cmd = [sys.executable, "-m", "collector", "import", "--data-dir", str(data_dir), str(path)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: _committed_yet(data_dir), "a first commit", 60)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    before = stored_count(data_dir)
    assert proc.returncode == -signal.SIGKILL and 0 < before < n, (proc.returncode, before)
    again = counts(run_import(data_dir, str(path)).stdout)
    assert again["read"] == n and again["duplicates"] == before and again["stored"] == n - before
    assert stored_count(data_dir) == n


def test_malformed_lines_are_reported_with_their_line_numbers_and_the_rest_imported(
    collector: Collector, tmp_path: Path
) -> None:
    good = {"type": "track", "event": "Ok", "userId": "u1", "timestamp": at(1)}
    text = "\n".join([
        json.dumps(good),
        "{not json",
        json.dumps({"type": "track", "userId": "u1"}),  # no event
        "",  # blank lines are skipped, but counted in the line numbers
        json.dumps({"type": "track", "event": "Order Completed", "userId": "u1", "properties": {"order_id": "o"}}),
        json.dumps(good | {"event": "Ok 2"}),
        '{"type": "track", "event": "Long", "userId": "u1", "properties": {"pad": "' + "x" * 40_000 + '"}}',
        json.dumps(good | {"event": "Ok 3"}),
    ]) + "\n"  # fmt: skip
    path = tmp_path / "mixed.ndjson"
    path.write_text(text)
    out = run_import(collector, str(path)).stdout
    assert counts(out)["read"] == 7 and counts(out)["stored"] == 3 and counts(out)["rejected"] == 4, out
    assert "line 2: not valid JSON" in out
    assert "line 3: message missing required field `event`" in out
    assert "line 5: `Order Completed` needs a numeric" in out
    assert "line 7: the line is longer than a message may be" in out
    assert {m["event"] for m in collector.export()} == {"Ok", "Ok 2", "Ok 3"}
    assert collector.admin_get("/v1/quarantine").text == ""  # the file holds them: reported, not quarantined


def test_anonymous_history_older_than_the_retention_is_not_stored_unless_linked(
    collector: Collector, tmp_path: Path
) -> None:
    lines = [{"type": "page", "anonymousId": "gone", "timestamp": at(200)},
             {"type": "page", "anonymousId": "kept", "timestamp": at(200)},
             {"type": "page", "anonymousId": "recent", "timestamp": at(10)},
             {"type": "identify", "anonymousId": "kept", "userId": "u-kept", "timestamp": at(150)}]  # fmt: skip
    path = tmp_path / "history.ndjson"
    path.write_text(ndjson(lines))
    out = counts(run_import(collector, str(path)).stdout)
    assert out["stored"] == 3 and out["expired"] == 1
    assert {m.get("anonymousId") for m in collector.export()} == {"kept", "recent"}
    assert collector.admin_get("/v1/profiles/u-kept").json()["pageViews"] == 1


def comparable(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages as a second collector should hold them after export -> import: all but receivedAt (the
    time of the import there)."""
    return sorted(({k: v for k, v in m.items() if k != "receivedAt"} for m in messages), key=lambda m: m["messageId"])


def send_variety(c: Collector) -> None:
    """Browser and server traffic of several kinds, enriched, skew-corrected, linked."""
    browser = [{"type": "page", "anonymousId": "v1", "timestamp": at(0.01), "sentAt": at(0.005),
                "properties": {"url": "https://shop.example/p?utm_source=mail&gclid=x",
                               "referrer": "https://www.google.com/"}},
               {"type": "track", "event": "Element Clicked", "anonymousId": "v1", "properties": {"tag": "a"}},
               {"type": "identify", "anonymousId": "v1", "userId": "buyer",
                "traits": {"email": "b@example.com"}}]  # fmt: skip
    r = c.send(browser, key=c.write_key, headers={"User-Agent": CHROME})
    assert r.status_code == 200 and r.json()["accepted"] == 3, r.text
    server = [{"type": "track", "event": "Order Completed", "userId": "buyer", "timestamp": at(0.02),
               "context": {"ip": "203.0.113.9", "userAgent": CHROME},
               "properties": {"order_id": "o-1", "total": 10.5, "currency": "EUR", "products": [{"price": 10.5}]}},
              {"type": "alias", "previousId": "old-account", "userId": "buyer"},
              {"type": "group", "groupId": "g1", "userId": "buyer", "traits": {"name": "Acme"}},
              {"type": "screen", "name": "Home", "anonymousId": "app-1", "integrations": {"All": False}}]  # fmt: skip
    r = c.send(server)
    assert r.status_code == 200 and r.json()["accepted"] == 4, r.text


def test_export_then_import_into_another_collector_gives_the_same_messages(
    collector_factory: Any, tmp_path: Path
) -> None:
    a: Collector = collector_factory()
    send_variety(a)
    out = tmp_path / "events.ndjson"
    done = footfall("export", "--url", a.url, "--export-token", a.export_token, "--out", str(out))
    assert done.returncode == 0, done.stderr
    b: Collector = collector_factory()
    result = counts(run_import(b, str(out)).stdout)
    assert result["stored"] == 7 and result["rejected"] == 0
    assert comparable(b.export()) == comparable(a.export())
    for user in ("buyer",):
        pa, pb = a.admin_get(f"/v1/profiles/{user}").json(), b.admin_get(f"/v1/profiles/{user}").json()
        assert pa == pb


def ndjson_chunks(n: int) -> Iterator[bytes]:
    for start in range(0, n, 1000):
        yield "".join(json.dumps({"type": "track", "event": "Streamed", "userId": f"u{i % 7}", "timestamp": at(5),
                                  "properties": {"i": i, "pad": "y" * 100}}) + "\n"
                      for i in range(start, min(n, start + 1000))).encode()  # fmt: skip


def test_a_streamed_import_over_http_takes_a_server_key_and_any_length(collector: Collector) -> None:
    url = collector.url + "/v1/import/stream"
    n = 8000  # about 1.2 MB: more than a batch may be
    r = httpx.post(url, content=ndjson_chunks(n), auth=(collector.server_key, ""), timeout=120)
    assert r.status_code == 200, r.text
    summary = r.json()
    assert summary["read"] == n and summary["stored"] == n and summary["success"] is True
    # gzip, in two members, with a bad line: the same summary, with the line's number; nothing stored twice.
    body = b"".join(ndjson_chunks(n)).split(b"\n")
    body.insert(10, b'{"type": "track"}')
    raw = b"\n".join(body)
    half = len(raw) // 2
    gz = gzip.compress(raw[:half]) + gzip.compress(raw[half:])
    r = httpx.post(url, content=gz, auth=(collector.server_key, ""), headers={"Content-Encoding": "gzip"}, timeout=120)
    again = r.json()
    assert r.status_code == 200 and again["read"] == n + 1 and again["duplicates"] == n and again["stored"] == 0
    assert again["rejected"] == 1 and again["rejections"][0]["line"] == 11 and again["success"] is False
    assert len(collector.export()) == n
    # The browser key is public: refused. A truncated gzip body says so, after importing what came before.
    refused = httpx.post(url, content=b"{}\n", auth=(collector.write_key, ""), timeout=30)
    assert refused.status_code == 403 and "server write key" in refused.text
    cut = httpx.post(url, content=gz[:-20], auth=(collector.server_key, ""), headers={"Content-Encoding": "gzip"},
                     timeout=120)  # fmt: skip
    assert cut.status_code == 400 and "truncated" in cut.json()["error"], cut.text
    # /v1/import stays an alias of /v1/batch, with its limits.
    small = collector.send([{"type": "track", "event": "E", "userId": "u"}])
    assert small.status_code == 200
    big = httpx.post(collector.url + "/v1/import", content=b"".join(ndjson_chunks(n)), auth=(collector.server_key, ""))
    assert big.status_code == 413


@pytest.mark.parametrize("how", [(), ("--direct",)], ids=["through-the-collector", "direct"])
def test_import_while_the_collector_takes_live_traffic(collector: Collector, tmp_path: Path, how: tuple[str]) -> None:
    """Through the running collector (the default), or straight into the SQLite file it writes too: both keep
    going, nothing is lost."""
    path = tmp_path / "bulk.ndjson"
    path.write_text(ndjson([{"type": "track", "event": "Bulk", "userId": f"u{i}", "timestamp": at(4)}
                            for i in range(20_000)]))  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "collector", "import", "--data-dir", str(collector.data_dir),
                             "--server-key", collector.server_key, *how, str(path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    sent = 0
    try:
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            r = collector.send([{"type": "track", "event": "Live", "userId": "live", "messageId": f"live-{sent}"}])
            assert r.status_code == 200, r.text
            sent += 1
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert counts(out)["stored"] == 20_000 and sent > 0
    events = [m["event"] for m in collector.export()]
    assert events.count("Bulk") == 20_000 and events.count("Live") == sent


@pytest.mark.parametrize("how", [(), ("--direct",)], ids=["through-the-collector", "direct"])
def test_rejections_name_their_file_and_line_through_the_collector_or_not(
    collector: Collector, tmp_path: Path, how: tuple[str]
) -> None:
    """Several files in one import: line numbers are each file's own, blank lines, a CSV record over two
    lines and lines too long to send included."""
    good = {"type": "track", "event": "Ok", "userId": "u1", "timestamp": at(1)}
    first = tmp_path / "first.ndjson"
    first.write_text(
        "\ufeff" + json.dumps(good) + "\n\n{broken\n" + "x" * 40_000 + "\n" + json.dumps(good | {"event": "B"})
    )
    second = tmp_path / "second.csv"
    second.write_text('user,note\nu2,"two\nlines"\n\nu3,fine\nu4\nu5,last\n')
    third = tmp_path / "third.ndjson.gz"
    third.write_bytes(gzip.compress(b"\n" + json.dumps({"type": "track", "userId": "u6"}).encode() + b"\n"))
    out = run_import(collector, *how, str(first), str(second), str(third), "--event", "Noted",
                     "--user-id-column", "user").stdout  # fmt: skip
    assert counts(out)["read"] == 9 and counts(out)["stored"] == 5 and counts(out)["rejected"] == 4, out
    assert f"{first}:3: not valid JSON" in out
    assert f"{first}:4: the line is longer than a message may be" in out
    assert f"{second}:6: the row has 1 fields; the header has 2" in out
    assert f"{third}:2: message missing required field `event`" in out
    stored = collector.export()
    assert sorted((m["event"], m["userId"]) for m in stored) == [
        ("B", "u1"), ("Noted", "u2"), ("Noted", "u3"), ("Noted", "u5"), ("Ok", "u1")]  # fmt: skip
    assert {m["source"] for m in _rows(collector)} == {"import"}


def _rows(c: Collector) -> list[dict[str, Any]]:
    with sqlite3.connect(f"file:{c.data_dir / 'footfall.db'}?mode=ro", uri=True, timeout=10) as db:
        return [{"source": r[0]} for r in db.execute("SELECT source FROM messages")]


def test_footfall_import_goes_through_the_collector_serving_its_data_dir(collector: Collector, tmp_path: Path) -> None:
    """Found measuring: two processes writing one SQLite file made live requests wait up to 437 ms (p99)."""
    path = tmp_path / "few.ndjson"
    path.write_text(ndjson([{"type": "track", "event": "E", "userId": f"u{i}"} for i in range(30)]))
    done = run_import(collector, str(path), "--source", "crm-2019")
    assert f"importing through the collector at http://127.0.0.1:{collector.port}" in done.stderr
    assert counts(done.stdout)["stored"] == 30
    metrics = collector.admin_get("/metrics").text
    assert (
        'footfall_messages_total{endpoint="import_stream",outcome="accepted",source="default-server"} 30.0' in metrics
    )
    assert {r["source"] for r in _rows(collector)} == {"crm-2019"}
    direct = run_import(collector, str(path), "--direct")
    assert "importing through" not in direct.stderr and counts(direct.stdout)["duplicates"] == 30
    # Without the server key at hand (the collector was given it by flag), the error says what to do.
    bare = footfall("import", "--data-dir", str(collector.data_dir), str(path))
    assert bare.returncode == 1 and "--server-key" in bare.stderr and "--direct" in bare.stderr, bare.stderr


def test_a_serving_file_left_by_a_killed_collector_is_not_followed(collector_factory: Any, tmp_path: Path) -> None:
    c: Collector = collector_factory(data_dir=tmp_path / "d")
    assert (c.data_dir / "serving.json").exists()
    c.stop(signal.SIGKILL)
    path = tmp_path / "one.ndjson"
    path.write_text(ndjson([{"type": "track", "event": "E", "userId": "u"}]))
    done = run_import(c.data_dir, str(path))
    assert "importing through" not in done.stderr and counts(done.stdout)["stored"] == 1
    c.start()
    c.stop()  # a clean stop takes its file away
    assert not (c.data_dir / "serving.json").exists()


def test_csv_times_without_a_zone_take_the_timezone_given(collector: Collector, tmp_path: Path) -> None:
    """A shop's export often says `2023-03-01 10:00:00`, local time: --timezone names the zone."""
    path = tmp_path / "orders.csv"
    path.write_text("customer,ordered_at\nc1,2023-03-01 10:00:00\nc2,2023-07-01T10:00:00\nc3,2023-03-01T10:00:00Z\n")
    args = (str(path), "--event", "Ordered", "--user-id-column", "customer", "--timestamp-column", "ordered_at")
    plain = run_import(collector, *args, "--direct").stdout
    assert counts(plain)["stored"] == 1 and counts(plain)["rejected"] == 2, plain
    assert "line 2: column 'ordered_at': '2023-03-01 10:00:00' names no time zone (give --timezone" in plain
    assert "line 3:" in plain
    zoned = run_import(collector, *args, "--timezone", "Europe/Berlin").stdout
    assert counts(zoned)["stored"] == 2 and counts(zoned)["rejected"] == 0, zoned
    times = {m["userId"]: m["timestamp"] for m in collector.export()}
    assert times == {
        "c1": "2023-03-01T09:00:00.000Z",
        "c2": "2023-07-01T08:00:00.000Z",
        "c3": "2023-03-01T10:00:00.000Z",
    }  # fmt: skip  (CET in March, CEST in July)
    wrong = footfall("import", "--data-dir", str(collector.data_dir), *args, "--timezone", "Mars/Olympus")
    assert wrong.returncode == 1 and "'Mars/Olympus' is not a time zone's name" in wrong.stderr


def test_an_import_after_the_worker_process_died_still_works(collector: Collector, tmp_path: Path) -> None:
    """Found in review: a killed worker (out of memory, say) failed every later import until a restart."""
    path = tmp_path / "a.ndjson"
    path.write_text(ndjson([{"type": "track", "event": "A", "userId": f"u{i}"} for i in range(10)]))
    assert counts(run_import(collector, str(path)).stdout)["stored"] == 10
    assert collector.proc is not None
    children = child_pids(collector.proc.pid)
    workers = [pid for pid in children if b"spawn_main" in cmdline(pid)]
    assert len(workers) == 1, children
    os.kill(int(workers[0]), signal.SIGKILL)
    path.write_text(ndjson([{"type": "track", "event": "B", "userId": f"u{i}"} for i in range(10)]))
    done = run_import(collector, str(path))
    assert counts(done.stdout)["stored"] == 10, done.stdout + done.stderr
    assert "the import worker process died; starting another" in collector.log()


def test_a_serving_file_is_followed_only_when_it_is_the_users_own_and_local(
    collector: Collector, tmp_path: Path
) -> None:
    """Found in review: the server key went wherever serving.json pointed."""
    serving = collector.data_dir / "serving.json"
    assert serving.stat().st_mode & 0o777 == 0o600
    path = tmp_path / "one.ndjson"
    path.write_text(ndjson([{"type": "track", "event": "E", "userId": "u"}]))
    kept = serving.read_text()
    serving.write_text(json.dumps(json.loads(kept) | {"url": "http://192.0.2.1:80"}))
    assert "importing through" not in run_import(collector, str(path)).stderr  # not a local address
    serving.write_text(kept)
    serving.chmod(0o666)
    assert "importing through" not in run_import(collector, str(path)).stderr  # anyone could have written it
    serving.chmod(0o600)
    assert "importing through" in run_import(collector, str(path)).stderr
    no_key = footfall("import", "--data-dir", str(collector.data_dir), "--url", collector.url, str(path))
    assert no_key.returncode == 2 and "--url needs the server key" in no_key.stderr


def test_a_file_that_cannot_be_read_on_stops_the_import_with_a_summary(collector: Collector, tmp_path: Path) -> None:
    """Found in review: a truncated .gz ended the upload mid-way with a traceback and no summary."""
    good = tmp_path / "good.ndjson"
    good.write_text(ndjson([{"type": "track", "event": "E", "userId": f"u{i}"} for i in range(5)]))
    cut = tmp_path / "cut.ndjson.gz"
    cut.write_bytes(gzip.compress(ndjson([{"type": "track", "event": "F", "userId": "v"}] * 50).encode())[:-30])
    for how in ((), ("--direct",)):
        done = footfall("import", "--data-dir", str(collector.data_dir), "--server-key", collector.server_key,
                        *how, str(good), str(cut))  # fmt: skip
        assert done.returncode == 1 and "cut.ndjson.gz" in done.stdout + done.stderr, done.stdout + done.stderr
        assert "Traceback" not in done.stderr
    assert {m["userId"] for m in collector.export(event="E")} == {f"u{i}" for i in range(5)}
