"""footfall/client.py: the tracking calls (`Calls`, the `tracking_call` decorator) and `Client`'s lifecycle: into the
real collector and out of its export; on_error, the collector's warnings, fork() and interpreter exit."""

from __future__ import annotations

import logging
import os
import signal
import time
import warnings
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import footfall
import pytest

from tests.conftest import Collector
from tests.sdk_python.faults import AnsweringServer
from tests.sdk_python.helpers import (
    ANSWER,
    WARNING,
    Errors,
    by_id,
    exported_until,
    run_script,
)


def test_every_call_type_lands_and_is_exported(collector: Collector) -> None:
    errors = Errors()
    client = footfall.Client(collector.server_key, host=collector.url, on_error=errors)
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    assert client.track("u1", "Signed Up", {"plan": "pro"}, message_id="m-track", timestamp=when)
    assert client.page("u1", "Docs", "Install", {"path": "/docs/install"}, message_id="m-page")
    assert client.screen(anonymous_id="a1", name="Home", message_id="m-screen")
    assert client.identify("u1", {"email": "u1@example.com"}, anonymous_id="a1", message_id="m-identify")
    assert client.group("u1", "acme", {"name": "Acme"}, message_id="m-group")
    assert client.alias("a1", "u1", message_id="m-alias")
    products = [{"sku": "B-1", "price": Decimal("29.95"), "quantity": 2}]
    assert client.purchase("u1", "o-1001", 59.90, "eur", products, {"coupon": "WINTER"}, message_id="m-purchase")
    assert client.flush(timeout=10)
    got = by_id(exported_until(collector, 7))
    assert set(got) == {"m-track", "m-page", "m-screen", "m-identify", "m-group", "m-alias", "m-purchase"}
    assert errors.calls == []

    track = got["m-track"]
    assert (track["type"], track["event"], track["userId"], track["properties"]) == (
        "track",
        "Signed Up",
        "u1",
        {"plan": "pro"},
    )
    assert track["context"]["library"] == {"name": "footfall-python", "version": footfall.__version__}
    assert got["m-page"]["name"] == "Install" and got["m-page"]["category"] == "Docs"
    assert got["m-page"]["properties"]["path"] == "/docs/install"
    assert got["m-screen"]["type"] == "screen" and got["m-screen"]["anonymousId"] == "a1"
    assert got["m-identify"]["traits"] == {"email": "u1@example.com"} and got["m-identify"]["anonymousId"] == "a1"
    assert got["m-group"]["groupId"] == "acme" and got["m-group"]["traits"] == {"name": "Acme"}
    assert got["m-alias"]["previousId"] == "a1" and got["m-alias"]["userId"] == "u1"
    order = got["m-purchase"]
    assert order["event"] == "Order Completed"
    assert order["properties"] == {
        "coupon": "WINTER",
        "order_id": "o-1001",
        "total": 59.9,
        "currency": "EUR",
        "products": [{"sku": "B-1", "price": 29.95, "quantity": 2}],  # the Decimal went as a number
    }
    client.shutdown()


