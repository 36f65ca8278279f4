"""Network fault injectors that sit in front of the real collector: real sockets, real HTTP."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

Fault = tuple[int, dict[str, str]] | tuple[int, dict[str, str], str]  # status, headers[, the error message]


class _Handler(BaseHTTPRequestHandler):
    def reply(self, status: int, headers: dict[str, str], content: bytes) -> None:
        """Answer with `content` as JSON."""
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    def log_message(self, *args: object) -> None:
        pass


class _LocalServer:
    """A real HTTP server on a free port of 127.0.0.1, in a thread while its `with` block runs."""

    def __init__(self, handler: type[_Handler]) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> _LocalServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class FaultProxy(_LocalServer):
    """An HTTP proxy that answers the first requests with canned failures, then forwards to `upstream`.

    `faults` is a list of (status, headers) or (status, headers, error message) answered in order, one per
    request; after that every request is forwarded as it came (body, auth, content encoding) and the
    collector's answer is relayed.
    """

    def __init__(
        self, upstream: str, faults: list[tuple[int, dict[str, str]] | tuple[int, dict[str, str], str]]
    ) -> None:
        self.upstream = upstream
        self.faults = list(faults)
        self.seen: list[int] = []  # the status answered to each request, in order
        self._lock = threading.Lock()
        proxy = self

        class Handler(_Handler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with proxy._lock:
                    fault = proxy.faults.pop(0) if proxy.faults else None
                if fault is not None:
                    said = fault[2] if len(fault) > 2 else "injected"
                    status, headers = fault[0], fault[1]
                    content = json.dumps({"success": False, "error": said}).encode()
                else:
                    keep = ("authorization", "content-type", "content-encoding")
                    forwarded = {k: v for k, v in self.headers.items() if k.lower() in keep}
                    r = httpx.post(proxy.upstream + self.path, content=body, headers=forwarded, timeout=30)
                    status, headers, content = r.status_code, {}, r.content
                with proxy._lock:
                    proxy.seen.append(status)
                self.reply(status, headers, content)

        super().__init__(Handler)

    def __enter__(self) -> FaultProxy:
        super().__enter__()
        return self


@contextmanager
def hanging_server() -> Iterator[str]:
    """A server that accepts connections and never answers: the worst a collector can do."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(10)
        for conn in held:
            conn.close()
        listener.close()


class AnsweringServer(_LocalServer):
    """A real HTTP server that answers every POST with one canned JSON body (200), and counts the requests."""

    def __init__(self, answer: dict[str, object]) -> None:
        content = json.dumps(answer).encode()
        self.requests = 0
        server = self

        class Handler(_Handler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                server.requests += 1
                self.reply(200, {}, content)

        super().__init__(Handler)

    def __enter__(self) -> AnsweringServer:
        super().__enter__()
        return self
