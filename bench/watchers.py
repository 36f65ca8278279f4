"""Ingest with watchers: a live-view watcher and a waiting export consumer connected, against none.

Usage: python bench/watchers.py [--duration 10] [--rounds 2]

One `footfall serve`; wrk sends 20-message batches (as bench/ingest.py does), in rounds that alternate
between nobody watching and one watcher of each kind following everything as it arrives: the live view's
server-sent events (signed in) and `GET /v1/export?wait=25` from its cursor (caught up before the round).
The figure is the ratio of batch throughput with watchers to without, each round against the one before
it (the store grows, and ingest with it slows, from round to round); goal: at least 0.9.
"""

from __future__ import annotations

import argparse
import base64
import json
import shutil
import sys
import tempfile
import threading
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.ingest import MESSAGE, run_wrk  # noqa: E402
from tests.conftest import Collector  # noqa: E402


def live_watcher(c: Collector, stop: threading.Event, seen: list[int]) -> None:
    with httpx.Client(base_url=c.url, timeout=None) as client:
        client.post("/live/login", data={"token": c.export_token})
        with client.stream("GET", "/live/events") as stream:
            for line in stream.iter_lines():
                if line.startswith("event: message"):
                    seen[0] += 1
                if stop.is_set():
                    return


def export_follower(c: Collector, stop: threading.Event, seen: list[int], ready: threading.Event) -> None:
    headers = {"Authorization": f"Bearer {c.export_token}"}
    with httpx.Client(base_url=c.url, headers=headers, timeout=60) as client:
        cursor = client.get("/v1/export", params={"limit": 1}).headers["Footfall-Cursor"]
        while True:  # catch up with what earlier rounds stored: only what arrives from now on is measured
            r = client.get("/v1/export", params={"cursor": cursor, "limit": 10_000})
            cursor = r.headers["Footfall-Cursor"]
            if r.headers.get("Footfall-Count") == "0":
                break
        ready.set()
        while not stop.is_set():
            r = client.get("/v1/export", params={"cursor": cursor, "limit": 10_000, "wait": 25})
            cursor = r.headers["Footfall-Cursor"]
            seen[0] += int(r.headers.get("Footfall-Count", "0"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install wrk")
    batch = json.dumps({"batch": [MESSAGE] * 20}).encode()
    results: dict[str, list[float]] = {"none": [], "watchers": []}
    with tempfile.TemporaryDirectory() as tmp:
        c = Collector(Path(tmp) / "data", "--log-level", "warning").start()
        auth = base64.b64encode(f"{c.server_key}:".encode()).decode()
        try:
            run_wrk(c.url + "/v1/batch", batch, auth, 2, args.connections)  # warm-up
            for _ in range(args.rounds):
                for label in ("none", "watchers"):
                    stop = threading.Event()
                    live, followed = [0], [0]
                    threads = []
                    if label == "watchers":
                        ready = threading.Event()
                        threads = [
                            threading.Thread(target=live_watcher, args=(c, stop, live), daemon=True),
                            threading.Thread(target=export_follower, args=(c, stop, followed, ready), daemon=True),
                        ]
                        for t in threads:
                            t.start()
                        ready.wait(120)
                    r = run_wrk(c.url + "/v1/batch", batch, auth, args.duration, args.connections)
                    stop.set()
                    results[label].append(r["rps"] * 20)
                    extra = f"  (live view saw {live[0]:,}, export follower {followed[0]:,})" if threads else ""
                    print(f"{label:<9} {r['rps'] * 20:>9.0f} msg/s  p99 {r['p99']:.1f} ms{extra}", flush=True)
        finally:
            c.stop()
    # The store grows round after round and ingest slows with it, so each round with watchers is compared
    # with the round without just before it.
    ratios = [w / n for n, w in zip(results["none"], results["watchers"], strict=True)]
    print(
        f"\nbatch throughput with one live-view watcher and one waiting export consumer / without, round by "
        f"round: {', '.join(f'{r:.2f}' for r in ratios)}; mean {sum(ratios) / len(ratios):.2f} (goal >= 0.9)"
    )


if __name__ == "__main__":
    main()
