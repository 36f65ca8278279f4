"""The collector's ASGI app: routes wired to the stages, resources opened and closed in the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import logging
import os
import threading
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client import start_http_server
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import Receive, Scope, Send

from collector import cors, erasure, export, imports, ingest, pages, people, retention, sources
from collector.config import Settings
from collector.enrich import Enricher
from collector.graph import Graph
from collector.http import HTTPError, handle_http_error, json_response, runtime
from collector.identify import CookieJar
from collector.import_worker import Preparer
from collector.metrics import Metrics, metrics_endpoint
from collector.notify import Notifier
from collector.paging import Cursors
from collector.ratelimit import RateLimits
from collector.runtime import Runtime
from collector.sources import Sources
from collector.store import create_store
from collector.store.group_commit import GroupCommitter
from collector.types import MESSAGE_TYPES

log = logging.getLogger("footfall")

TRACKER_FILE = Path(__file__).parent / "static" / "footfall.js"


async def healthz(request: Request) -> Response:
    """200 while the store takes writes; 503, saying why, while every commit fails (a full disk, say). Each
    worker process answers for itself (`pid`): its writer, and its own counts."""
    rt = runtime(request)
    committer = rt.committer
    store: dict[str, object] = {"ok": committer.failure is None, "commits": committer.commits}
    if committer.failure is not None:
        store |= {"error": committer.failure, "failingSince": committer.failing_since}
    status = "ok" if committer.failure is None else "failing"
    return json_response(
        {"status": status, "pid": os.getpid(), "store": store, "counters": dict(rt.counters)},
        200 if status == "ok" else 503,
    )


async def tracker(request: Request) -> Response:
    rt = runtime(request)
    if rt.tracker is None:
        return Response("tracker not built (run sdk_js's build)\n", 404, media_type="text/plain")
    etag = rt.tracker[1]
    headers = {"Cache-Control": "public, max-age=3600", "ETag": etag, "Access-Control-Allow-Origin": "*"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(rt.tracker[0], headers=headers, media_type="application/javascript")


def _load_tracker() -> tuple[bytes, str] | None:
    if not TRACKER_FILE.exists():
        log.warning("%s is missing: /footfall.js will answer 404", TRACKER_FILE)
        return None
    content = TRACKER_FILE.read_bytes()
    return content, '"' + hashlib.sha256(content).hexdigest()[:16] + '"'


# Allocations between two passes of the garbage collector over the youngest objects (Python's default is
# 700: a request allocates a few hundred, so a pass every few requests).
GC_YOUNG = 10_000


@contextlib.contextmanager
def settled_heap() -> Iterator[None]:
    """While the collector serves: what its start made (modules, caches, the GeoIP and User-Agent tables)
    is left out of the garbage collector's passes (`gc.freeze`), and a pass over the youngest objects runs
    every GC_YOUNG allocations. Most of a request's objects are freed as soon as it is answered, whatever
    the collector does; with the default, its passes took about a tenth of single-message throughput
    (`bench/ingest.py`, same run, alternating: ratio to the no-op endpoint 0.348 -> 0.385) and a seventh
    of 20-message batches'. Undone when the last app of the process stops (tests run several at once)."""
    global _serving, _threshold
    with _heap_lock:
        if not _serving:
            _threshold = gc.get_threshold()
            gc.collect()
            gc.freeze()
            gc.set_threshold(GC_YOUNG, *_threshold[1:])
        _serving += 1
    try:
        yield
    finally:
        with _heap_lock:
            _serving -= 1
            if not _serving:
                gc.set_threshold(*_threshold)
                gc.unfreeze()


_heap_lock = threading.Lock()
_serving = 0  # apps of this process in their lifespan
_threshold = gc.get_threshold()  # the collector's setting, from before the first of them


