"""Footfall's Python SDK: send Segment-spec messages to a Footfall collector.

    import footfall
    client = footfall.Client("sk_...", host="http://127.0.0.1:8000")
    client.track("u42", "Signed Up", {"plan": "pro"})

Code written for Segment's analytics-python moves over by changing its import: the module-level
functions (`footfall.track(...)`) and settings (`footfall.write_key = ...`) work as Segment's do, as a
thin layer over one `Client`; `configure()` and `reset()` set it up and take it down explicitly.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

from footfall.aio import AsyncClient
from footfall.client import Client, Stats
from footfall.errors import APIError, DeliveryError, FootfallError, GaveUp, InvalidCall, Rejected
from footfall.options import OnError
from footfall.version import VERSION

__version__ = VERSION
__all__ = [
    "APIError",
    "AsyncClient",
    "Client",
    "DeliveryError",
    "FootfallError",
    "GaveUp",
    "InvalidCall",
    "Rejected",
    "Stats",
    "alias",
    "configure",
    "flush",
    "group",
    "identify",
    "page",
    "purchase",
    "reset",
    "screen",
    "shutdown",
    "track",
]

# Settings read when the default client is made on first use, as Segment's module has them.
write_key: str | None = None
host: str | None = None
on_error: OnError | None = None
debug: bool = False
send: bool = True
sync_mode: bool = False

_default: Client | None = None
_lock = threading.Lock()

P = ParamSpec("P")
R = TypeVar("R")


def configure(write_key: str | None = None, host: str | None = None, **options: Any) -> Client:
    """Make the client the module-level functions use (replacing, and shutting down, any earlier one)."""
    global _default
    client = Client(write_key, host, **options)
    with _lock:
        old, _default = _default, client
    if old is not None:
        old.shutdown()
    return client


def reset() -> None:
    """Shut down the module-level client; the next call makes a new one from the module settings."""
    global _default
    with _lock:
        old, _default = _default, None
    if old is not None:
        old.shutdown()


def default_client() -> Client:
    """The module-level client, made from the module settings on first use (raises if write_key is unset)."""
    global _default
    with _lock:
        if _default is None:
            _default = Client(write_key, host, on_error=on_error, debug=debug, send=send, sync_mode=sync_mode)
        return _default


def _proxy(method: Callable[Concatenate[Client, P], R]) -> Callable[P, R]:
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        return method(_default or default_client(), *args, **kwargs)

    call.__name__ = method.__name__
    call.__doc__ = method.__doc__
    signature = inspect.signature(method)
    call.__signature__ = signature.replace(parameters=list(signature.parameters.values())[1:])  # type: ignore[attr-defined]
    return call


track = _proxy(Client.track)
page = _proxy(Client.page)
screen = _proxy(Client.screen)
identify = _proxy(Client.identify)
group = _proxy(Client.group)
alias = _proxy(Client.alias)
purchase = _proxy(Client.purchase)
flush = _proxy(Client.flush)
shutdown = _proxy(Client.shutdown)
join = _proxy(Client.join)
