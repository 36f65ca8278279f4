"""The public API: `Client` and the tracking calls it shares with `AsyncClient`.

Tracking calls never raise into the host application: a bad call is logged, counted in `stats` and
returns False (`debug=True` makes it raise `InvalidCall` instead). Bad options raise at construction.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from footfall import messages
from footfall.errors import DeliveryError, GaveUp, InvalidCall
from footfall.messages import Id
from footfall.options import DEFAULT_HOST, OnError, Options
from footfall.transport import decode_all
from footfall.worker import Worker, http_client, send_batch

log = logging.getLogger("footfall")

Props = Mapping[str, Any]


@dataclass
class Stats:
    """Counts of messages the SDK did not deliver, by why. (Counted without locks: exact under the GIL.)"""

    invalid: int = 0  # bad calls, never queued
    dropped: int = 0  # queue full, or called after shutdown
    failed: int = 0  # queued but not stored: reported to on_error


class Calls:
    """The Segment-compatible tracking calls. Subclasses say what `_submit` does with an encoded message."""

    opts: Options
    stats: Stats
    _warned = False  # the collector's `warning` has been logged: once per client, not once per batch

    def _submit(self, data: bytes) -> bool:
        raise NotImplementedError

    def _message(
        self,
        kind: str,
        user_id: Any,
        anonymous_id: Any,
        context: Any,
        timestamp: Any,
        integrations: Any,
        message_id: Any,
        body: dict[str, Any],
    ) -> bool:
        try:
            msg = messages.build(kind, user_id, anonymous_id, context, timestamp, integrations, message_id, body)
            data = messages.encode(msg)
        except InvalidCall as exc:
            return self._invalid(exc)
        return self._submit(data)

    def _invalid(self, exc: InvalidCall) -> bool:
        self.stats.invalid += 1
        if self.opts.debug:
            raise exc
        log.warning("footfall: call ignored: %s", exc)
        return False

    def track(
        self,
        user_id: Id | None = None,
        event: str | None = None,
        properties: Props | None = None,
        context: Props | None = None,
        timestamp: datetime | None = None,
        anonymous_id: Id | None = None,
        integrations: Props | None = None,
        message_id: str | None = None,
    ) -> bool:
        """Record that `user_id` (or `anonymous_id`) did `event`. True if queued (or sent, in sync mode).

        Example: `client.track("u42", "Signed Up", {"plan": "pro"})`
        """
        try:
            body = messages.track_body(event, properties)
        except InvalidCall as exc:
            return self._invalid(exc)
        return self._message("track", user_id, anonymous_id, context, timestamp, integrations, message_id, body)

    def page(
        self,
        user_id: Id | None = None,
        category: str | None = None,
        name: str | None = None,
        properties: Props | None = None,
        context: Props | None = None,
        timestamp: datetime | None = None,
        anonymous_id: Id | None = None,
        integrations: Props | None = None,
        message_id: str | None = None,
    ) -> bool:
        """Record a page view (properties: url, path, referrer, title, search)."""
        try:
            body = messages.page_body(name, category, properties)
        except InvalidCall as exc:
            return self._invalid(exc)
        return self._message("page", user_id, anonymous_id, context, timestamp, integrations, message_id, body)

    def screen(
        self,
        user_id: Id | None = None,
        category: str | None = None,
        name: str | None = None,
        properties: Props | None = None,
        context: Props | None = None,
        timestamp: datetime | None = None,
        anonymous_id: Id | None = None,
        integrations: Props | None = None,
        message_id: str | None = None,
    ) -> bool:
        """Record a screen view in an app."""
        try:
            body = messages.page_body(name, category, properties)
        except InvalidCall as exc:
            return self._invalid(exc)
        return self._message("screen", user_id, anonymous_id, context, timestamp, integrations, message_id, body)

    def identify(
        self,
        user_id: Id | None = None,
        traits: Props | None = None,
        context: Props | None = None,
        timestamp: datetime | None = None,
        anonymous_id: Id | None = None,
        integrations: Props | None = None,
        message_id: str | None = None,
    ) -> bool:
        """Tie a user to their traits (and, with both IDs, an anonymous visitor to the user)."""
        try:
            body = messages.traits_body(traits)
        except InvalidCall as exc:
            return self._invalid(exc)
        return self._message("identify", user_id, anonymous_id, context, timestamp, integrations, message_id, body)

    def group(
        self,
        user_id: Id | None = None,
        group_id: Id | None = None,
        traits: Props | None = None,
        context: Props | None = None,
        timestamp: datetime | None = None,
        anonymous_id: Id | None = None,
        integrations: Props | None = None,
        message_id: str | None = None,
    ) -> bool:
        """Put a user in a group (a company, a team, an account) with the group's traits."""
        try:
            body = messages.group_body(group_id, traits)
        except InvalidCall as exc:
            return self._invalid(exc)
        return self._message("group", user_id, anonymous_id, context, timestamp, integrations, message_id, body)

    def alias(
        self,
        previous_id: Id | None = None,
        user_id: Id | None = None,
        context: Props | None = None,
        timestamp: datetime | None = None,
        integrations: Props | None = None,
        message_id: str | None = None,
    ) -> bool:
        """Say that `previous_id` and `user_id` are the same person."""
        try:
            body = messages.alias_body(previous_id, user_id)
        except InvalidCall as exc:
            return self._invalid(exc)
        return self._message("alias", user_id, None, context, timestamp, integrations, message_id, body)

    def purchase(
        self,
        user_id: Id | None = None,
        order_id: str | int | None = None,
        total: float | None = None,
        currency: str | None = None,
        products: list[Props] | None = None,
        properties: Props | None = None,
        *,
        revenue: float | None = None,
        context: Props | None = None,
        timestamp: datetime | None = None,
        anonymous_id: Id | None = None,
        integrations: Props | None = None,
        message_id: str | None = None,
    ) -> bool:
        """Track `Order Completed` as Segment's e-commerce spec has it.

        Needs `order_id`, a numeric `total` (or `revenue`) and an ISO 4217 `currency`; `products` is a
        list of dicts (`product_id`, `sku`, `name`, `price`, `quantity`, ...). Other keys go in `properties`.

        Example: `client.purchase("u42", "o-1001", 59.90, "EUR", [{"sku": "B-1", "price": 29.95, "quantity": 2}])`
        """
        try:
            props = messages.order_properties(order_id, total, revenue, currency, products, properties)
        except InvalidCall as exc:
            return self._invalid(exc)
        body = {"event": "Order Completed", "properties": props}
        return self._message("track", user_id, anonymous_id, context, timestamp, integrations, message_id, body)

    def _warn(self, text: str) -> None:
        """Log a `warning` the collector put in an answer (e.g. a backend sending with the public browser key)."""
        if not self._warned:
            self._warned = True
            log.warning("footfall: the collector at %s warns: %s", self.opts.host, text)

    def _report(self, error: DeliveryError, batch: list[bytes]) -> None:
        """Tell the log and `on_error` about messages that will not be stored. Never raises."""
        self.stats.failed += len(batch)
        log.error("footfall: %d message(s) not stored: %s", len(batch), error)
        if self.opts.on_error is not None:
            try:
                self.opts.on_error(error, decode_all(batch))
            except Exception:
                log.exception("footfall: the on_error callback raised")


