"""What a person sees: the page at `/`, and the live view at `/live`.

`/` says what this collector is, whether its store takes writes, and gives the snippet to paste (this
collector's URL and its public browser key); no secret is on it. `/live` asks for the export token once
(a form; the session cookie keeps it, never the URL), then shows messages as they arrive, the rejected
ones with their reasons, counts per type, and a profile lookup. The page is plain HTML, CSS and JS
served from here (no build step, no CDN: the collector may run offline).

The stream (`/live/events`, server-sent events) follows the store from where it ends when the page
opens, as an export consumer would: it works across collectors on one PostgreSQL database and costs
ingestion nothing while nobody watches. A watcher takes at most one page of `PAGE` messages every
`MIN_INTERVAL` seconds; when more arrive it skips to the newest, with a note, so a busy collector or a
slow watcher costs a bounded amount, and a slow watcher only falls behind its own position.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import html
import json
import math
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.datastructures import State
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from collector.enrich.network import is_trusted, parse_ip
from collector.http import HTTPError, error_response, json_response, runtime
from collector.profiles import profile_for
from collector.ratelimit import TokenBuckets
from collector.receive import read_body
from collector.runtime import Runtime
from collector.store import ExportFilter

STATIC = Path(__file__).parent / "static"
PAGE = 200  # messages shown per look at the store; when more came, the view skips to the newest
MIN_INTERVAL = 0.25  # seconds between two looks at the store
HEARTBEAT_SECONDS = 15.0
MAX_STREAMS = 20  # open live streams a process serves at once; each looks at the store a few times a second


def _base_url(request: Request, rt: Runtime) -> str:
    """This collector's URL as the client sees it: behind a trusted proxy, with the proxy's scheme."""
    base = str(request.base_url).rstrip("/")
    proto = request.headers.get("x-forwarded-proto")
    peer = parse_ip(request.client.host) if request.client else None
    if proto in ("http", "https") and peer is not None and is_trusted(peer, rt.settings.trusted_networks):
        base = proto + base[base.index(":") :]
    return base


async def home(request: Request) -> Response:
    rt = runtime(request)
    base = _base_url(request, rt)
    key = rt.settings.write_key
    snippet = f'<script async src="{base}/footfall.js" data-write-key="{key}"></script>'
    if rt.sources.lookup(key) is None:  # revoked (footfall keys revoke default-browser): not to be pasted
        snippet = (
            "<!-- The collector's default browser key is revoked. Make a browser source\n"
            "     (footfall keys create NAME --kind browser) and put its key here. -->\n"
            f'<script async src="{base}/footfall.js" data-write-key="KEY"></script>'
        )
    ok = rt.committer.failure is None
    page = (STATIC / "home.html").read_text()
    for key, value in {
        "{{status}}": "ok: the store takes writes" if ok else f"failing: {rt.committer.failure}",
        "{{status_class}}": "ok" if ok else "bad",
        "{{snippet}}": snippet,
        "{{base}}": base,
        "{{commits}}": str(rt.committer.commits),
    }.items():
        page = page.replace(key, html.escape(value))
    return HTMLResponse(page, status_code=200 if ok else 503)


def _token_mark(token: str) -> str:
    """What the session keeps: a hash of the export token it was opened with, so that a new token (after
    a leak, say) ends every session opened with the old one."""
    return hashlib.sha256(b"footfall-live-session:" + token.encode()).hexdigest()


def _signed_in(request: Request) -> bool:
    mark = request.session.get("live")
    return isinstance(mark, str) and hmac.compare_digest(mark, _token_mark(runtime(request).settings.export_token))


async def to_live(request: Request) -> Response:
    return RedirectResponse("/live/", status_code=307)


async def live_page(request: Request) -> Response:
    if not _signed_in(request):
        return HTMLResponse((STATIC / "live_login.html").read_text().replace("{{error}}", ""))
    return HTMLResponse((STATIC / "live.html").read_text())


async def login(request: Request) -> Response:
    rt = runtime(request)
    client = request.client.host if request.client else ""
    wait = request.app.state.sign_ins.take(client)
    if wait:  # ten tries a minute from one address: guessing the token takes forever
        page = (STATIC / "live_login.html").read_text()
        page = page.replace("{{error}}", f"Too many tries from this address: try again in {math.ceil(wait)} s.")
        return HTMLResponse(page, status_code=429, headers={"Retry-After": str(math.ceil(wait))})
    try:
        body = await read_body(request, limit=4096)
    except HTTPError:
        body = b""
    given = parse_qs(body.decode("utf-8", "replace")).get("token", [""])[0]  # a urlencoded form, no more
    if given and hmac.compare_digest(given.encode(), rt.settings.export_token.encode()):
        request.session["live"] = _token_mark(rt.settings.export_token)
        return RedirectResponse("/live/", status_code=303)
    page = (STATIC / "live_login.html").read_text().replace("{{error}}", "That is not this collector's export token.")
    return HTMLResponse(page, status_code=401)


async def logout(request: Request) -> Response:
    request.session.clear()
    return RedirectResponse("/live/", status_code=303)


def _refused() -> Response:
    return error_response(401, "sign in at /live with the export token")


async def profile(request: Request) -> Response:
    if not _signed_in(request):
        return _refused()
    rt = runtime(request)
    user_id = request.path_params["user_id"]
    found = await profile_for(rt.store, user_id)
    if found is None:
        return error_response(404, f"no messages or traits for userId {user_id!r}")
    return json_response(found)


def _matches(message: dict[str, object], wanted: dict[str, str]) -> bool:
    for key, value in wanted.items():
        if key == "id":
            if value not in (message.get("userId"), message.get("anonymousId"), message.get("messageId")):
                return False
        elif str(message.get(key, "")) != value:
            return False
    return True


async def events(request: Request) -> Response:
    if not _signed_in(request):
        return _refused()
    rt = runtime(request)
    wanted = {k: v for k, v in request.query_params.items() if k in ("type", "event", "source", "id") and v}
    where = ExportFilter(type=wanted.get("type"), event=wanted.get("event"), source=wanted.get("source"))
    state = request.app.state
    if state.streams >= MAX_STREAMS:
        return error_response(
            503, f"{MAX_STREAMS} live views are open on this collector already; close one", {"Retry-After": "5"}
        )
    state.streams += 1  # given back when the response ends, however it ends (even before it began)
    return _CountedStream(
        state,
        _follow(request, rt, where, wanted),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _sse(kind: str, data: object) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


class _CountedStream(StreamingResponse):
    """A stream that gives its place back when it ends: normally, by a client disconnect, or cancelled."""

    def __init__(self, state: State, content: AsyncIterator[bytes], **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self._state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._state.streams -= 1


async def _follow(request: Request, rt: Runtime, where: ExportFilter, wanted: dict[str, str]) -> AsyncIterator[bytes]:
    messages_at, rejected_at = await rt.store.end_positions()
    yield _sse("hello", {"filters": wanted})
    beat = time.monotonic()
    while not rt.notifier.closing:  # a client that goes away ends this generator (Starlette cancels it)
        started = time.monotonic()
        sent = False
        rows = await rt.store.read_messages(messages_at, PAGE, where)
        if rows:
            messages_at = rows[-1].position
            for row in rows:
                if "id" in wanted and not _matches(json.loads(row.body), wanted):
                    continue
                yield b"event: message\ndata: " + row.body + b"\n\n"  # stored bodies are one-line JSON
                sent = True
            if len(rows) == PAGE:  # more came than a person can read: show the newest from here on
                messages_at, _ = await rt.store.end_positions()
                yield _sse("note", {"text": "messages arrive faster than this view shows them: skipped to the newest"})
        rejected = await rt.store.read_quarantine(rejected_at, PAGE)
        for bad in rejected:
            rejected_at = bad.position
            yield _sse("rejected", {"receivedAt": bad.received_at, "reason": bad.reason,
                                    "payload": bad.payload[:2000].decode("utf-8", "replace")})  # fmt: skip
            sent = True
        if sent:
            beat = time.monotonic()
        elif time.monotonic() - beat > HEARTBEAT_SECONDS:
            yield b": still here\n\n"
            beat = time.monotonic()
        # At most a few looks a second, whatever the traffic: a person reads no faster, and ingestion
        # keeps the event loop.
        await asyncio.sleep(max(0.0, MIN_INTERVAL - (time.monotonic() - started)))
        await rt.notifier.wait(HEARTBEAT_SECONDS)


def live_app(cookie_secret: str) -> Starlette:
    """The live view, under /live, with a session cookie of its own (ingest pays nothing for it)."""
    routes = [
        Route("/", live_page, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/events", events, methods=["GET"]),
        Route("/profile/{user_id:path}", profile, methods=["GET"]),
    ]
    session = Middleware(
        SessionMiddleware, secret_key=cookie_secret, session_cookie="ff_live", path="/live", max_age=8 * 3600
    )
    app = Starlette(routes=routes, middleware=[session])
    app.state.sign_ins = TokenBuckets(rate=1 / 6, burst=10)  # sign-in tries per client address
    app.state.streams = 0  # open /live/events streams
    return app