@pytest.mark.parametrize(
    ("call", "args", "kwargs"),
    [
        ("track", ("u1",), {}),  # no event
        ("track", (None, "Ping"), {}),  # no user_id nor anonymous_id
        ("track", ("u1", "Ping", "not a dict"), {}),
        ("track", ("u1", "Ping", {"bad": object()}), {}),  # not JSON
        ("track", ("u1", "Ping", {"nan": float("nan")}), {}),
        ("track", ("u1", "Ping", {"big": "x" * 40_000}), {}),  # over 32 KB
        ("track", ("u1", "Ping"), {"timestamp": "yesterday"}),
        ("track", ("", "Ping"), {}),
        ("group", ("u1",), {}),  # no group_id
        ("alias", ("a1",), {}),  # no user_id
        ("purchase", ("u1", "o-1", 10, "EURO"), {}),  # not ISO 4217
        ("purchase", ("u1", "o-1", None, "EUR"), {}),  # no total
        ("purchase", ("u1", None, 10, "EUR"), {}),  # no order_id
        ("purchase", ("u1", "o-1", 10, "EUR", [{"price": "cheap"}]), {}),
    ],
)
def test_bad_calls_log_and_return_false_or_raise_in_debug(
    call: str, args: tuple[Any, ...], kwargs: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    quiet = footfall.Client("sk", send=False)
    with caplog.at_level(logging.WARNING, logger="footfall"):
        assert getattr(quiet, call)(*args, **kwargs) is False
    assert quiet.stats.invalid == 1
    assert "call ignored" in caplog.text
    loud = footfall.Client("sk", send=False, debug=True)
    with pytest.raises(footfall.InvalidCall):
        getattr(loud, call)(*args, **kwargs)


def test_send_false_validates_and_sends_nothing(collector: Collector) -> None:
    client = footfall.Client(collector.server_key, host=collector.url, send=False)
    assert client.track("u1", "Ping")
    assert client.flush(timeout=1) and client.shutdown(timeout=1)
    assert collector.export() == []


def test_sync_mode_has_delivered_when_the_call_returns(collector: Collector) -> None:
    client = footfall.Client(collector.server_key, host=collector.url, sync_mode=True)
    assert client.track("u1", "Ping", message_id="sync-1")
    assert [m["messageId"] for m in collector.export()] == ["sync-1"]
    client.shutdown()


SEGMENT_SIGNATURES = {  # analytics-python 2.x, parameter names in order
    "track": ["user_id", "event", "properties", "context", "timestamp", "anonymous_id", "integrations", "message_id"],
    "page": [
        "user_id",
        "category",
        "name",
        "properties",
        "context",
        "timestamp",
        "anonymous_id",
        "integrations",
        "message_id",
    ],
    "identify": ["user_id", "traits", "context", "timestamp", "anonymous_id", "integrations", "message_id"],
    "group": ["user_id", "group_id", "traits", "context", "timestamp", "anonymous_id", "integrations", "message_id"],
    "alias": ["previous_id", "user_id", "context", "timestamp", "integrations", "message_id"],
}


SEGMENT_SIGNATURES["screen"] = SEGMENT_SIGNATURES["page"]


@pytest.mark.parametrize("name", sorted(SEGMENT_SIGNATURES))
def test_calls_take_segments_arguments_in_segments_order(name: str) -> None:
    import inspect

    for owner in (footfall.Client, footfall.AsyncClient):
        params = list(inspect.signature(getattr(owner, name)).parameters)[1:]
        assert params == SEGMENT_SIGNATURES[name]
    assert list(inspect.signature(getattr(footfall, name)).parameters) == SEGMENT_SIGNATURES[name]


def test_on_error_that_raises_does_not_stop_the_sender(collector: Collector) -> None:
    def explode(error: Exception, batch: list[dict[str, object]]) -> None:
        raise RuntimeError("user callback bug")

    client = footfall.Client(collector.server_key, host=collector.url, on_error=explode)
    client.track("u1", "Order Completed", {"total": 5})
    assert client.flush(timeout=10)
    client.track("u1", "Ping", message_id="after")
    assert client.flush(timeout=10)
    assert [m["messageId"] for m in collector.export()] == ["after"]
    client.shutdown()


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
    assert exit_code(pid) == 0
    ids = sorted(m["messageId"] for m in exported_until(collector, 3))
    assert ids == ["after-fork", "before-fork", "in-child"]
    client.shutdown()


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


def test_the_warning_is_logged_once_per_client(caplog: pytest.LogCaptureFixture) -> None:
    with AnsweringServer(ANSWER) as server, caplog.at_level(logging.WARNING, logger="footfall"):
        client = footfall.Client("wk_browser", host=server.url)
        for i in range(3):  # three batches, three answers with the warning
            assert client.track("u1", "Ping", message_id=f"w-{i}")
            assert client.flush(timeout=10)
        assert client.shutdown(timeout=10)
        assert server.requests == 3
        other = footfall.Client("wk_browser", host=server.url, sync_mode=True)
        assert other.track("u1", "Ping")
        other.shutdown()
    logged = [r for r in caplog.records if WARNING in r.getMessage()]
    assert [r.levelno for r in logged] == [logging.WARNING] * 2  # one for each client
    assert server.url in logged[0].getMessage()


def exit_code(pid: int, timeout: float = 60.0) -> int:
    """A child's exit code; a child still running after `timeout` is killed (and its code is the signal's)."""
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        time.sleep(0.01)


def test_a_backend_on_the_browser_key_is_told_by_the_real_collector(
    collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="footfall"):
        client = footfall.Client(collector.write_key, host=collector.url, sync_mode=True)
        assert client.track("u1", "Order Shipped", message_id="sdk-on-browser-key")
        assert client.track("u1", "Order Shipped", message_id="sdk-on-browser-key-2")
        client.shutdown()
    logged = [r.getMessage() for r in caplog.records if "public browser write key" in r.getMessage()]
    assert len(logged) == 1 and "server write key" in logged[0], caplog.text
    stored = by_id(collector.export())["sdk-on-browser-key"]
    assert stored["context"]["device"]["type"] == "bot"  # a program, not a desktop visitor