class Client(Calls):
    """A Footfall client: queue messages from any thread; a background thread sends them in batches.

    Args:
        write_key: the collector's server write key (sent as HTTP Basic user name).
        host: the collector's base URL.
        on_error: `on_error(error, messages)`, called on the sender thread for messages that will not be
            stored (see `footfall.errors`). Exceptions it raises are logged and ignored.
        debug: make bad tracking calls raise `InvalidCall` instead of logging and returning False.
        send: False sends nothing (calls are validated and return True): for tests and local runs.
        sync_mode: send each message on the calling thread before returning (serverless, short scripts).
        max_queue_size: messages held in memory; when full, calls return False and count a drop.
        flush_at / flush_interval: a batch goes when it has this many messages, or this many seconds
            after its first message (or when it nears the collector's 500 KB batch limit).
        gzip: compress request bodies.
        timeout: seconds for one HTTP request.
        max_retries / retry_delay / max_retry_delay: the retry table's numbers (see `footfall.transport`).
        shutdown_timeout: the bound on `shutdown()` and on the flush at interpreter exit.
        flush_at_exit: flush at interpreter exit (bounded by `shutdown_timeout`).
        transport: an `httpx.BaseTransport` to send through (tests, custom proxies).
        upload_size / upload_interval: Segment's names for flush_at / flush_interval.
    """

    def __init__(
        self,
        write_key: str | None = None,
        host: str | None = None,
        *,
        on_error: OnError | None = None,
        debug: bool = False,
        send: bool = True,
        sync_mode: bool = False,
        max_queue_size: int = 10_000,
        flush_at: int = 100,
        flush_interval: float = 0.5,
        gzip: bool = True,
        timeout: float = 15.0,
        max_retries: int = 10,
        retry_delay: float = 0.5,
        max_retry_delay: float = 30.0,
        shutdown_timeout: float = 5.0,
        flush_at_exit: bool = True,
        transport: httpx.BaseTransport | None = None,
        upload_size: int | None = None,
        upload_interval: float | None = None,
    ) -> None:
        self.opts = Options(
            write_key,  # type: ignore[arg-type]  # checked by Options
            host or DEFAULT_HOST,
            on_error,
            debug,
            send,
            sync_mode,
            max_queue_size,
            upload_size if upload_size is not None else flush_at,
            upload_interval if upload_interval is not None else flush_interval,
            gzip,
            timeout,
            max_retries,
            retry_delay,
            max_retry_delay,
            shutdown_timeout,
            flush_at_exit,
            transport,
        )
        self.stats = Stats()
        self._lock = threading.Lock()
        self._pid: int | None = None  # the process the worker (or sync HTTP client) belongs to
        self._worker: Worker | None = None
        self._http: httpx.Client | None = None
        self._closed = False
        self._never = threading.Event()
        if self.opts.flush_at_exit and self.opts.send and not self.opts.sync_mode:
            self._at_exit = _exit_hook(weakref.ref(self))
            atexit.register(self._at_exit)

    def _submit(self, data: bytes) -> bool:
        if not self.opts.send:
            return True
        # The first call, or the first in a child after fork(): start this process's sender.
        if self._pid != os.getpid() and not self._start():
            return False
        if self.opts.sync_mode:
            assert self._http is not None
            return send_batch(self._http, self.opts, [data], self._report, self._warn, self._never)
        assert self._worker is not None
        if self._worker.submit(data):
            return True
        self.stats.dropped += 1
        if self.stats.dropped in (1, 10, 100) or self.stats.dropped % 1000 == 0:
            log.warning(
                "footfall: queue full (%d messages); %d dropped so far", self.opts.max_queue_size, self.stats.dropped
            )
        return False

    def _start(self) -> bool:
        """Start this process's sender: at the first call, and in a child after fork() (the parent's thread
        did not come along, and its connections must not be shared). The parent's queue stays its own."""
        with self._lock:
            if self._closed:
                self.stats.dropped += 1
                log.warning("footfall: call after shutdown() ignored")
                return False
            if self._pid != os.getpid():
                if self.opts.sync_mode:
                    self._http = http_client(self.opts)
                else:
                    self._worker = Worker(self.opts, self._report, self._warn)
                self._pid = os.getpid()
        return True

    @property
    def pending(self) -> int:
        """Messages queued in this process and not yet done with (stored, or reported)."""
        return self._worker.pending() if self._worker is not None and self._pid == os.getpid() else 0

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Send everything queued now; return True once it is all done with, False if `timeout` passed first.

        Never waits longer than `timeout` seconds (None: no bound), whatever the collector does.
        """
        deadline = time.monotonic() + timeout if timeout is not None else float("inf")
        worker = self._worker
        if worker is None or self._pid != os.getpid():
            return True
        return worker.flush(deadline)

    def shutdown(self, timeout: float | None = None) -> bool:
        """Flush, then stop the sender, all within `timeout` (default `shutdown_timeout`). Later calls are dropped.

        Returns True if everything queued was done with. Messages still queued at the deadline are
        reported to `on_error` as `GaveUp`.
        """
        limit = self.opts.shutdown_timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        with self._lock:
            self._closed = True
        if hasattr(self, "_at_exit"):
            atexit.unregister(self._at_exit)
        flushed = self.flush(limit - min(0.5, limit / 10))  # the rest is for stopping the thread
        if self._pid == os.getpid():
            if self._worker is not None:
                left = self._worker.stop(deadline)
                if left:
                    self._report(GaveUp("the client shut down before they were sent"), left)
            if self._http is not None:
                self._http.close()
            self._pid = None  # so the next call goes through _start(), which refuses it
        return flushed

    def join(self) -> None:
        """Segment's name for shutdown()."""
        self.shutdown()

    def _exit(self) -> None:
        if self._pid == os.getpid() and not self._closed and not self.shutdown():
            log.warning(
                "footfall: exited with messages not yet delivered (shutdown_timeout=%s)", self.opts.shutdown_timeout
            )


def _exit_hook(ref: weakref.ref[Client]) -> Callable[[], None]:
    """An atexit hook of one client's own (so it can be unregistered alone) that does not keep it alive."""

    def hook() -> None:
        client = ref()
        if client is not None:
            client._exit()

    return hook
