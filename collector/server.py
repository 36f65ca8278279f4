"""The HTTP server: uvicorn with its httptools protocol, bounded where uvicorn itself does not bound, in one
process or in several (`--workers`).

httptools keeps every header byte until the headers end, and uvicorn waits for them forever: a 200 MB
header was buffered whole, and a connection that sent half its headers stayed open until the process
ran out of file descriptors. `bounded_protocol` gives the protocol two limits: the request line and
headers may take at most `max_head` bytes (else `431 Request Header Fields Too Large`) and `timeout`
seconds from the connection's start, or from a kept-alive request's first byte (else `408`, closed).
Keep-alive idle time, concurrency and the rest stay uvicorn's own settings.

On shutdown uvicorn closes an idle kept-alive connection at once, so a request the client had just sent
on it was reset unread. Here an idle connection gets `SHUTDOWN_GRACE` seconds: a request that arrives in
that time is served (and the connection closed after it), and only then is the connection closed.

With `--workers N` the parent process brings the store's schema up to date, listens on the port with one
socket per worker slot, and runs N worker processes (uvicorn's supervisor: a worker that dies is replaced,
SIGHUP replaces them one by one, each new one serving before its old one stops; SIGTERM stops them all).
Each worker builds its own app from the settings (`CollectorConfig.load`): its own group committer, taking
turns with the others at the store's write lock (see the store). Metrics are kept in files that every
worker's `/metrics` reads (`metrics.MULTIPROCESS_ENV`).

Why a socket per slot (`SO_REUSEPORT`): with one socket shared by all workers, the first worker to wake
accepted every connection that was waiting; a load balancer's or a client's pool of kept-alive connections,
opened at once, all went to one worker while the others idled. The kernel spreads new connections over the
sockets of a port by their addresses. Each slot's socket belongs to the parent, and a worker that replaces
another serves the same socket: connections waiting on it during a restart are served, not reset.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
from collections.abc import Callable
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.supervisors.multiprocess import Multiprocess, Process

from collector.config import Settings

log = logging.getLogger("footfall")

SHUTDOWN_GRACE = 0.5  # seconds an idle connection is kept open at shutdown, for a request already on its way
STOP_SECONDS = 20  # a stopping worker's requests get this long to finish (a slow body would hold it forever)
SWITCH_INTERVAL = 0.001  # seconds a thread holds the GIL while another waits for it (see CollectorConfig.load)


class CollectorConfig(uvicorn.Config):
    """uvicorn's settings for the collector's. The app and its protocol are made in `load()`, in the process
    that serves: a worker process gets this object pickled, and a running app cannot be."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        super().__init__(
            "collector.app:create_app",  # (made in load_app, from the settings)
            host=settings.host,
            port=settings.port,
            loop="uvloop",
            workers=settings.worker_count,
            limit_concurrency=settings.max_connections or None,
            lifespan="on",
            access_log=settings.access_log,
            log_level=settings.log_level,
            proxy_headers=False,  # the collector reads forwarding headers itself, from trusted proxies only
            server_header=False,
            timeout_graceful_shutdown=STOP_SECONDS,
        )

    def configure_logging(self) -> None:  # in the parent, and again in each worker process
        from collector.logs import configure, install_access_log_filter

        s = self.settings
        self.log_config = configure(s.log_level, s.log_format, s.ip_policy)
        super().configure_logging()
        install_access_log_filter(s.ip_policy)  # after uvicorn's own set-up of its loggers

    def load(self) -> None:
        # The SQLite store's writer thread (expiry, erasure: the group commits have a process of their own)
        # takes the GIL back after each step of SQLite; while the event loop is busy, that waits for the
        # switch interval (5 ms by default), with the file's write lock held.
        sys.setswitchinterval(SWITCH_INTERVAL)
        s = self.settings
        self.http = bounded_protocol(s.max_header_bytes, s.header_timeout_seconds, on_shutdown=self._closing)
        super().load()

    def load_app(self) -> Any:
        from collector.app import create_app

        self.app = create_app(self.settings)
        return self.app

    def _closing(self) -> None:
        """The server stops: requests waiting for messages (export's `wait`) answer with what they have."""
        runtime = getattr(getattr(self.app, "state", None), "runtime", None)
        if runtime is not None:
            runtime.notifier.close()


