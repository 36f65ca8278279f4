"""The client's options, checked once at construction: a bad option raises there, never later."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from footfall.transport import Policy

OnError = Callable[[Exception, list[dict[str, Any]]], object]

DEFAULT_HOST = "http://127.0.0.1:8000"  # where `footfall serve` listens by default


@dataclass(frozen=True)
class Options:
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
    transport: Any = None  # an httpx transport (sync or async, to match the client), for tests and proxies

    def __post_init__(self) -> None:
        if not isinstance(self.write_key, str) or not self.write_key:
            raise ValueError("write_key is required: the collector's server write key (a non-empty string)")
        parts = urlsplit(self.host) if isinstance(self.host, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"host must be an http(s) URL such as {DEFAULT_HOST!r}, got {self.host!r}")
        object.__setattr__(self, "host", self.host.rstrip("/"))
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

    @property
    def policy(self) -> Policy:
        return Policy(self.max_retries, self.retry_delay, self.max_retry_delay, self.gzip, self.host)

    @property
    def url(self) -> str:
        return self.host + "/v1/batch"
