"""The HTTP server's own bounds (collector/server.py), on the real `footfall serve`: header size and time."""

from __future__ import annotations

import socket
import time
from typing import Any

import httpx

from tests.conftest import Collector


def _connect(c: Collector) -> socket.socket:
    return socket.create_connection(("127.0.0.1", c.port), timeout=30)


def _read_all(sock: socket.socket) -> bytes:
    """What the server sent until it closed; b"RESET" if it reset the connection before anything came
    (a server that closes while the client's bytes are still unread resets it)."""
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except ConnectionResetError:
        return b"".join(chunks) or b"RESET"
    return b"".join(chunks)


def test_huge_headers_are_a_431_and_the_connection_closes(collector: Collector) -> None:
    """A 200 MB header was once buffered whole; now the server stops reading past the limit."""
    with _connect(collector) as sock:
        sock.sendall(b"POST /v1/batch HTTP/1.1\r\nHost: x\r\nX-Big: ")
        sent = 0
        try:
            while sent < 50_000_000:  # the server answers and closes long before this
                sock.sendall(b"a" * 65536)
                sent += 65536
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = _read_all(sock)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert sent < 5_000_000
    assert collector.send([{"type": "track", "event": "still fine", "userId": "u"}]).status_code == 200


def test_headers_just_under_the_limit_and_a_large_body_are_fine(collector: Collector) -> None:
    big = {"type": "track", "event": "E", "userId": "u", "properties": {"pad": "x" * 30_000}}
    r = collector.send([big] * 15, headers={"X-Pad": "p" * 15_000})  # ~450 KB body in few reads
    assert r.status_code == 200 and r.json()["accepted"] == 15


def test_a_request_whose_headers_never_end_is_closed(collector_factory: Any) -> None:
    c = collector_factory("--header-timeout-seconds", "1")
    with _connect(c) as sock:  # its 30 s timeout is the deadline: a server that never closes fails the test
        sock.sendall(b"POST /v1/batch HTTP/1.1\r\nHost: x\r\nX-Half: ")  # and nothing more
        answer = _read_all(sock)  # returns when the server closes
    assert answer.startswith(b"HTTP/1.1 408 ")
    with _connect(c) as idle:  # a connection that says nothing at all
        assert _read_all(idle).startswith(b"HTTP/1.1 408 ")
    assert httpx.get(c.url + "/healthz").status_code == 200


def test_a_kept_alive_connection_gets_the_same_bounds_for_each_request(collector_factory: Any) -> None:
    c = collector_factory("--header-timeout-seconds", "1")
    with httpx.Client(base_url=c.url) as client:  # one connection, kept alive
        for _ in range(3):
            assert client.get("/healthz").status_code == 200


def test_the_next_request_on_a_connection_gets_the_whole_header_time(collector_factory: Any) -> None:
    """A connection has one header timer, not one per request: the next request's headers still get the
    whole time from when they began, not what was left of it from the request before."""
    c = collector_factory("--header-timeout-seconds", "1")
    with _connect(c) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        first = b""
        while b"\r\n\r\n" not in first:
            first += sock.recv(65536)
        head, body = first.split(b"\r\n\r\n", 1)
        length = int(next(line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))[15:])
        while len(body) < length:
            body += sock.recv(65536)
        assert head.startswith(b"HTTP/1.1 200 ")
        time.sleep(0.6)  # most of the first request's header time
        began = time.monotonic()
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Half: ")  # and nothing more
        answer = _read_all(sock)
        waited = time.monotonic() - began
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert waited >= 0.95, f"refused {waited:.2f} s after its headers began; the limit is 1 s"


def test_an_aborted_upload_is_not_logged_as_an_error(collector: Collector) -> None:
    with _connect(collector) as sock:
        sock.sendall(b"POST /v1/batch HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + b'{"batch":[')
    collector.send([{"type": "track", "event": "sentinel", "userId": "u"}])  # logged after the abort, if at all
    log = collector.log()
    assert "Traceback" not in log and "ERROR" not in log, log[-2000:]


def test_huge_headers_in_one_write_or_pipelined_are_a_431_too(collector: Collector) -> None:
    """Found in review: the limit was counted per read, so headers that arrived in one read passed."""
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 120_000 + b"\r\n\r\n"
    with _connect(collector) as sock:
        sock.sendall(request)
        answer = _read_all(sock)
    assert answer.startswith(b"HTTP/1.1 431 ") or answer == b"RESET", answer[:100]
    with _connect(collector) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" + request)  # the second, pipelined
        answer = _read_all(sock)
    assert b"HTTP/1.1 431 " in answer or answer == b"RESET", answer[:100]  # refused as a whole, and closed