class _Server(uvicorn.Server):
    """One process: says where it serves once it listens (`import_client.announce_serving`)."""

    def __init__(self, config: CollectorConfig) -> None:
        super().__init__(config)
        self.settings = config.settings
        self.announced: list[Callable[[], None]] = []

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        if self.started:
            from collector.import_client import announce_serving

            self.announced.append(announce_serving(self.settings))

    async def shutdown(self, sockets: Any = None) -> None:
        self.withdraw()  # here: after a signal, uvicorn re-raises it, and the process ends without unwinding
        await super().shutdown(sockets)

    def withdraw(self) -> None:
        while self.announced:
            self.announced.pop()()


def serve(settings: Settings) -> None:
    """Serve until a signal stops it: in this process (`--workers 1`), or in worker processes under a
    supervisor (more than one, or `auto`: then SIGHUP replaces even a single worker)."""
    config = CollectorConfig(settings)
    if not settings.workers_auto and settings.worker_count == 1:
        # uvicorn acts on SIGINT and SIGTERM; SIGHUP would end the process at once (`systemctl reload`).
        signal.signal(
            signal.SIGHUP,
            lambda *_: log.warning("SIGHUP ignored: one process has nothing to replace (--workers 2 or auto would)"),
        )
        server = _Server(config)
        try:
            server.run()
        finally:
            server.withdraw()
        return
    from collector import metrics
    from collector.import_client import announce_serving

    asyncio.run(_prepare_store(settings))  # the schema's migrations once, before the workers open the store
    slots = listening_sockets(settings.host, settings.port, config.workers, config.backlog)
    log.info("Listening on http://%s:%d with %d worker processes", settings.host, settings.port, config.workers)
    shared = tempfile.mkdtemp(prefix="footfall-metrics-")
    os.environ[metrics.MULTIPROCESS_ENV] = shared  # the workers inherit it
    withdraw = announce_serving(settings)  # the socket listens already: imports may queue on it
    stop_sweeping = threading.Event()
    sweeper = threading.Thread(target=metrics.sweep_dead_workers, args=(shared, stop_sweeping), daemon=True)
    sweeper.start()
    try:
        with metrics.parent_port(settings.metrics_port, settings.metrics_host, shared):
            Supervisor(config, slots).run()
    finally:
        stop_sweeping.set()
        withdraw()
        for sock in slots:
            sock.close()
        shutil.rmtree(shared, ignore_errors=True)


def listening_sockets(host: str, port: int, count: int, backlog: int) -> list[socket.socket]:
    """`count` sockets listening on one address (SO_REUSEPORT; the first fixes the port if it is 0)."""
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    first = socket.create_server((host, port), family=family, backlog=backlog, reuse_port=True)
    port = first.getsockname()[1]
    return [first] + [
        socket.create_server((host, port), family=family, backlog=backlog, reuse_port=True) for _ in range(count - 1)
    ]


def stop(process: Process) -> None:
    """Wait for a worker told to stop (its graceful shutdown is bounded by STOP_SECONDS); then kill it."""
    process.process.join(STOP_SECONDS + 10)
    if process.process.is_alive():
        log.error("worker [%s] did not stop in time; killed", process.pid)
        process.kill()
        process.process.join()


class Supervisor(Multiprocess):
    """uvicorn's supervisor, with a listening socket per worker slot (see the module docstring): the worker
    of slot i, and each one that replaces it, serve `slots[i]`. The number of workers is fixed (SIGTTIN and
    SIGTTOU, which would change it, are ignored)."""

    def __init__(self, config: uvicorn.Config, slots: list[socket.socket]) -> None:
        super().__init__(config, sockets=[])
        self.slots = slots

    def worker(self, slot: int) -> Process:
        return Process(self.config, [self.slots[slot]])

    def init_processes(self) -> None:
        for slot in range(self.processes_num):
            process = self.worker(slot)
            process.start()
            self.processes.append(process)

    # The two methods below are uvicorn's own (0.54), each with `self.worker(slot)` for `Process(...)`.
    def restart_all(self) -> None:
        for slot, old_process in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new_process = self.worker(slot)
            new_process.start()
            if not new_process.wait_until_ready(self.config.timeout_worker_healthcheck, self.should_exit):
                new_process.kill()
                new_process.join()
                if not self.should_exit.is_set():
                    log.error("worker [%s] was not ready in time; keeping [%s], restart stopped", new_process.pid,
                              old_process.pid)  # fmt: skip
                return
            old_process.terminate()
            stop(old_process)
            self.processes[slot] = new_process

    def keep_subprocess_alive(self) -> None:
        if self.should_exit.is_set():
            return
        for slot, process in enumerate(self.processes):
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()  # hung, or dead already
            process.join()
            if process.exitcode == STARTUP_FAILURE:  # the app cannot start: it would fail again each time
                log.error("worker [%s] failed to start; stopping", process.pid)
                self.should_exit.set()
                return
            if self.should_exit.is_set():
                return
            log.info("worker [%s] died; starting another", process.pid)
            self.processes[slot] = self.worker(slot)
            self.processes[slot].start()

    def join_all(self) -> None:
        for process in self.processes:
            stop(process)

    def handle_ttin(self) -> None:
        log.info("Received SIGTTIN: the number of workers is fixed by --workers; ignored")

    def handle_ttou(self) -> None:
        log.info("Received SIGTTOU: the number of workers is fixed by --workers; ignored")