def create_app(settings: Settings) -> Starlette:
    """The collector for these settings. Secrets must be filled in (`Settings.with_secrets()`)."""
    assert settings.write_key and settings.export_token and settings.cookie_secret, "call with_secrets() first"

    live = pages.live_app(settings.cookie_secrets[-1])

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        store = create_store(settings, serving=True)
        await store.open()
        committer = GroupCommitter(store)
        committer.start()
        enricher = Enricher(settings)
        graph = Graph(await store.read_suppressed())
        cookies = CookieJar.from_settings(settings)
        cursors = Cursors(settings.cookie_secrets)
        limits = RateLimits(settings)
        counters: Counter[str] = Counter()
        notifier = Notifier()
        metrics = Metrics(
            lambda: {"pending_rows": committer.pending, "waiting_requests": notifier.waiting} | store.stats(), counters
        )

        def committed(rows: int, seconds: float) -> None:
            metrics.observe_commit(rows, seconds)
            notifier.poke()

        committer.on_commit = committed
        known = Sources(settings)
        known.replace(await store.read_sources())
        rt = Runtime(
            settings=settings,
            store=store,
            committer=committer,
            cookies=cookies,
            enricher=enricher,
            graph=graph,
            cursors=cursors,
            limits=limits,
            sources=known,
            metrics=metrics,
            notifier=notifier,
            tracker=_load_tracker(),
            counters=counters,
            preparer=Preparer(settings),
        )
        metrics_server = None
        if settings.metrics_port and metrics.shared is None:  # (with workers, the parent serves that port)
            metrics_server, _ = start_http_server(settings.metrics_port, settings.metrics_host, metrics.registry)
        app.state.runtime = rt
        live.state.runtime = rt
        refresher = asyncio.create_task(sources.refresh_loop(store, known, graph), name="footfall-sources")
        syncing = asyncio.create_task(metrics.keep_synced(), name="footfall-metrics")
        expiry = None
        if settings.expiry_interval_seconds > 0:
            loop = retention.expiry_loop(
                store,
                committer.exclusive,
                settings.anonymous_retention_days,
                settings.expiry_interval_seconds,
                rt.counters,
            )
            expiry = asyncio.create_task(loop, name="footfall-expiry")

        try:
            with settled_heap():
                yield
        finally:
            if metrics_server is not None:
                metrics_server.shutdown()
                metrics_server.server_close()
            for task in (refresher, syncing):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if expiry is not None:
                expiry.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await expiry
            await committer.stop()
            await store.close()
            enricher.close()
            rt.preparer.close()

    hot: dict[str, Endpoint] = {"/v1/batch": ingest.batch_endpoint}
    hot |= {f"/v1/{t}": ingest.single_endpoint(t) for t in MESSAGE_TYPES}
    routes: list[BaseRoute] = [Route(path, endpoint, methods=["POST"]) for path, endpoint in hot.items()]
    routes += [
        Route("/v1/import", ingest.batch_endpoint, methods=["POST"]),
        Route("/v1/import/stream", imports.stream_endpoint, methods=["POST"]),
        Route("/v1/{type:str}", cors.preflight, methods=["OPTIONS"]),
        Route("/", pages.home, methods=["GET"]),
        Route("/live", pages.to_live, methods=["GET"]),  # a relative redirect: the scheme stays the proxy's
        Mount("/live", app=live),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        Route("/footfall.js", tracker, methods=["GET"]),
        Route("/v1/export", export.export_endpoint, methods=["GET"]),
        Route("/v1/quarantine", export.quarantine_endpoint, methods=["GET"]),
        Route("/v1/links", people.links_endpoint, methods=["GET"]),
        Route("/v1/profiles", people.profiles_endpoint, methods=["GET"]),
        Route("/v1/profiles/{user_id:path}", people.profile_endpoint, methods=["GET"]),
        Route("/v1/users/{user_id:path}", erasure.erase_endpoint, methods=["DELETE"]),
    ]
    return CollectorApp(hot, routes=routes, lifespan=lifespan, exception_handlers={HTTPError: handle_http_error})


Endpoint = Callable[[Request], Awaitable[Response]]


class CollectorApp(Starlette):
    """Starlette, with the ingest endpoints (nearly every request) called straight from the top of the
    middleware stack: a POST to one of their paths skips the router's walk over every route and two
    layers of middleware (about a tenth of the event loop's time a single message). What those layers do
    for them is done here: an HTTPError becomes its answer, and anything else is uvicorn's 500."""

    def __init__(self, hot: dict[str, Endpoint], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hot = hot

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and (endpoint := self.hot.get(scope["path"])):
            scope["app"] = self
            request = IngestRequest(scope, receive, send)
            try:
                response = await endpoint(request)
            except HTTPError as exc:
                response = await handle_http_error(request, exc)
            await response(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


class IngestRequest(Request):
    """A request to an ingest endpoint, whose headers are looked up in a dict (`IndexedHeaders`)."""

    @property
    def headers(self) -> Headers:
        if not hasattr(self, "_headers"):
            self._headers = IndexedHeaders(self.scope)
        return self._headers


class IndexedHeaders(Headers):
    """Starlette's request headers, each name looked up in a dict made once: `Headers` walks the whole list
    for each lookup, and an ingest request makes about ten. A name's first value, as `Headers` gives it."""

    def __init__(self, scope: Scope) -> None:
        super().__init__(scope=scope)
        self._first = {key: value for key, value in reversed(self._list)}

    def __getitem__(self, key: str) -> str:
        return self._first[key.lower().encode("latin-1")].decode("latin-1")

    def __contains__(self, key: Any) -> bool:
        return isinstance(key, str) and key.lower().encode("latin-1") in self._first

    def get(self, key: str, default: Any = None) -> Any:
        value = self._first.get(key.lower().encode("latin-1"))
        return default if value is None else value.decode("latin-1")
