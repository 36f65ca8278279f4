"""Python SDK benchmark: the caller's cost of one track() call, and delivered messages/s into the collector.

Compares our SDK with Segment's `segment-analytics-python` and `posthog`, in one run, against the real
collector, which the bench starts itself (`python -m collector serve` on a free port, fresh data dir).

Set up (a venv of its own, so the peers do not enter the project's environment):

    python3 -m venv /tmp/venv-bench
    /tmp/venv-bench/bin/pip install -e . -e ./sdk_python segment-analytics-python posthog
    /tmp/venv-bench/bin/python bench/sdk.py            # --calls N --rounds R to change the work

A peer that is not installed is skipped with a line saying so.

What is measured:
- caller cost: N track() calls on the calling thread while the SDK's sender runs and delivers (ours and
  Segment's into the collector; PostHog's to a local sink that answers 200, since the collector does not
  speak PostHog's API). Queues are sized to hold N, so no call is a cheap drop. Best of R rounds.
- delivery: N messages queued as fast as possible, then flushed; messages/s from the first call until
  the collector has acknowledged the last batch, checked against the collector's export. The ceiling
  beside it is the collector alone: the same messages pre-encoded, in batches of the same size,
  posted back to back on one keep-alive connection (what one sender thread can get at best).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

SERVER_KEY = "sk_bench_server_key_01"
ROOT = Path(__file__).resolve().parents[1]
PROPS = {"plan": "pro", "path": "/pricing", "amount": 42, "flag": True}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Collector:
    def __init__(self) -> None:
        self.dir = tempfile.TemporaryDirectory(prefix="footfall-bench-")
        self.url = f"http://127.0.0.1:{free_port()}"
        port = self.url.rsplit(":", 1)[1]
        cmd = [
            sys.executable,
            "-m",
            "collector",
            "serve",
            "--port",
            port,
            "--data-dir",
            self.dir.name,
            "--write-key",
            "wk_bench",
            "--server-key",
            SERVER_KEY,
            "--export-token",
            "ex_bench_export_token_01",
            "--cookie-secret",
            "bench-cookie-secret-0001",
            "--log-level",
            "warning",
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith("FOOTFALL_")}
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_healthy(self.url + "/healthz", self.proc)
        self.cursor: str | None = None

    def count_new(self) -> int:
        """Messages stored since the last call, following the export cursor."""
        total = 0
        while True:
            params = {"cursor": self.cursor} if self.cursor else {}
            r = httpx.get(
                self.url + "/v1/export",
                params=params,
                headers={"Authorization": "Bearer ex_bench_export_token_01"},
                timeout=60,
            )
            r.raise_for_status()
            lines = r.text.count("\n")
            if not lines:
                return total
            total += lines
            self.cursor = r.headers["Footfall-Cursor"]

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(15)
        self.dir.cleanup()


SINK = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        body = b'{"status": "Ok"}'
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    do_GET = do_POST
    def log_message(self, *a): pass
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def wait_healthy(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{url}: process exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise SystemExit(f"{url} did not start")


# --- the SDKs under test: each a factory returning (track, flush, close) -----------------------------------
Sdk = tuple[Callable[[int], Any], Callable[[], Any], Callable[[], Any]]


def ours(host: str, queue: int) -> Sdk:
    import footfall

    c = footfall.Client(SERVER_KEY, host=host, max_queue_size=queue, flush_at_exit=False)
    return (lambda i: c.track("user-1", "Bench Event", PROPS)), (lambda: c.flush(timeout=600)), c.shutdown


def segment(host: str, queue: int) -> Sdk:
    from segment.analytics.client import Client

    c = Client(write_key=SERVER_KEY, host=host, max_queue_size=queue)
    return (lambda i: c.track("user-1", "Bench Event", PROPS)), c.flush, c.shutdown


def posthog(host: str, queue: int) -> Sdk:
    from posthog import Posthog

    c = Posthog("phc_bench", host=host, max_queue_size=queue, disable_geoip=True)
    return (lambda i: c.capture("Bench Event", distinct_id="user-1", properties=PROPS)), c.flush, c.shutdown


PEERS: dict[str, tuple[str, Callable[[str, int], Sdk]]] = {
    "footfall": ("footfall (this repo: pip install -e ./sdk_python)", ours),
    "segment": ("segment-analytics-python (pip install segment-analytics-python)", segment),
    "posthog": ("posthog (pip install posthog)", posthog),
}


def installed(name: str) -> bool:
    module = {"footfall": "footfall", "segment": "segment.analytics", "posthog": "posthog"}[name]
    try:
        __import__(module)
    except ImportError:
        print(f"  skip {name}: not installed; {PEERS[name][0]}")
        return False
    return True


def caller_cost(make: Callable[[str, int], Sdk], host: str, calls: int, rounds: int) -> float:
    """Best calls/s over `rounds` of `calls` track() calls, sender running."""
    best = 0.0
    for _ in range(rounds):
        track, flush, close = make(host, calls * 2)
        for i in range(200):  # warm up: thread started, connection open
            track(i)
        flush()
        started = time.perf_counter()
        for i in range(calls):
            track(i)
        elapsed = time.perf_counter() - started
        flush()
        close()
        best = max(best, calls / elapsed)
    return best


def delivery(make: Callable[[str, int], Sdk], collector: Collector, calls: int) -> float:
    collector.count_new()
    track, flush, close = make(collector.url, calls * 2)
    started = time.perf_counter()
    for i in range(calls):
        track(i)
    flush()
    elapsed = time.perf_counter() - started
    close()
    stored = collector.count_new()
    if stored != calls:
        print(f"  !! {stored} of {calls} messages stored")
    return calls / elapsed


def ceiling(collector: Collector, calls: int, batch: int = 100) -> float:
    """The collector alone: pre-encoded batches of `batch`, back to back on one keep-alive connection."""
    msgs = [
        json.dumps(
            {
                "type": "track",
                "event": "Bench Event",
                "userId": "user-1",
                "messageId": str(uuid.uuid4()),
                "timestamp": "2026-01-01T00:00:00Z",
                "properties": PROPS,
            }
        ).encode()
        for _ in range(calls)
    ]
    bodies = [b'{"batch":[' + b",".join(msgs[i : i + batch]) + b"]}" for i in range(0, calls, batch)]
    with httpx.Client(auth=(SERVER_KEY, ""), headers={"Content-Type": "application/json"}, timeout=60) as http:
        started = time.perf_counter()
        for body in bodies:
            http.post(collector.url + "/v1/batch", content=body).raise_for_status()
        return calls / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    import logging

    logging.getLogger("posthog").setLevel(logging.CRITICAL)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; {args.calls} calls, best of {args.rounds}")
    collector = Collector()
    sink_port = free_port()
    sink = subprocess.Popen([sys.executable, "-c", SINK, str(sink_port)])
    wait_healthy(f"http://127.0.0.1:{sink_port}/", sink)
    try:
        print("\ncaller cost of one track() (calls/s on the calling thread, sender running):")
        cost: dict[str, float] = {}
        for name, (_, make) in PEERS.items():
            if installed(name):
                host = f"http://127.0.0.1:{sink_port}" if name == "posthog" else collector.url
                cost[name] = caller_cost(make, host, args.calls, args.rounds)
                print(f"  {name:9} {cost[name]:>10,.0f} calls/s   {1e6 / cost[name]:6.1f} µs/call")
        peers = {k: v for k, v in cost.items() if k != "footfall"}
        if "footfall" in cost and peers:
            fastest = max(peers, key=lambda k: peers[k])
            ratio = (1 / cost["footfall"]) / (1 / peers[fastest])
            verdict = "meets" if ratio <= 0.5 else "MISSES"
            print(f"  ours costs {ratio:.2f}x the faster peer's ({fastest}) per call; goal <= 0.5: {verdict}")

        print(f"\ndelivered messages/s into the collector (queue, then flush; export checked; best of {args.rounds}):")
        rate: dict[str, float] = {}
        names = [name for name in ("footfall", "segment") if installed(name)]
        top = 0.0
        for _ in range(args.rounds):  # interleaved, so a slow moment of the machine hits all alike
            for name in names:
                rate[name] = max(rate.get(name, 0.0), delivery(PEERS[name][1], collector, args.calls))
            top = max(top, ceiling(collector, args.calls))
        for name in names:
            print(f"  {name:9} {rate[name]:>10,.0f} msgs/s")
        print(f"  collector alone, batches of 100, one connection: {top:,.0f} msgs/s")
        for name, value in rate.items():
            print(f"  {name}: {value / top:.2f} of the collector's one-connection ceiling")
        if "footfall" in rate and "segment" in rate:
            print(f"  ours delivers {rate['footfall'] / rate['segment']:.2f}x Segment's rate")
    finally:
        sink.terminate()
        sink.wait()
        collector.stop()


if __name__ == "__main__":
    main()
