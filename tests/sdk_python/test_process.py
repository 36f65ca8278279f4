"""Process lifecycles: fork() after the sender started, and interpreter exit without a flush."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import footfall
import pytest

from tests.conftest import Collector
from tests.sdk_python.helpers import exported_until

SDK_ROOT = str(Path(__file__).resolve().parents[2] / "sdk_python")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_child_after_fork_restarts_the_sender_and_parent_keeps_its_own(collector: Collector) -> None:
    client = footfall.Client(collector.server_key, host=collector.url)
    assert client.track("parent", "Before Fork", message_id="before-fork")
    assert client.flush(timeout=10)  # the parent's sender thread is running: a child does not inherit it
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork() of a threaded process
        pid = os.fork()
    if pid == 0:  # the child: like a gunicorn worker forked from a preloaded app
        code = 1
        try:
            ok = client.track("child", "In Child", message_id="in-child") and client.flush(timeout=10)
            code = 0 if ok else 1
        finally:
            os._exit(code)
    assert client.track("parent", "After Fork", message_id="after-fork")
    assert client.flush(timeout=10)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    ids = sorted(m["messageId"] for m in exported_until(collector, 3))
    assert ids == ["after-fork", "before-fork", "in-child"]
    client.shutdown()


def run_script(source: str, collector: Collector) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": SDK_ROOT, "FF_KEY": collector.server_key, "FF_HOST": collector.url}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(source)], env=env, capture_output=True, text=True, timeout=60
    )


def test_messages_are_flushed_at_interpreter_exit(collector: Collector) -> None:
    done = run_script(
        """
        import os, footfall
        client = footfall.Client(os.environ["FF_KEY"], host=os.environ["FF_HOST"], flush_interval=60)
        client.track("u1", "Script Ran", message_id="exit-client")
        footfall.write_key, footfall.host = os.environ["FF_KEY"], os.environ["FF_HOST"]
        footfall.track("u1", "Script Ran", message_id="exit-module")
        # no flush, no shutdown: the script just ends
        """,
        collector,
    )
    assert done.returncode == 0, done.stderr
    assert sorted(m["messageId"] for m in exported_until(collector, 2)) == ["exit-client", "exit-module"]


def test_exit_is_bounded_when_the_collector_is_gone(collector: Collector) -> None:
    collector.stop()
    done = run_script(
        """
        import os, footfall
        client = footfall.Client(os.environ["FF_KEY"], host=os.environ["FF_HOST"], shutdown_timeout=1)
        client.track("u1", "Script Ran")
        """,
        collector,
    )  # run_script's own timeout (60 s) is what fails this test if exit hangs
    assert done.returncode == 0, done.stderr
    assert "not stored" in done.stderr  # the loss is reported, not silent
