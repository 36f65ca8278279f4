"""Enrichment cost: the stage alone, and ingest throughput with enrichment off and on, in one run.

Usage: python bench/enrich.py [--duration 10] [--messages 200000]
1. In-process: messages/s of `Enricher.enrich` on a realistic mix (95% of messages from 200 common
   User-Agents, 5% from UAs never seen before, a random IP each, a City database of 20,000 networks),
   against the baseline of validating and encoding the same messages (what ingest does anyway).
2. Over HTTP with wrk: `footfall serve --no-enrich` against `--geoip-db ...` (enrichment on), same mix,
   20-message batches; the ratio is what enrichment costs ingest (goal: at most 15%).
"""

from __future__ import annotations

import argparse
import base64
import ipaddress
import json
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import msgspec  # noqa: E402
from mmdb_writer import MmdbF64, MMDBWriter  # noqa: E402
from netaddr import IPSet  # noqa: E402

from bench.ingest import MESSAGE, run_wrk  # noqa: E402
from collector.config import Settings  # noqa: E402
from collector.enrich import Enricher, RequestFacts, correct_time, iso  # noqa: E402
from collector.validate import check, decode  # noqa: E402
from tests.conftest import Collector  # noqa: E402

BROWSERS = [("Chrome", "Windows NT 10.0; Win64; x64"), ("Chrome", "Macintosh; Intel Mac OS X 10_15_7"),
            ("Mobile", "iPhone; CPU iPhone OS 17_5 like Mac OS X"), ("Mobile", "Linux; Android 14; SM-S918B"),
            ("Firefox", "X11; Linux x86_64; rv:125.0"), ("Chrome", "Linux; Android 13; SM-X710")]  # fmt: skip


def user_agent(version: int) -> str:
    kind, platform = BROWSERS[version % len(BROWSERS)]
    if kind == "Firefox":
        return f"Mozilla/5.0 ({platform}) Gecko/20100101 Firefox/{version}.0"
    mobile = " Mobile" if kind == "Mobile" else ""
    return (
        f"Mozilla/5.0 ({platform}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{version}.0.0.0{mobile} Safari/537.36"
    )


def build_city_db(path: Path, networks: int = 20_000) -> list[str]:
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-City", languages=["en"])
    rng = random.Random(1)
    nets = set()
    while len(nets) < networks:
        nets.add(f"{rng.randrange(1, 223)}.{rng.randrange(256)}.{rng.randrange(256)}.0/24")
    for i, net in enumerate(sorted(nets)):
        writer.insert_network(IPSet([net]), {
            "country": {"iso_code": "GB", "names": {"en": "United Kingdom"}}, "city": {"names": {"en": f"City {i}"}},
            "location": {"latitude": MmdbF64(51.5), "longitude": MmdbF64(-0.1), "time_zone": "Europe/London"}})  # fmt: skip
    writer.to_db_file(str(path))
    return sorted(nets)


