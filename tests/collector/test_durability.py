"""An acknowledged message survives kill -9 of the collector."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import Collector, cmdline, process_tree, writer_pids


def send_until(
    c: Collector, stop: threading.Event, prefix: str, acknowledged: list[str], statuses: Counter[int] | None = None
) -> None:
    """Send batches of 10 until `stop`, adding what the collector acknowledged (and counting each answer's
    status in `statuses`); an HTTP error ends it."""
    with httpx.Client(auth=(c.server_key, ""), timeout=30) as client:
        n = 0
        while not stop.is_set():
            batch = [
                {"type": "track", "event": "e", "userId": "u", "messageId": f"{prefix}-{n}-{i}"} for i in range(10)
            ]
            n += 1
            r = client.post(c.url + "/v1/batch", json={"batch": batch})
            if statuses is not None:
                statuses[r.status_code] += 1
            if r.status_code == 200:
                acknowledged.extend(m["messageId"] for m in batch)


def start_senders(send: Callable[[int], None], acknowledged: list[str]) -> list[threading.Thread]:
    """Four threads running `send(worker)`; returns once 2,000 messages were acknowledged (a minute at most)."""
    threads = [threading.Thread(target=send, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while len(acknowledged) < 2000:
        assert time.monotonic() < deadline, f"only {len(acknowledged)} messages acknowledged before the deadline"
        time.sleep(0.01)
    return threads


def test_acknowledged_messages_survive_sigkill(collector_factory: Any) -> None:
    c: Collector = collector_factory()
    acknowledged: list[str] = []
    stop = threading.Event()

    def send(worker: int) -> None:
        try:
            send_until(c, stop, f"w{worker}", acknowledged)
        except httpx.HTTPError:
            return  # the collector died under us: this batch was never acknowledged

    threads = start_senders(send, acknowledged)
    c.kill()
    stop.set()
    for t in threads:
        t.join(timeout=30)
        assert not t.is_alive()
    c.start()
    stored = {m["messageId"] for m in c.export()}
    missing = [m for m in acknowledged if m not in stored]
    assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged messages lost"


def test_a_killed_writer_process_is_replaced_and_nothing_acknowledged_is_lost(collector_factory: Any) -> None:
    """The SQLite writer process killed under load, twice: each commit in flight fails with a 503, never a
    500; the collector starts another writer, and every message it acknowledged is stored. Killed between
    requests, it is replaced before the next commit (a 200)."""
    c: Collector = collector_factory()
    assert c.proc is not None
    acknowledged: list[str] = []
    statuses: Counter[int] = Counter()
    stop = threading.Event()

    def send(worker: int) -> None:
        send_until(c, stop, f"k{worker}", acknowledged, statuses)

    threads = start_senders(send, acknowledged)
    killed = set()
    for _ in range(2):
        (writer,) = writer_pids(c.proc.pid)
        os.kill(writer, signal.SIGKILL)
        killed.add(writer)
        goal = len(acknowledged) + 500
        deadline = time.monotonic() + 30
        while len(acknowledged) < goal:  # acknowledged again, by a new writer
            assert time.monotonic() < deadline, f"nothing acknowledged after the writer was killed: {statuses}"
            time.sleep(0.01)
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert set(statuses) <= {200, 503}, statuses
    (writer,) = writer_pids(c.proc.pid)
    assert writer not in killed
    os.kill(writer, signal.SIGKILL)
    while writer in writer_pids(c.proc.pid):  # (gone once its parent has reaped it, or is reaping it)
        time.sleep(0.01)
    assert (
        c.send([{"type": "track", "event": "e", "anonymousId": "a", "messageId": "after-idle-kill"}]).status_code == 200
    )
    stored = {m["messageId"] for m in c.export()}
    missing = [m for m in acknowledged if m not in stored]
    assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged messages lost"
    assert "after-idle-kill" in stored


def test_the_writer_process_ends_with_its_collector(collector_factory: Any) -> None:
    """No writer is left behind when the collector is killed (nobody would stop it)."""
    c: Collector = collector_factory()
    assert c.proc is not None
    (writer,) = writer_pids(c.proc.pid)
    c.kill()
    deadline = time.monotonic() + 10
    while b"sqlite_writer" in cmdline(writer):
        assert time.monotonic() < deadline, "the writer process outlived its collector"
        time.sleep(0.05)


def test_the_writer_process_runs_the_collectors_code_not_the_working_directorys(tmp_path: Path) -> None:
    """Found in review: `python -m` put the working directory first on the writer's path, so a module
    planted there (or an older checkout's code) ran in it. `footfall serve`, started in a directory that
    holds a `struct.py` and a `collector/` that fail on import, still commits."""
    planted = tmp_path / "somewhere"
    (planted / "collector").mkdir(parents=True)
    for module in (planted / "struct.py", planted / "msgspec.py", planted / "collector" / "__init__.py"):
        module.write_text("raise SystemExit('planted module imported')\n")
    footfall = Path(sys.executable).parent / "footfall"  # the installed command (it does not look in its cwd)
    c = Collector(tmp_path / "data", program=[str(footfall)], cwd=planted).start()
    try:
        assert c.send([{"type": "track", "event": "e", "anonymousId": "a", "messageId": "m"}]).status_code == 200
        assert "planted" not in c.log()
    finally:
        c.stop()


def test_a_full_disk_is_a_503_that_says_so_and_the_collector_recovers(collector: Collector) -> None:
    """A full disk once answered "cannot rollback - no transaction is active" while /healthz said ok."""
    import resource

    c = collector
    assert c.proc is not None
    pad = "x" * 2000
    acknowledged = []
    for i in range(20):
        batch = [{"type": "track", "event": "E", "userId": "u", "messageId": f"before-{i}-{j}"} for j in range(5)]
        assert c.send(batch).status_code == 200
        acknowledged += [m["messageId"] for m in batch]
    largest = max(p.stat().st_size for p in c.data_dir.iterdir() if p.is_file())
    # The collector's files may grow no further, from any of its processes (its writer process writes the
    # messages). CPython ignores SIGXFSZ, so a write past it fails with EFBIG, which SQLite reports as a
    # full disk.
    processes = process_tree(c.proc.pid)
    assert writer_pids(c.proc.pid), "no writer process to fill the disk of"
    for pid in processes:
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (largest + 4096, resource.RLIM_INFINITY))
    try:
        for i in range(200):
            batch = [{"type": "track", "event": "E", "userId": "u", "messageId": f"full-{i}-{j}",
                      "properties": {"pad": pad}} for j in range(20)]  # fmt: skip
            r = c.send(batch)
            if r.status_code != 200:
                break
            acknowledged += [m["messageId"] for m in batch]
        assert r.status_code == 503 and r.headers["Retry-After"], r.text
        # EFBIG is SQLite's "disk I/O error" (ENOSPC would be "database or disk is full"): the cause, either way
        assert "disk" in r.json()["error"] and "cannot rollback" not in r.json()["error"], r.text
        health = httpx.get(c.url + "/healthz")
        assert health.status_code == 503 and health.json()["status"] == "failing"
        assert "disk" in health.json()["store"]["error"]
    finally:
        for pid in processes:
            resource.prlimit(pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    assert c.send([{"type": "track", "event": "E", "userId": "u", "messageId": "after"}]).status_code == 200
    assert httpx.get(c.url + "/healthz").json()["store"]["ok"] is True
    stored = {m["messageId"] for m in c.export()}
    assert set(acknowledged) <= stored and "after" in stored


def test_sigterm_under_load_answers_what_it_took_and_exits_cleanly(collector_factory: Any) -> None:
    """On SIGTERM the collector stops accepting, commits and answers what is in flight, and exits 0. The
    signal goes to every process of the collector, as a service manager sends it (systemd's default
    KillMode): its writer process finishes the commits in flight before it stops."""
    c: Collector = collector_factory()
    acknowledged: list[str] = []
    unanswered: list[str] = []  # a request the server took and closed without an answer
    stop = threading.Event()

    def send(worker: int) -> None:
        try:
            send_until(c, stop, f"t{worker}", acknowledged)
        except httpx.ConnectError:
            return  # no longer accepting: never taken, so never acknowledged
        except httpx.HTTPError as exc:
            unanswered.append(f"{type(exc).__name__}: {exc}")

    threads = start_senders(send, acknowledged)
    assert c.proc is not None
    proc = c.proc
    writers = writer_pids(proc.pid)
    assert writers
    for pid in process_tree(proc.pid):
        os.kill(pid, signal.SIGTERM)
    # uvicorn ends a graceful shutdown by re-raising the signal it got, as service managers expect
    assert proc.wait(timeout=60) in (0, -signal.SIGTERM), c.log()[-3000:]
    assert "Application shutdown complete" in c.log() and "Traceback" not in c.log()
    assert not any(Path(f"/proc/{pid}").exists() for pid in writers)
    stop.set()
    for t in threads:
        t.join(timeout=30)
        assert not t.is_alive()
    assert not unanswered, unanswered[:3]
    c.proc = None
    c.start()
    stored = {m["messageId"] for m in c.export()}
    missing = [m for m in acknowledged if m not in stored]
    assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged messages lost"
