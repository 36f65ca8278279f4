"""Ingest throughput: `footfall serve` against a no-op Starlette endpoint, measured in the same run.

Usage: python bench/ingest.py [--duration 10] [--connections 32] [--workers 1,2] [--postgres]
Needs wrk (Debian package `wrk`). The no-op server runs as one uvicorn process with uvloop and httptools
and no access log; the collector as `footfall serve --workers N` for each N of `--workers`, each on a new
store (SQLite, or with `--postgres` a new database on the local PostgreSQL server); wrk runs one thread.
Every request carries messages without a messageId, so each one is stored (no dedup short-cut), and a 200
from the collector means committed.

After each capacity run, the same requests are paced at half the rate measured (each of wrk's connections
waits between its requests: wrk's `delay()`), and the latency printed for that run is the one to read:
a collector is not run at its capacity in service.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.conftest import Collector, free_port  # noqa: E402

NOOP_APP = textwrap.dedent(
    """
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    async def ok(request):
        await request.body()
        return Response(b'{"success":true}', media_type="application/json")

    app = Starlette(routes=[Route("/v1/batch", ok, methods=["POST"]), Route("/v1/track", ok, methods=["POST"]),
                            Route("/healthz", ok)])
    """
)

CHROME_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
MESSAGE = {
    "type": "track",
    "event": "Product Viewed",
    "anonymousId": "3f9a3c52-8d33-4b6e-9d0c-2f1e6f0a9b11",
    "timestamp": "2026-11-25T10:00:00.000Z",
    "context": {"page": {"url": "https://shop.example/p/42", "path": "/p/42", "title": "Shoe"},
                "library": {"name": "footfall.js", "version": "0.1.0"}, "locale": "en-GB",
                "userAgent": CHROME_UA},
    "properties": {"product_id": "42", "price": 59.9, "currency": "EUR"},
}  # fmt: skip

LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Basic {auth}"
wrk.body = [==[{body}]==]
"""
# Each connection waits a random time between its requests (exponential, so arrivals are like a Poisson
# stream's): connections that waited the same time each would arrive in bursts, all at once.
PACED = """
function delay() return math.floor(-{delay_ms} * math.log(1 - math.random())) end
"""


def run_wrk(
    url: str, body: bytes, auth: str, duration: int, connections: int, lua: str | None = None, rate: float = 0
) -> dict[str, float]:
    """wrk against `url`: the same `body` every time, or what the `lua` script's request() makes; with
    `rate`, each connection waits between its requests, for about that many requests a second in all."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(lua if lua is not None else LUA.format(auth=auth, body=body.decode()))
        if rate:
            fh.write(PACED.format(delay_ms=1000 * connections / rate))
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "-s", fh.name, url]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    os.unlink(fh.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    lat = {p: _ms(re.search(rf"\s{p}%\s+([\d.]+\w+)", out).group(1)) for p in ("50", "99")}  # type: ignore[union-attr]
    return {"rps": rps, "p50": lat["50"], "p99": lat["99"], "errors": float(non2xx.group(1)) if non2xx else 0.0}


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def start_noop(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    (tmp / "noop_app.py").write_text(NOOP_APP)
    port = free_port()
    cmd = [sys.executable, "-m", "uvicorn", "noop_app:app", "--port", str(port), "--loop", "uvloop", "--http",
           "httptools", "--no-access-log", "--log-level", "warning"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=tmp)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            httpx.get(url + "/healthz")
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError("no-op server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", default="1", help="comma-separated worker counts to run, e.g. 1,2")
    parser.add_argument("--postgres", action="store_true", help="store in PostgreSQL (a new database each run)")
    parser.add_argument("--collector-args", default="", help="extra `footfall serve` flags, e.g. '--geoip-db X'")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install wrk")

    import base64

    single = json.dumps(MESSAGE).encode()
    batch = json.dumps({"batch": [MESSAGE] * 20}).encode()
    cases = (("single", "/v1/track", single), ("batch20", "/v1/batch", batch))
    results: dict[str, dict[str, float]] = {}
    stored: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        noop, noop_url = start_noop(tmp)
        try:
            for name, path, body in cases:
                run_wrk(noop_url + path, body, "", 2, args.connections)  # warm-up
                results[f"{name}/noop"] = run_wrk(noop_url + path, body, "", args.duration, args.connections)
        finally:
            noop.terminate()
            noop.wait()
        for workers in [int(w) for w in args.workers.split(",")]:
            target = f"footfall-w{workers}"
            with _store(tmp / target, args.postgres) as db:
                flags = ["--workers", str(workers), *db, *args.collector_args.split()]
                collector = Collector(tmp / target, *flags).start()
                auth = base64.b64encode(f"{collector.server_key}:".encode()).decode()
                try:
                    for name, path, body in cases:
                        url = collector.url + path
                        run_wrk(url, body, auth, 2, args.connections)  # warm-up
                        full = results[f"{name}/{target}"] = run_wrk(url, body, auth, args.duration, args.connections)
                        results[f"{name}/{target}/half"] = run_wrk(
                            url, body, auth, args.duration, args.connections, rate=full["rps"] / 2
                        )
                    stored[target] = len(collector.export(limit=10000))
                finally:
                    collector.stop()

    print(f"\n{'case':<30}{'req/s':>10}{'msg/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}")
    for key, r in results.items():
        per = 20 if key.startswith("batch20") else 1
        print(f"{key:<30}{r['rps']:>10.0f}{r['rps'] * per:>10.0f}{r['p50']:>9.2f}{r['p99']:>9.2f}{r['errors']:>9.0f}")
    counts = [int(w) for w in args.workers.split(",")]
    for workers in counts:
        t = f"footfall-w{workers}"
        s = results[f"single/{t}"]["rps"] / results["single/noop"]["rps"]
        b = results[f"batch20/{t}"]["rps"] / results["batch20/noop"]["rps"]
        print(f"\n--workers {workers} ({'PostgreSQL' if args.postgres else 'SQLite'}):")
        print(f"  single-message ratio to no-op: {s:.2f} (goal >= 0.35 with one worker)")
        print(f"  20-message batches: {results[f'batch20/{t}']['rps'] * 20:.0f} msg/s, ratio to no-op {b:.2f} "
              "(goal >= 30000 msg/s with one worker)")  # fmt: skip
        for name, _, _ in cases:
            half = results[f"{name}/{t}/half"]
            at = f"{half['rps']:.0f} req/s"
            print(f"  {name} at half capacity ({at}): p50 {half['p50']:.2f} ms, p99 {half['p99']:.2f} ms")
        print(f"  messages stored: {stored[t]}")
    if len(counts) > 1:
        one, most = f"footfall-w{counts[0]}", f"footfall-w{counts[-1]}"
        for name, _, _ in cases:
            ratio = results[f"{name}/{most}"]["rps"] / results[f"{name}/{one}"]["rps"]
            print(f"\n{name}: --workers {counts[-1]} / --workers {counts[0]} = {ratio:.2f} (goal >= 1.3 on batches)")


@contextlib.contextmanager
def _store(data_dir: Path, postgres: bool) -> Iterator[list[str]]:
    """The `--db` flags of a new, empty store."""
    if not postgres:
        yield []
        return
    import asyncio
    import uuid

    from tests.pg import SERVER, _admin

    name = f"footfall_bench_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f"CREATE DATABASE {name}"))
    try:
        yield ["--db", SERVER.rsplit("/", 1)[0] + "/" + name]
    finally:
        asyncio.run(_admin(f"DROP DATABASE {name} WITH (FORCE)"))


if __name__ == "__main__":
    main()