def mix(n: int, nets: list[str], seed: int = 2) -> list[tuple[bytes, str, str]]:
    """(message JSON, UA, IP) triples: 95% of UAs from a common set, 5% new; IPs half in the database."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        ua = user_agent(rng.randrange(60, 260)) if rng.random() < 0.95 else user_agent(1000 + i)
        if rng.random() < 0.5:
            ip = str(ipaddress.ip_network(rng.choice(nets))[rng.randrange(1, 255)])
        else:
            ip = str(ipaddress.IPv4Address(rng.getrandbits(32)))
        msg = {**MESSAGE, "messageId": f"m{i}", "context": {**MESSAGE["context"], "userAgent": ua}}  # type: ignore[dict-item]
        out.append((json.dumps(msg).encode(), ua, ip))
    return out


def stage_alone(db: Path, nets: list[str], n: int) -> None:
    items = mix(n, nets)
    enricher = Enricher(Settings(geoip_db=db))
    received = datetime.now(UTC)
    received_iso = iso(received)
    facts = [RequestFacts("browser", ipaddress.ip_address(ip), ua) for _, ua, ip in items]

    def baseline() -> float:
        t = time.perf_counter()
        for raw, _, _ in items:
            msg = decode(raw)
            times = check(msg, ids_assigned=True)
            correct_time(msg, times, received, received_iso, None)
            msgspec.json.encode(msg)
        return time.perf_counter() - t

    def enriched() -> float:
        messages = [decode(raw) for raw, _, _ in items]
        t = time.perf_counter()
        for msg, f in zip(messages, facts, strict=True):
            enricher.enrich(msg, f)
        return time.perf_counter() - t

    base, enr = min(baseline() for _ in range(3)), min(enriched() for _ in range(1))
    enricher.close()
    print(f"stage alone, {n} messages (first pass: caches cold for the 5% new UAs)")
    print(f"  validate+time+encode (baseline): {n / base:>10.0f} msg/s")
    print(f"  enrich:                          {n / enr:>10.0f} msg/s   ratio to baseline {base / enr:.2f}")


LUA = """
local uas = {{{uas}}}
local prefixes = {{{prefixes}}}
local n = 0
math.randomseed(7)
request = function()
  local parts = {{}}
  for i = 1, 20 do
    n = n + 1
    local ua
    if math.random() < 0.95 then ua = uas[math.random(#uas)] else ua = "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/" .. n .. ".0" end
    local ip
    if math.random() < 0.5 then ip = prefixes[math.random(#prefixes)] .. math.random(1, 254)
    else ip = math.random(1, 223) .. "." .. math.random(0, 255) .. "." .. math.random(0, 255) .. "." .. math.random(1, 254) end
    parts[i] = '{{"type":"track","event":"Product Viewed","anonymousId":"anon-' .. (n % 5000) .. '","context":{{"ip":"' .. ip .. '","userAgent":"' .. ua .. '","page":{{"url":"https://shop.example/p/42?utm_source=news&utm_medium=email","referrer":"https://www.google.com/"}}}},"properties":{{"product_id":"42","price":59.9}}}}'
  end
  local body = '{{"batch":[' .. table.concat(parts, ",") .. ']}}'
  return wrk.format("POST", "/v1/batch", {{["Content-Type"] = "application/json", ["Authorization"] = "Basic {auth}"}}, body)
end
"""


def over_http(db: Path, nets: list[str], duration: int, connections: int) -> None:
    uas = ",".join(json.dumps(user_agent(v)) for v in range(60, 260))
    prefixes = ",".join(json.dumps(n.rsplit(".", 1)[0] + ".") for n in nets[:5000])
    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        for label, args in (("enrich off", ("--no-enrich",)), ("enrich on", ("--geoip-db", str(db)))):
            c = Collector(Path(tmp) / label.replace(" ", "-"), *args).start()
            auth = base64.b64encode(f"{c.server_key}:".encode()).decode()
            lua = LUA.format(uas=uas, prefixes=prefixes, auth=auth)
            try:
                run_wrk(c.url + "/v1/batch", b"", auth, 2, connections, lua=lua)  # warm-up
                results[label] = run_wrk(c.url + "/v1/batch", b"", auth, duration, connections, lua=lua)
                sample = c.export_page(limit=1).text
            finally:
                c.stop()
            assert ("location" in sample) == (label == "enrich on") or label == "enrich off", sample
    print(f"\ningest over HTTP, 20-message batches, {connections} connections, {duration}s each")
    for label, r in results.items():
        print(f"  {label:<11} {r['rps']:>8.0f} req/s {r['rps'] * 20:>9.0f} msg/s  p50 {r['p50']:.1f} ms  "
              f"p99 {r['p99']:.1f} ms  non-2xx {r['errors']:.0f}")  # fmt: skip
    ratio = results["enrich on"]["rps"] / results["enrich off"]["rps"]
    print(f"  throughput with enrichment / without: {ratio:.2f}  (cost {100 * (1 - ratio):.0f}%; goal <= 15%)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--messages", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "city.mmdb"
        nets = build_city_db(db)
        stage_alone(db, nets, args.messages)
        over_http(db, nets, args.duration, args.connections)


if __name__ == "__main__":
    main()
