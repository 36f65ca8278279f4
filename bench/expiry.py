"""Anonymous expiry under load: delete 30% of a 1,000,000-message store while ingestion runs.

Usage: python bench/expiry.py [--messages 1000000] [--connections 8]
Builds a SQLite store (70% identified users' messages, 30% never-identified visitors' messages older
than the retention), then, in one run:
1. baseline: `footfall serve` with expiry off; wrk sends single messages in 2-second slices;
2. the same with the periodic expiry on: it starts with the collector and deletes the 30% in chunks
   while wrk runs slices until it is done.
Prints how long expiry took, and ingest p50/p99 per slice with and without it (the ratio is the cost).
Needs wrk (Debian package `wrk`).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ingest import MESSAGE, run_wrk  # noqa: E402
from collector.config import Settings  # noqa: E402
from collector.store import create_store  # noqa: E402
from collector.store.base import WriteBatch  # noqa: E402
from collector.types import StoredMessage  # noqa: E402
from tests.conftest import Collector  # noqa: E402

SLICE = 2


async def build(data_dir: Path, total: int) -> None:
    store = create_store(Settings(data_dir=data_dir))
    await store.open()
    now = datetime.now(UTC)
    old = int((now - timedelta(days=120)).timestamp() * 1000)
    recent = int((now - timedelta(days=5)).timestamp() * 1000)
    body = json.dumps(MESSAGE).encode()
    step = 20_000
    for start in range(0, total, step):
        rows = []
        for i in range(start, min(start + step, total)):
            anonymous = i % 10 < 3  # 30% never identified, 120 days old: all expire
            ts = old if anonymous or i % 2 else recent
            rows.append(StoredMessage(f"m{i}", "track", "Product Viewed", None if anonymous else f"user-{i % 50_000}",
                                      f"anon-{i % 200_000}", ts, ts, body))  # fmt: skip
        await store.write(WriteBatch(rows))
    await store.close()


def slices(c: Collector, auth: str, connections: int, until: float | None, count: int) -> list[dict[str, float]]:
    body = json.dumps({**MESSAGE, "userId": "bench-user"}).encode()
    out = []
    while True:
        out.append(run_wrk(c.url + "/v1/track", body, auth, SLICE, connections))
        if until is None and len(out) >= count:
            return out
        if until is not None and (expiry_done(c) or time.monotonic() > until):
            return out


def expiry_done(c: Collector) -> bool:
    return httpx.get(c.url + "/healthz").json()["counters"].get("expiry_runs", 0) >= 1


def summary(label: str, runs: list[dict[str, float]]) -> tuple[float, float]:
    p50 = statistics.median(r["p50"] for r in runs)
    p99 = statistics.median(r["p99"] for r in runs)
    rps = statistics.median(r["rps"] for r in runs)
    print(f"  {label:<22} slices {len(runs):>3}  req/s {rps:>7.0f}  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  "
          f"(worst slice p99 {max(r['p99'] for r in runs):.2f} ms)")  # fmt: skip
    return p99, rps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        t = time.monotonic()
        asyncio.run(build(data, args.messages))
        print(f"built a store of {args.messages} messages in {time.monotonic() - t:.0f} s")

        base = Collector(data, "--expiry-interval-seconds", "0").start()
        auth = base64.b64encode(f"{base.server_key}:".encode()).decode()
        try:
            baseline = slices(base, auth, args.connections, None, 5)
        finally:
            base.stop()

        started = time.monotonic()
        c = Collector(data, "--expiry-interval-seconds", "3600").start()
        try:
            during = slices(c, auth, args.connections, started + 600, 0)
            while not expiry_done(c):
                time.sleep(0.1)
            took = time.monotonic() - started
            counters = httpx.get(c.url + "/healthz").json()["counters"]
        finally:
            c.stop()

    print(f"\nexpiry deleted {counters.get('expired_messages', 0)} messages in {took:.1f} s "
          f"(started with the collector; wrk ran {len(during)} slices of {SLICE} s meanwhile)")  # fmt: skip
    print(f"ingest, single messages, {args.connections} connections:")
    p99_base, rps_base = summary("without expiry", baseline)
    p99_during, rps_during = summary("while expiry runs", during)
    print(f"  p99 ratio (during / without): {p99_during / p99_base:.2f}; throughput ratio {rps_during / rps_base:.2f}")


if __name__ == "__main__":
    main()
