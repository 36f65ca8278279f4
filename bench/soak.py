"""Soak: minutes of steady traffic with a share of hostile requests; memory, WAL and p99 must stay flat.

Usage: python bench/soak.py [--minutes 3] [--rate 250] [--hostile-share 0.1] [--prefill 0]

One `footfall serve` (SQLite, enrichment on) gets, at the same time:
- steady traffic: `--rate` requests a second of 20-message batches with the server key and single page
  views with the browser key (one in four), each with a unique long page URL now and then;
- hostile traffic, `--hostile-share` of the request rate: 64 KB headers, 2,500-message bodies of invalid
  messages, 60 KB User-Agents, deep nesting, and 200 connections held open sending half a request line.

`--prefill N` first fills the store with N messages like the steady traffic's (a few seconds per
100,000), so that the soak runs on a store of a size it will have in service: a store's commits cost
more while its indexes outgrow the page cache (the first few hundred thousand rows), then level off.

Every 10 s it samples the collector's resident memory, the WAL's size and the p99 latency of the steady
requests in that window, and counts 5xx answers. The figures to read: start, end and max of each; the
goal is no growth beyond the first minutes' level, and zero 5xx.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import socket
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.conftest import Collector  # noqa: E402

BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.five_xx = 0
        self.sent = 0
        self.hostile = 0
        self.statuses: dict[int, int] = {}

    def record(self, seconds: float, status: int) -> None:
        with self.lock:
            self.latencies.append(seconds)
            self.sent += 1
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if status >= 500:
                self.five_xx += 1

    def window(self) -> list[float]:
        with self.lock:
            out, self.latencies = self.latencies, []
        return out


def steady(c: Collector, rate: float, stop: threading.Event, stats: Stats, worker: int) -> None:
    ids = itertools.count()
    interval = 1.0 / rate
    due = time.monotonic()
    with httpx.Client(timeout=30) as client:
        while not stop.is_set():
            n = next(ids)
            url = f"https://shop.example/p/{worker}-{n}"
            long_url = url + "?pad=" + "x" * 28_000  # unique and long: what a cache keyed by URL must survive
            started = time.perf_counter()
            if n % 4 == 3:
                r = client.post(c.url + "/v1/page", auth=(c.write_key, ""), headers={"User-Agent": BROWSER_UA},
                                json={"type": "page", "anonymousId": f"v{worker}-{n % 1000}",
                                      "properties": {"url": long_url if n % 20 == 3 else url}})  # fmt: skip
            else:
                batch = [{"type": "track", "event": "Product Viewed", "userId": f"u{worker}-{n % 5000}",
                          "properties": {"product_id": str(i), "price": 9.5},
                          "context": {"page": {"url": url}}} for i in range(20)]  # fmt: skip
                r = client.post(c.url + "/v1/batch", auth=(c.server_key, ""), json={"batch": batch})
            stats.record(time.perf_counter() - started, r.status_code)
            due += interval
            time.sleep(max(0.0, due - time.monotonic()))


def hostile(c: Collector, rate: float, stop: threading.Event, stats: Stats) -> None:
    kinds = itertools.cycle(["headers", "many", "ua", "deep"])
    interval = 1.0 / rate
    with httpx.Client(timeout=30) as client:
        while not stop.is_set():
            kind = next(kinds)
            try:
                if kind == "headers":
                    with socket.create_connection(("127.0.0.1", c.port), timeout=10) as sock:
                        sock.sendall(b"POST /v1/batch HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 65536 + b"\r\n\r\n")
                        sock.recv(4096)
                    status = 431
                elif kind == "many":
                    body = b'{"batch":[' + b",".join([b"{}"] * 2500) + b"]}"
                    status = client.post(c.url + "/v1/batch", content=body, auth=(c.server_key, "")).status_code
                elif kind == "ua":
                    ua = BROWSER_UA + " " + "".join(random.choices("abcdefgh", k=60_000))
                    r = client.post(c.url + "/v1/track", auth=(c.write_key, ""), headers={"User-Agent": ua[:15_000]},
                                    json={"type": "track", "event": "E", "anonymousId": "h"})  # fmt: skip
                    status = r.status_code
                else:
                    deep = b'{"type":"track","event":"E","userId":"h","properties":' + b"[" * 5000 + b"]" * 5000 + b"}"
                    status = client.post(c.url + "/v1/batch", content=b'{"batch":[' + deep + b"]}",
                                         auth=(c.server_key, "")).status_code  # fmt: skip
            except (OSError, httpx.HTTPError):
                status = 0
            with stats.lock:
                stats.hostile += 1
                if status >= 500:
                    stats.five_xx += 1
            time.sleep(interval)


def idle_connections(c: Collector, count: int, stop: threading.Event) -> None:
    """Keep `count` connections open that send half a request line, opening new ones as they are closed."""
    held: list[socket.socket] = []
    while not stop.is_set():
        while len(held) < count:
            try:
                sock = socket.create_connection(("127.0.0.1", c.port), timeout=5)
                sock.sendall(b"POST /v1/ba")
                held.append(sock)
            except OSError:
                break
        time.sleep(1.0)
        alive = []
        for sock in held:
            sock.setblocking(False)
            try:
                sock.recv(4096)  # the server's 408, or the end of the stream: either way it is done with us
                closed = True
            except BlockingIOError:
                closed = False
            except OSError:
                closed = True
            if closed:
                sock.close()
            else:
                alive.append(sock)
        held = alive
    for sock in held:
        sock.close()


def prefill(c: Collector, rows: int) -> None:
    """`rows` messages written straight into the collector's (stopped) SQLite file, like the steady ones."""
    import json
    import sqlite3
    import uuid

    db = sqlite3.connect(c.data_dir / "footfall.db", isolation_level=None)
    now = int(time.time() * 1000)
    sql = ("INSERT INTO messages (message_id, type, event, user_id, anonymous_id, timestamp, received_at, body, "
           "source) VALUES (?,?,?,?,?,?,?,?,?)")  # fmt: skip
    done = 0
    while done < rows:
        chunk = []
        for n in range(done, min(rows, done + 10_000)):
            mid, user, anon = str(uuid.uuid4()), f"pre-u{n % 50_000}", f"pre-v{uuid.uuid4()}"
            body = json.dumps({"type": "track", "event": "Product Viewed", "messageId": mid, "userId": user,
                               "anonymousId": anon, "properties": {"product_id": str(n), "price": 9.5},
                               "context": {"page": {"url": f"https://shop.example/p/{n}"}}}).encode()  # fmt: skip
            chunk.append((mid, "track", "Product Viewed", user if n % 3 else None, anon, now, now, body, "prefill"))
        db.execute("BEGIN")
        db.executemany(sql, chunk)
        db.execute("COMMIT")
        done += len(chunk)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--rate", type=float, default=250.0, help="steady requests a second, in all")
    parser.add_argument("--hostile-share", type=float, default=0.1)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--prefill", type=int, default=0, help="messages stored before the soak starts")
    parser.add_argument("--collector-args", default="", help="extra `footfall serve` flags, e.g. '--wal-limit-mb 16'")
    args = parser.parse_args()

    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        extra = args.collector_args.split()
        c = Collector(Path(tmp) / "data", "--log-level", "warning", "--rate-limit-per-ip", "0", *extra)
        c.start()
        if args.prefill:
            c.stop()
            started = time.monotonic()
            prefill(c, args.prefill)
            print(f"prefilled {args.prefill:,} messages in {time.monotonic() - started:.0f} s", flush=True)
            c.start()
        assert c.proc is not None
        wal = c.data_dir / "footfall.db-wal"
        stats = Stats()
        stop = threading.Event()
        threads = [threading.Thread(target=steady, args=(c, args.rate / args.workers, stop, stats, w))
                   for w in range(args.workers)]  # fmt: skip
        if args.hostile_share > 0:
            threads.append(threading.Thread(target=hostile, args=(c, args.rate * args.hostile_share, stop, stats)))
            threads.append(threading.Thread(target=idle_connections, args=(c, 200, stop)))
        for t in threads:
            t.start()
        rows = []
        end = time.monotonic() + args.minutes * 60
        print(f"{'t (s)':>6} {'RSS MB':>8} {'WAL MB':>8} {'p99 ms':>8} {'req/s':>8} {'5xx':>5}")
        started = time.monotonic()
        try:
            while time.monotonic() < end:
                time.sleep(10)
                window = sorted(stats.window())
                p99 = window[int(len(window) * 0.99) - 1] * 1000 if window else 0.0
                wal_mb = (os.stat(wal).st_size if wal.exists() else 0) / 2**20
                row = (time.monotonic() - started, rss_mb(c.proc.pid), wal_mb, p99, len(window) / 10, stats.five_xx)
                rows.append(row)
                print(
                    f"{row[0]:>6.0f} {row[1]:>8.1f} {row[2]:>8.1f} {row[3]:>8.1f} {row[4]:>8.0f} {row[5]:>5}",
                    flush=True,
                )
        finally:
            stop.set()
            for t in threads:
                t.join(60)
            c.stop()
        for name, index in (("RSS MB", 1), ("WAL MB", 2), ("p99 ms", 3)):
            values = [r[index] for r in rows]
            print(f"{name}: start {values[0]:.1f}, end {values[-1]:.1f}, max {max(values):.1f}")
        print(f"steady requests: {stats.sent}, statuses {dict(sorted(stats.statuses.items()))}; "
              f"hostile requests: {stats.hostile}; 5xx in all: {stats.five_xx}")  # fmt: skip


if __name__ == "__main__":
    main()
