"""`footfall serve --workers N`: several processes on one port, sharing one store (SQLite or PostgreSQL)."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Collector, child_pids, cmdline
from tests.pg import postgres_url  # noqa: F401 (a fixture)


def health_by_worker(c: Collector, tries: int = 60) -> dict[int, dict[str, Any]]:
    """/healthz of each worker that answered one of `tries` new connections (the kernel spreads them)."""
    seen: dict[int, dict[str, Any]] = {}
    for _ in range(tries):
        answer = httpx.get(c.url + "/healthz", timeout=10).json()
        seen[answer["pid"]] = answer
    return seen


def workers_of(c: Collector) -> set[int]:
    """The worker processes (uvicorn's spawned children) of the collector's parent process."""
    assert c.proc is not None
    return {p for p in child_pids(c.proc.pid) if b"spawn_main" in cmdline(p)}


def until(check: Callable[[], Any], seconds: float = 30, what: str = "") -> Any:
    deadline = time.monotonic() + seconds
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, f"gave up waiting: {what}"
        time.sleep(0.2)


def send_from_threads(c: Collector, threads: int, batches: int, tag: str) -> tuple[set[str], Counter[int]]:
    """Batches of 20 from `threads` clients at once, each its own keep-alive connection: the messageIds
    acknowledged, and the statuses."""
    acked: set[str] = set()
    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def client(n: int) -> None:
        with httpx.Client(auth=(c.server_key, ""), timeout=30) as http:
            for b in range(batches):
                ids = [f"{tag}-{n}-{b}-{i}" for i in range(20)]
                batch = [{"type": "track", "event": "E", "userId": f"u{n}", "messageId": m} for m in ids]
                r = http.post(c.url + "/v1/batch", json={"batch": batch})
                with lock:
                    statuses[r.status_code] += 1
                    if r.status_code == 200:
                        acked.update(ids)

    running = [threading.Thread(target=client, args=(n,)) for n in range(threads)]
    for t in running:
        t.start()
    for t in running:
        t.join(120)
    return acked, statuses


def metric(c: Collector, name: str) -> float:
    r = c.admin_get("/metrics")
    assert r.status_code == 200, r.text
    return sum(float(line.split()[-1]) for line in r.text.splitlines() if line.startswith(name))


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_workers_share_the_port_and_the_store_and_keep_every_message(
    collector_factory: Any, request: pytest.FixtureRequest, backend: str
) -> None:
    db = ("--db", request.getfixturevalue("postgres_url")) if backend == "postgresql" else ()
    c: Collector = collector_factory("--workers", "2", *db)
    assert len(workers_of(c)) == 2
    assert len(until(lambda: len(health_by_worker(c)) == 2 and health_by_worker(c), what="both workers answer")) == 2

    acked, statuses = send_from_threads(c, threads=8, batches=25, tag=backend)

    assert statuses == Counter({200: 200}), statuses  # no 5xx while two processes write the one store
    exported = [m["messageId"] for m in c.export()]
    assert len(exported) == len(set(exported)) == 4000 and set(exported) == acked
    # Every worker's counts are in /metrics, whichever worker answers the scrape (each copies its own into
    # the shared files at least once a second).
    until(lambda: metric(c, 'footfall_messages_total{endpoint="batch",outcome="accepted"') == 4000, what="metrics")
    until(lambda: metric(c, 'footfall_requests_total{endpoint="batch",status="200"}') == 200, what="requests")


def test_expiry_runs_in_one_worker_and_another_takes_over_when_it_dies(collector_factory: Any) -> None:
    c: Collector = collector_factory("--workers", "2", "--expiry-interval-seconds", "1")

    def runs() -> dict[int, int]:
        return {pid: h["counters"].get("expiry_runs", 0) for pid, h in health_by_worker(c).items()}

    first = until(lambda: len(r := runs()) == 2 and max(r.values()) >= 3 and r, what="expiry runs")
    leader = max(first, key=first.__getitem__)
    assert sorted(first.values())[0] == 0, first  # the other worker never ran it

    os.kill(leader, signal.SIGKILL)  # the kernel lets go of its maintenance lock; the supervisor replaces it
    until(lambda: leader not in workers_of(c) and len(workers_of(c)) == 2, what="a new worker")
    after = until(lambda: len(r := runs()) == 2 and leader not in r and max(r.values()) >= 2 and r, what="takeover")
    assert sorted(after.values())[0] == 0, after
    assert c.send([{"type": "track", "event": "E", "userId": "u"}]).status_code == 200


def test_sighup_replaces_the_workers_while_requests_keep_being_answered(collector_factory: Any) -> None:
    c: Collector = collector_factory("--workers", "2")
    before = workers_of(c)
    stop = threading.Event()
    failures: list[str] = []
    acked: set[str] = set()

    def keep_sending(n: int) -> None:
        i = 0
        while not stop.is_set():
            mid = f"hup-{n}-{i}"
            try:  # a new connection each time, as most browsers' beacons come
                r = httpx.post(c.url + "/v1/track", json={"event": "E", "userId": "u", "messageId": mid},
                               auth=(c.server_key, ""), timeout=30)  # fmt: skip
                if r.status_code == 200:
                    acked.add(mid)
                else:
                    failures.append(f"{r.status_code} {r.text}")
            except httpx.HTTPError as exc:
                failures.append(repr(exc))
            i += 1

    senders = [threading.Thread(target=keep_sending, args=(n,)) for n in range(4)]
    for t in senders:
        t.start()
    try:
        time.sleep(0.5)
        assert c.proc is not None
        c.proc.send_signal(signal.SIGHUP)
        until(lambda: workers_of(c).isdisjoint(before) and len(workers_of(c)) == 2, 60, "new workers")
        time.sleep(0.5)
    finally:
        stop.set()
        for t in senders:
            t.join(60)
    assert not failures, failures[:5]
    assert acked and acked <= {m["messageId"] for m in c.export()}


def test_sigterm_stops_every_worker_and_withdraws_the_serving_file(collector_factory: Any) -> None:
    c: Collector = collector_factory("--workers", "2")
    workers = workers_of(c)
    assert (c.data_dir / "serving.json").exists()
    assert c.send([{"type": "track", "event": "E", "userId": "u", "messageId": "kept"}]).status_code == 200
    c.stop()
    assert not any(Path(f"/proc/{p}").exists() for p in workers)
    assert not (c.data_dir / "serving.json").exists()
    assert [m["messageId"] for m in collector_factory(data_dir=c.data_dir).export()] == ["kept"]


@pytest.mark.parametrize("value", ["0", "many", "-2"])
def test_a_bad_number_of_workers_is_refused_with_its_name(tmp_path: Path, value: str) -> None:
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "collector", "serve", "--data-dir", str(tmp_path), "--workers", value],
                       capture_output=True, text=True, timeout=60)  # fmt: skip
    assert r.returncode == 2 and "Setting 'workers'" in r.stderr, r.stderr


def test_a_write_lock_held_too_long_by_another_process_gets_503_and_retry_after(collector: Collector) -> None:
    import fcntl

    lock = os.open(collector.data_dir / "footfall.db-writer.lock", os.O_RDWR)
    answers: list[httpx.Response] = []

    def send(n: int) -> None:  # (a request may wait for two commits' 5 s: one before, one its own)
        batch = {"batch": [{"type": "track", "event": "E", "userId": "u", "messageId": f"w{n}"}]}
        answers.append(httpx.post(collector.url + "/v1/batch", json=batch, auth=(collector.server_key, ""), timeout=60))

    try:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another writer of the file that does not let go
        r = collector.send([{"type": "track", "event": "E", "userId": "u", "messageId": "waited"}])
        assert r.status_code == 503 and r.headers["Retry-After"] and "locked" in r.text, r.text
        senders = [threading.Thread(target=send, args=(n,)) for n in range(6)]  # queued together: one commit
        for t in senders:
            t.start()
        for t in senders:
            t.join(60)
    finally:
        os.close(lock)
    assert [a.status_code for a in answers] == [503] * 6
    # All of them failed together: a commit that failed for a busy store is not tried again request by
    # request (each try would wait as long again).
    assert "writing them one by one" not in collector.log()
    r = collector.send([{"type": "track", "event": "E", "userId": "u", "messageId": "waited"}])
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text  # sent again, stored once
    assert [m["messageId"] for m in collector.export()] == ["waited"]


def test_after_an_erasure_in_one_worker_the_other_links_the_returning_visitor_again(collector_factory: Any) -> None:
    """Each worker remembers the links it wrote, so as not to write them again; an erasure in another
    worker deletes them, and the next identify must write its link again, whichever worker takes it."""
    c: Collector = collector_factory("--workers", "2")
    clients: dict[int, httpx.Client] = {}  # a kept-alive connection to each worker
    for _ in range(200):
        client = httpx.Client(base_url=c.url, timeout=30, auth=(c.server_key, ""))
        pid = client.get("/healthz").json()["pid"]
        if pid in clients:
            client.close()
        else:
            clients[pid] = client
        if len(clients) == 2:
            break
    assert len(clients) == 2
    first, other = clients.values()
    identify = {"type": "identify", "anonymousId": "visitor", "userId": "ann"}
    for client in (first, other):  # both workers write (or meet) the link, and remember it
        assert client.post("/v1/identify", json=identify).status_code == 200
    admin = {"Authorization": f"Bearer {c.export_token}"}
    assert first.delete("/v1/users/ann", headers=admin, auth=None).status_code == 200  # in the first worker
    time.sleep(3)  # the other worker reads the store's erasures every 2 s

    assert other.post("/v1/identify", json=identify).status_code == 200  # ann comes back, on the other worker
    links = [line for line in c.admin_get("/v1/links").text.splitlines() if line]
    assert len(links) == 1 and '"fromId":"visitor"' in links[0] and '"userId":"ann"' in links[0], links
    for client in clients.values():
        client.close()


def test_connections_opened_at_once_are_spread_over_the_workers(collector_factory: Any) -> None:
    """A pool of kept-alive connections (a load balancer's, an SDK's) opened at once: with one socket shared
    by the workers, the first to wake took them all. Each worker has a socket of its own on the port."""
    import socket

    c: Collector = collector_factory("--workers", "2")
    conns = [socket.create_connection(("127.0.0.1", c.port)) for _ in range(128)]  # all connected, none served
    try:
        for s in conns:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        pids: Counter[int] = Counter()
        for s in conns:
            answer = b""
            while b'"counters"' not in answer:
                chunk = s.recv(65536)
                assert chunk, answer
                answer += chunk
            pids[int(answer.split(b'"pid":')[1].split(b",")[0])] += 1
    finally:
        for s in conns:
            s.close()
    # Spread by the kernel's hash of each connection's addresses: fewer than 44 of 128 on one worker is 3.5
    # standard deviations from even (by chance about 1 in 2,000).
    assert len(pids) == 2 and min(pids.values()) >= 44, pids


def test_sighup_to_a_single_process_is_ignored_not_fatal(collector: Collector) -> None:
    """`systemctl reload` sends SIGHUP: one process (--workers 1) has nothing to replace, and must live on."""
    assert collector.proc is not None
    collector.proc.send_signal(signal.SIGHUP)
    until(lambda: "SIGHUP ignored" in collector.log(), 10, "the log line")
    assert collector.proc.poll() is None
    assert collector.send([{"type": "track", "event": "E", "userId": "u"}]).status_code == 200


def test_auto_runs_under_the_supervisor_even_with_one_core(collector_factory: Any) -> None:
    """`auto` on a one-core machine: one worker, still replaced on SIGHUP (the deploy's reload)."""
    c: Collector = collector_factory("--workers", "auto")
    before = workers_of(c)
    assert len(before) == len(os.sched_getaffinity(0))
    assert c.proc is not None
    c.proc.send_signal(signal.SIGHUP)
    until(lambda: workers_of(c).isdisjoint(before) and len(workers_of(c)) == len(before), 60, "new workers")
    assert c.send([{"type": "track", "event": "E", "userId": "u"}]).status_code == 200


def test_expiry_is_taken_over_within_seconds_though_its_interval_is_an_hour(collector_factory: Any) -> None:
    """A worker that did not get the maintenance lease asks again every few seconds, not once an interval:
    else each restart of the leader put expiry off by up to an hour."""
    c: Collector = collector_factory("--workers", "2", "--expiry-interval-seconds", "3600")

    def runs() -> dict[int, int]:
        return {pid: h["counters"].get("expiry_runs", 0) for pid, h in health_by_worker(c).items()}

    first = until(lambda: len(r := runs()) == 2 and max(r.values()) == 1 and r, what="the first expiry run")
    leader = max(first, key=first.__getitem__)
    os.kill(leader, signal.SIGKILL)
    until(lambda: leader not in (r := runs()) and len(r) == 2 and max(r.values()) == 1, 40, "expiry in another")
