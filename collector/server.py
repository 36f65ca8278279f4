"""The HTTP server: uvicorn with its httptools protocol, bounded where uvicorn itself does not bound.

httptools keeps every header byte until the headers end, and uvicorn waits for them forever: a 200 MB
header was buffered whole, and a connection that sent half its headers stayed open until the process
ran out of file descriptors. `bounded_protocol` gives the protocol two limits: the request line and
headers may take at most `max_head` bytes (else `431 Request Header Fields Too Large`) and `timeout`
seconds from the connection's start, or from a kept-alive request's first byte (else `408`, closed).
Keep-alive idle time, concurrency and the rest stay uvicorn's own settings.

On shutdown uvicorn closes an idle kept-alive connection at once, so a request the client had just sent
on it was reset unread. Here an idle connection gets `SHUTDOWN_GRACE` seconds: a request that arrives in
that time is served (and the connection closed after it), and only then is the connection closed.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

SHUTDOWN_GRACE = 0.5  # seconds an idle connection is kept open at shutdown, for a request already on its way


def bounded_protocol(max_head: int, timeout: float) -> type[HttpToolsProtocol]:
    class BoundedHttpToolsProtocol(HttpToolsProtocol):
        _head_bytes = 0
        _in_head = True
        _head_timer: asyncio.TimerHandle | None = None
        _draining = False

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._start_head()

        def _start_head(self) -> None:
            self._in_head, self._head_bytes = True, 0
            if self._head_timer is not None:
                self._head_timer.cancel()
            self._head_timer = self.loop.call_later(timeout, self._head_too_slow)

        def _head_too_slow(self) -> None:
            if self._in_head and not self.transport.is_closing():
                self._refuse(408, b"Request Timeout", "the request's headers did not arrive in time")

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
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None
            # Headers that came in one read (or pipelined after another request) are counted here too.
            size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
            if size > max_head:
                self._refuse(431, b"Request Header Fields Too Large", f"headers over {max_head} bytes")
                return
            super().on_headers_complete()
            if self._draining and self.cycle is not None:
                self.cycle.keep_alive = False  # served, then closed: the server is shutting down

        def shutdown(self) -> None:
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
