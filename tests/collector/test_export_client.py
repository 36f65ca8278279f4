"""`footfall export`: the client side of export (export_client.py) against the real collector."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

from tests.collector.conftest import footfall
from tests.collector.test_export import fill
from tests.conftest import Collector


def test_export_command_resumes_from_its_cursor_file(collector: Collector, tmp_path: Path) -> None:
    def run(*extra: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "collector", "export", "--url", collector.url, "--export-token",
               collector.export_token, "--data-dir", str(tmp_path / "cli"), "--page-size", "7",
               "--out", str(out), "--cursor-file", str(cursor), *extra]  # fmt: skip
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60)

    out, cursor = tmp_path / "events.ndjson", tmp_path / "events.cursor"
    first = fill(collector, 20)
    assert run().returncode == 0
    collector.send([{"type": "track", "event": "late", "userId": "u", "messageId": "late-1"}])
    assert run().returncode == 0
    lines = [json.loads(line)["messageId"] for line in out.read_text().splitlines()]
    assert lines == [*first, "late-1"]
    assert run("--type", "page").returncode == 0 and len(out.read_text().splitlines()) == 21
    bad = subprocess.run([sys.executable, "-m", "collector", "export", "--url", collector.url, "--export-token",
                          "wrong-token-0123456789", "--data-dir", str(tmp_path / "cli")],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert bad.returncode == 1 and "export failed (401)" in bad.stderr


def test_export_ends_with_a_summary_line(collector: Collector, tmp_path: Path) -> None:
    out, cursor = tmp_path / "events.ndjson", tmp_path / "events.cursor"
    args = ["export", "--url", collector.url, "--export-token", collector.export_token, "--out", str(out),
            "--cursor-file", str(cursor)]  # fmt: skip
    collector.send([{"type": "track", "event": "E", "userId": "u", "messageId": f"m{i}"} for i in range(3)])
    first = footfall(*args)
    assert first.returncode == 0 and f"exported 3 messages to {out}; cursor saved in {cursor}" in first.stderr
    again = footfall(*args)
    assert again.returncode == 0 and f"nothing new to {out}; cursor in {cursor} unchanged" in again.stderr
    to_stdout = footfall("export", "--url", collector.url, "--export-token", collector.export_token)
    assert to_stdout.stdout.count("\n") == 3 and "exported 3 messages to stdout" in to_stdout.stderr


def test_follow_gets_new_messages_as_they_arrive(collector: Collector) -> None:
    collector.send([{"type": "track", "event": "E", "userId": "u", "messageId": "old"}])
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOOTFALL_")}
    cmd = [sys.executable, "-m", "collector", "export", "--url", collector.url, "--export-token",
           collector.export_token, "--follow"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    timer = threading.Timer(60, proc.kill)  # the deadline: a follower that never prints fails below
    timer.start()
    try:
        assert proc.stdout is not None
        assert json.loads(proc.stdout.readline())["messageId"] == "old"
        collector.send([{"type": "track", "event": "E", "userId": "u", "messageId": "new"}])
        assert json.loads(proc.stdout.readline())["messageId"] == "new"
    finally:
        timer.cancel()
        proc.terminate()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
