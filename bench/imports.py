"""Importing a file: messages/s of `footfall import` against the collector's own batch ingest over HTTP (same
run), the import's peak memory for a small and a large file (it must not grow with the file), and live
ingest latency while an import runs against without.

Usage: python bench/imports.py [--lines 1000000] [--small 100000] [--duration 10] [--direct]
Needs wrk (Debian package `wrk`) for the HTTP rate. The import runs as users run it: `footfall import` on the
data directory of a running collector (SQLite, the default), which sends the file through that collector;
`--direct` also measures `footfall import --direct` (straight into the file the collector writes too). The
file has no messageIds (each is derived from its line). Live ingest is one client sending a 20-message batch
every 20 ms (about what a busy site's trackers send), its latency measured per request. Peak memory is the
import command's, and the collector's growth during the import.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.ingest import MESSAGE, run_wrk  # noqa: E402
from bench.soak import rss_mb  # noqa: E402
from tests.conftest import Collector  # noqa: E402


def write_file(path: Path, lines: int, tag: str = "") -> None:
    """Messages as a shop's history: tracks of 10,000 users over the last 60 days, no messageIds."""
    now = datetime.now(UTC)
    with path.open("w") as fh:
        for i in range(lines):
            when = (now - timedelta(seconds=(lines - i) * 60 * 60 * 24 * 60 / lines)).isoformat()
            props = {"product_id": str(i % 997), "price": 59.9, "currency": "EUR", "n": i} | (
                {"tag": tag} if tag else {}
            )
            msg = MESSAGE | {
                "userId": f"user-{i % 10_000}",
                "timestamp": when.replace("+00:00", "Z"),
                "properties": props,
            }
            fh.write(json.dumps(msg) + "\n")


def run_import(c: Collector, path: Path, *how: str) -> tuple[float, float, str]:
    """`footfall import FILE` on the collector's data directory: (seconds, peak RSS in MB, its summary)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOOTFALL_")}
    cmd = [sys.executable, "-m", "collector", "import", "--data-dir", str(c.data_dir), "--server-key", c.server_key,
           *how, str(path)]  # fmt: skip
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.DEVNULL, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        took = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        summary = out.read().strip()
    if proc.returncode != 0:
        raise RuntimeError(f"import failed ({proc.returncode}): {summary}")
    return took, usage.ru_maxrss / 1024, summary


class LiveSender:
    """One client sending a 20-message batch every `interval` seconds; the latency of each request."""

    def __init__(self, c: Collector, interval: float = 0.02) -> None:
        self.c, self.interval = c, interval
        self.latencies: list[float] = []
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        body = json.dumps({"batch": [MESSAGE] * 20}).encode()
        with httpx.Client(auth=(self.c.server_key, ""), timeout=30) as client:
            next_at = time.perf_counter()
            while not self._stop.is_set():
                started = time.perf_counter()
                r = client.post(self.c.url + "/v1/batch", content=body, headers={"Content-Type": "application/json"})
                self.latencies.append((time.perf_counter() - started) * 1000)
                self.errors += r.status_code != 200
                next_at += self.interval
                time.sleep(max(0.0, next_at - time.perf_counter()))

    def __enter__(self) -> LiveSender:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(60)

    def p99(self) -> float:
        lat = sorted(self.latencies)
        return lat[int(len(lat) * 0.99) - 1] if lat else float("nan")

    def report(self) -> str:
        lat = self.latencies
        return (
            f"{len(lat)} requests, p50 {statistics.median(lat):.1f} ms, p99 {self.p99():.1f} ms, errors {self.errors}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument("--duration", type=int, default=10, help="seconds of the HTTP rate and of the live baseline")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--direct", action="store_true", help="also measure `footfall import --direct`")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install wrk")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        small, large = tmp / "small.ndjson", tmp / "large.ndjson"
        write_file(small, args.small)
        write_file(large, args.lines)
        print(f"files: {args.small:,} lines ({small.stat().st_size / 1e6:.0f} MB), "
              f"{args.lines:,} lines ({large.stat().st_size / 1e6:.0f} MB)")  # fmt: skip

        c = Collector(tmp / "data", "--log-level", "warning").start()
        try:
            auth = base64.b64encode(f"{c.server_key}:".encode()).decode()
            batch = json.dumps({"batch": [MESSAGE] * 20}).encode()
            run_wrk(c.url + "/v1/batch", batch, auth, 2, args.connections)  # warm-up
            http = run_wrk(c.url + "/v1/batch", batch, auth, args.duration, args.connections)
            http_rate = http["rps"] * 20
            print(f"HTTP batch ingest (20-message batches, {args.connections} connections): {http_rate:,.0f} msg/s")

            with LiveSender(c) as quiet:
                time.sleep(args.duration)
            print(f"live ingest, no import:   {quiet.report()}")

            assert c.proc is not None
            results = {}
            for how in [(), ("--direct",)] if args.direct else [()]:
                name = "direct" if how else "through the collector"
                if how:  # other lines than the first import's: new messages, not duplicates
                    write_file(small, args.small, "direct")
                    write_file(large, args.lines, "direct")
                before = rss_mb(c.proc.pid)
                took_small, rss_small, _ = run_import(c, small, *how)
                grew_small = rss_mb(c.proc.pid) - before
                print(f"[{name}] import {args.small:,} lines: {took_small:.1f} s, {args.small / took_small:,.0f} "
                      f"msg/s, peak RSS {rss_small:.0f} MB, collector +{grew_small:.0f} MB")  # fmt: skip
                before = rss_mb(c.proc.pid)
                with LiveSender(c) as busy:
                    took_large, rss_large, summary = run_import(c, large, *how)
                grew_large = rss_mb(c.proc.pid) - before
                print(f"[{name}] import {args.lines:,} lines: {took_large:.1f} s, {args.lines / took_large:,.0f} "
                      f"msg/s, peak RSS {rss_large:.0f} MB, collector +{grew_large:.0f} MB")  # fmt: skip
                print(f"  {summary.splitlines()[0]}")
                print(f"[{name}] live ingest, during the import: {busy.report()}")
                results[name] = (took_large, rss_small, rss_large, busy)
            # The same baselines again, on the store as the imports left it (commits cost more on a large
            # store, import or not): the fair comparison for the figures measured during the import.
            run_wrk(c.url + "/v1/batch", batch, auth, 2, args.connections)
            http_after = run_wrk(c.url + "/v1/batch", batch, auth, args.duration, args.connections)["rps"] * 20
            print(f"HTTP batch ingest, after the imports: {http_after:,.0f} msg/s")
            with LiveSender(c) as quiet_after:
                time.sleep(args.duration)
            print(f"live ingest, no import, after the imports: {quiet_after.report()}")
        finally:
            c.stop()

    for name, (took_large, rss_small, rss_large, busy) in results.items():
        rate = args.lines / took_large
        print(f"\n[{name}] import rate / HTTP batch rate: {rate / http_rate:.2f} on the empty store, "
              f"{rate / http_after:.2f} on the store after the imports (goal >= 1)")  # fmt: skip
        print(f"[{name}] peak RSS {args.lines:,} / {args.small:,} lines: {rss_large / rss_small:.2f} (goal: about 1)")
        print(f"[{name}] live p99 during / without: {busy.p99() / quiet.p99():.1f} against the empty store, "
              f"{busy.p99() / quiet_after.p99():.1f} against the store after the imports")  # fmt: skip


if __name__ == "__main__":
    main()