async def _prepare_store(settings: Settings) -> None:
    from collector.store import create_store

    store = create_store(settings)
    await store.open()
    await store.close()


def bounded_protocol(
    max_head: int, timeout: float, on_shutdown: Callable[[], None] | None = None
) -> type[HttpToolsProtocol]:
    class BoundedHttpToolsProtocol(HttpToolsProtocol):
        _head_bytes = 0
        _in_head = True
        _head_timer: asyncio.TimerHandle | None = None
        _head_started = 0.0  # the loop's time when this request's headers began
        _draining = False

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._start_head()

        def _start_head(self) -> None:
            self._in_head, self._head_bytes = True, 0
            self._head_started = self.loop.time()
            if self._head_timer is None:  # (a timer is not made and cancelled for each request of a connection)
                self._head_timer = self.loop.call_later(timeout, self._check_head)

        def _check_head(self) -> None:
            """The timer: refuses the request whose headers are late, or comes back when they would be."""
            self._head_timer = None
            if not self._in_head or self.transport.is_closing():
                return  # the next request's headers start it again
            waited = self.loop.time() - self._head_started
            if waited >= timeout:
                self._refuse(408, b"Request Timeout", "the request's headers did not arrive in time")
            else:
                self._head_timer = self.loop.call_later(timeout - waited, self._check_head)

        def _refuse(self, status: int, phrase: bytes, message: str) -> None:
            body = message.encode()
            head = b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n" % (status, phrase)
            head += b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body)
            self.transport.write(head + body)
            self.transport.close()

        def data_received(self, data: bytes) -> None:
            if self._in_head:
                self._head_bytes += len(data)
                if self._head_bytes - len(data) > max_head:  # over the limit before this chunk: stop here
                    self._refuse(431, b"Request Header Fields Too Large", f"headers over {max_head} bytes")
                    return
            super().data_received(data)
            if self._in_head and self._head_bytes > max_head and not self.transport.is_closing():
                self._refuse(431, b"Request Header Fields Too Large", f"headers over {max_head} bytes")

        def on_message_begin(self) -> None:
            super().on_message_begin()
            if not self._in_head:  # the next request on a kept-alive connection
                self._start_head()

        def on_headers_complete(self) -> None:
            self._in_head = False
            # Headers that came in one read (or pipelined after another request) are counted here too.
            size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
            if size > max_head:
                self._refuse(431, b"Request Header Fields Too Large", f"headers over {max_head} bytes")
                return
            super().on_headers_complete()
            if self._draining and self.cycle is not None:
                self.cycle.keep_alive = False  # served, then closed: the server is shutting down

        def shutdown(self) -> None:
            if on_shutdown is not None:
                on_shutdown()
            if self.cycle is None or self.cycle.response_complete:
                self._draining = True
                self.loop.call_later(SHUTDOWN_GRACE, self._close_if_idle)
            else:
                self.cycle.keep_alive = False

        def _close_if_idle(self) -> None:
            if (self.cycle is None or self.cycle.response_complete) and not self._mid_request():
                self.transport.close()

        def _mid_request(self) -> bool:
            return self._head_bytes > 0 and self._in_head  # a request's headers are arriving

        def connection_lost(self, exc: Exception | None) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
            super().connection_lost(exc)

    return BoundedHttpToolsProtocol
