"""The public API: `Client` and the tracking calls it shares with `AsyncClient`.

Tracking calls never raise into the host application: a bad call is logged, counted in `stats` and
returns False (`debug=True` makes it raise `InvalidCall` instead). Bad options raise at construction.
"""

from __future__ import annotations

import atexit
import functools
import inspect
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Concatenate, ParamSpec, TypeVar

import httpx

from footfall import messages
from footfall.errors import DeliveryError, GaveUp, InvalidCall
from footfall.messages import Id
from footfall.options import Options
from footfall.transport import decode_all
from footfall.worker import ThreadWorker, http_client, send_batch

log = logging.getLogger("footfall")

Props = Mapping[str, Any]
Message = dict[str, Any]
C = TypeVar("C", bound="Calls")
P = ParamSpec("P")


@dataclass
class Stats:
    """Counts of messages the SDK did not deliver, by why. (Counted without locks: exact under the GIL.)"""

    invalid: int = 0  # bad calls, never queued
    dropped: int = 0  # queue full, or called after shutdown
    failed: int = 0  # queued but not stored: reported to on_error


def tracking_call(build: Callable[Concatenate[C, P], dict[str, Any]]) -> Callable[Concatenate[C, P], bool]:
    """A tracking call: `build` checks the arguments and returns the message; this encodes and queues it.

    The one place where a bad call (`InvalidCall` from `build` or from encoding) is logged, counted in
    `stats.invalid` and turned into False; with `debug=True` it is raised instead.
    """

    @functools.wraps(build)
    def call(self: C, /, *args: P.args, **kwargs: P.kwargs) -> bool:
        try:
            data = messages.encode(build(self, *args, **kwargs))
        except InvalidCall as exc:
            self.stats.invalid += 1
            if self.opts.debug:
                raise
            log.warning("footfall: call ignored: %s", exc)
            return False
        return self._submit(data)

    call.__signature__ = inspect.signature(build).replace(return_annotation="bool")  # type: ignore[attr-defined]
    return call


class Calls:
    """The Segment-compatible tracking calls. Subclasses say what `_submit` does with an encoded message."""

    opts: Options
    stats: Stats
    _warned = False  # the collector's `warning` has been logged: once per client, not once per batch

    def _submit(self, data: bytes) -> bool:
        raise NotImplementedError

    @tracking_call
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
    ) -> Message:
        """Record that `user_id` (or `anonymous_id`) did `event`. True if queued (or sent, in sync mode).

        Example: `client.track("u42", "Signed Up", {"plan": "pro"})`
        """
        body = messages.track_body(event, properties)
        return messages.build("track", user_id, anonymous_id, context, timestamp, integrations, message_id, body)

    @tracking_call
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
    ) -> Message:
        """Record a page view (properties: url, path, referrer, title, search)."""
        body = messages.page_body(name, category, properties)
        return messages.build("page", user_id, anonymous_id, context, timestamp, integrations, message_id, body)

    @tracking_call
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
    ) -> Message:
        """Record a screen view in an app."""
        body = messages.page_body(name, category, properties)
        return messages.build("screen", user_id, anonymous_id, context, timestamp, integrations, message_id, body)

    @tracking_call
    def identify(
        self,
        user_id: Id | None = None,
        traits: Props | None = None,
        context: Props | None = None,
        timestamp: datetime | None = None,
        anonymous_id: Id | None = None,
        integrations: Props | None = None,
        message_id: str | None = None,
    ) -> Message:
        """Tie a user to their traits (and, with both IDs, an anonymous visitor to the user)."""
        body = messages.traits_body(traits)
        return messages.build("identify", user_id, anonymous_id, context, timestamp, integrations, message_id, body)

    @tracking_call
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
    ) -> Message:
        """Put a user in a group (a company, a team, an account) with the group's traits."""
        body = messages.group_body(group_id, traits)
        return messages.build("group", user_id, anonymous_id, context, timestamp, integrations, message_id, body)

    @tracking_call
    def alias(
        self,
        previous_id: Id | None = None,
        user_id: Id | None = None,
        context: Props | None = None,
        timestamp: datetime | None = None,
        integrations: Props | None = None,
        message_id: str | None = None,
    ) -> Message:
        """Say that `previous_id` and `user_id` are the same person."""
        body = messages.alias_body(previous_id, user_id)
        return messages.build("alias", user_id, None, context, timestamp, integrations, message_id, body)

    @tracking_call
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
    ) -> Message:
        """Track `Order Completed` as Segment's e-commerce spec has it.

        Needs `order_id`, a numeric `total` (or `revenue`) and an ISO 4217 `currency`; `products` is a
        list of dicts (`product_id`, `sku`, `name`, `price`, `quantity`, ...). Other keys go in `properties`.

        Example: `client.purchase("u42", "o-1001", 59.90, "EUR", [{"sku": "B-1", "price": 29.95, "quantity": 2}])`
        """
        props = messages.order_properties(order_id, total, revenue, currency, products, properties)
        body = {"event": "Order Completed", "properties": props}
        return messages.build("track", user_id, anonymous_id, context, timestamp, integrations, message_id, body)

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

    `Client(write_key, host, **options)`: the options, by keyword, are `footfall.options.Options`'s
    (`on_error`, `debug`, `send`, `sync_mode`, `max_queue_size`, `flush_at`, `flush_interval`, `gzip`,
    `timeout`, `max_retries`, `retry_delay`, `max_retry_delay`, `shutdown_timeout`, `flush_at_exit`,
    `transport`, an `httpx.BaseTransport`), plus Segment's `upload_size` / `upload_interval` for
    `flush_at` / `flush_interval`. A bad or unknown option raises here.
    """

    def __init__(self, write_key: str | None = None, host: str | None = None, **options: Any) -> None:
        self.opts = Options.of(write_key, host, options)
        self.stats = Stats()
        self._lock = threading.Lock()
        self._pid: int | None = None  # the process the worker (or sync HTTP client) belongs to
        self._worker: ThreadWorker | None = None
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
                    self._worker = ThreadWorker(self.opts, self._report, self._warn)
                self._pid = os.getpid()
        return True

    @property
    def pending(self) -> int:
        """Messages queued in this process and not yet done with (stored, or reported)."""
        return self._worker.pending if self._worker is not None and self._pid == os.getpid() else 0

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
