"""The client's options, declared once here and checked once at construction: a bad option raises there,
never later. Clients take them by keyword (`Client("sk_...", host=..., flush_at=50)`), so two values of
the same type cannot be swapped silently, and a misspelt option is a TypeError."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

OnError = Callable[[Exception, list[dict[str, Any]]], object]

DEFAULT_HOST = "http://127.0.0.1:8000"  # where `footfall serve` listens by default


@dataclass(frozen=True, kw_only=True)
class Options:
    """Every option of `Client` and `AsyncClient`, with its default.

    Args:
        write_key: the collector's server write key (sent as the HTTP Basic user name).
        host: the collector's base URL.
        on_error: `on_error(error, messages)`, called on the sender for messages that will not be stored
            (see `footfall.errors`). Exceptions it raises are logged and ignored.
        debug: make bad tracking calls raise `InvalidCall` instead of logging and returning False.
        send: False sends nothing (calls are validated and return True): for tests and local runs.
        sync_mode: send each message on the calling thread before returning (serverless, short scripts);
            `Client` only.
        max_queue_size: messages held in memory; when full, calls return False and count a drop.
        flush_at / flush_interval: a batch goes when it has this many messages, or this many seconds
            after its first message (or when it nears the collector's 500 KB batch limit).
        gzip: compress request bodies.
        timeout: seconds for one HTTP request.
        max_retries / retry_delay / max_retry_delay: the retry table's numbers (see `footfall.transport`).
        shutdown_timeout: the bound on `shutdown()`, on the flush at interpreter exit and on the last send
            when an event loop ends.
        flush_at_exit: flush at interpreter exit (bounded by `shutdown_timeout`); `Client` only.
        transport: an httpx transport to send through (tests, custom proxies, mTLS): an
            `httpx.BaseTransport` for `Client`, an `httpx.AsyncBaseTransport` for `AsyncClient`.
    """

    write_key: str
    host: str = DEFAULT_HOST
    on_error: OnError | None = None
    debug: bool = False
    send: bool = True
    sync_mode: bool = False
    max_queue_size: int = 10_000
    flush_at: int = 100
    flush_interval: float = 0.5
    gzip: bool = True
    timeout: float = 15.0
    max_retries: int = 10
    retry_delay: float = 0.5
    max_retry_delay: float = 30.0
    shutdown_timeout: float = 5.0
    flush_at_exit: bool = True
    transport: Any = None

    def __post_init__(self) -> None:
        if not isinstance(self.write_key, str) or not self.write_key:
            raise ValueError("write_key is required: the collector's server write key (a non-empty string)")
        host = DEFAULT_HOST if self.host is None else self.host
        parts = urlsplit(host) if isinstance(host, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"host must be an http(s) URL such as {DEFAULT_HOST!r}, got {host!r}")
        object.__setattr__(self, "host", host.rstrip("/"))
        if self.on_error is not None and not callable(self.on_error):
            raise TypeError(f"on_error must be callable, got {type(self.on_error).__name__}")
        for name in ("debug", "send", "sync_mode", "gzip", "flush_at_exit"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be True or False, got {getattr(self, name)!r}")
        for name, low in (("max_queue_size", 1), ("flush_at", 1), ("max_retries", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        for name in ("flush_interval", "timeout", "retry_delay", "max_retry_delay", "shutdown_timeout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise ValueError(f"{name} must be a number of seconds >= 0, got {value!r}")

    @classmethod
    def of(cls, write_key: str | None, host: str | None, options: dict[str, Any]) -> Options:
        """The options a client was given: Segment's `upload_size` / `upload_interval` are other names
        for `flush_at` / `flush_interval` (and win over them, as in Segment's client)."""
        for alias, name in (("upload_size", "flush_at"), ("upload_interval", "flush_interval")):
            value = options.pop(alias, None)
            if value is not None:
                options[name] = value
        return cls(write_key=write_key, host=host, **options)  # type: ignore[arg-type]  # checked in __post_init__

    @property
    def url(self) -> str:
        return self.host + "/v1/batch"
