"""Send one batch to `POST /v1/batch`, following the retry table.

| What happened                               | What the SDK does                                             |
|---------------------------------------------|---------------------------------------------------------------|
| 200, every message accepted (or duplicate)  | done                                                          |
| 200 with `rejected` messages                | done; the rejected ones go to `on_error` as `Rejected`        |
| network error (connect, timeout, reset)     | retry with backoff and jitter                                 |
| 5xx (503 with `Retry-After` included)       | retry; wait at least `Retry-After` (capped at max_retry_delay) |
| 429                                         | retry; wait `Retry-After` (capped), else backoff              |
| 408                                         | retry with backoff                                            |
| 413                                         | split the batch in two and send each half; one message: drop  |
| 401                                         | drop; `APIError`: the write key is not one of the collector's |
| any other 4xx (400, 403, 404, ...)          | drop the batch, report `APIError` to `on_error`               |
| retries used up, or shutdown while waiting  | drop; `GaveUp` names the host and what the last attempt met   |
| any answer with a `warning` field           | the client logs it at WARNING, once per client                |

Backoff: attempt n waits `retry_delay * 2**n`, at most `max_retry_delay`, times a random factor in
[0.5, 1]. A retried batch is harmless: the collector stores each `messageId` once, forever.
"""

from __future__ import annotations

import email.utils
import json
import random
import re
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from footfall.errors import APIError, DeliveryError, GaveUp, Rejected
from footfall.messages import now
from footfall.options import Options
from footfall.version import VERSION

RETRY_STATUSES = frozenset({408, 429})

Report = Callable[[DeliveryError, list[bytes]], None]
Warn = Callable[[str], None]


def body(messages: list[bytes]) -> bytes:
    """The batch envelope around already-encoded messages. `sentAt` is now, so each retry carries its own."""
    return b'{"batch":[' + b",".join(messages) + b'],"sentAt":"' + now().encode() + b'"}'


def headers(write_key: str, gzip: bool) -> dict[str, str]:
    out = {"Content-Type": "application/json", "User-Agent": f"footfall-python/{VERSION}"}
    if gzip:
        out["Content-Encoding"] = "gzip"
    return out


def compress(data: bytes) -> bytes:
    return zlib.compress(data, 6, wbits=31)  # wbits=31: a gzip stream


@dataclass
class Step:
    """What to do after one attempt: stop (done or dropped), retry after `delay`, or split the batch."""

    retry: bool = False
    delay: float | None = None  # the server's Retry-After, if it gave one
    split: bool = False
    error: DeliveryError | None = None
    rejected: list[int] | None = None  # indexes of the messages the collector refused
    warning: str | None = None  # the answer's `warning` field: something the collector wants the developer to know


def judge(response: httpx.Response, size: int, host: str) -> Step:
    """The retry table for an HTTP answer (network errors are retried by the callers)."""
    status = response.status_code
    answer = _json(response)
    warning = answer.get("warning")
    step = Step(warning=warning if isinstance(warning, str) and warning else None)
    if status == 200:
        rejections = answer.get("rejected") or []
        if rejections:
            step.error, step.rejected = Rejected(rejections), [int(r.get("index", -1)) for r in rejections]
    elif status >= 500 or status in RETRY_STATUSES:
        step.retry, step.delay = True, retry_after(response.headers.get("retry-after"))
        step.error = APIError(status, _reason(response, answer))
    elif status == 413 and size > 1:
        step.split = True
    elif status == 401:  # the SDK sends the key the right way: the collector's advice on how to send it is noise
        step.error = APIError(status, f"the write key is not one of this collector's keys ({host})")
    else:
        step.error = APIError(status, _reason(response, answer))
    return step


def last_attempt(response: httpx.Response | None, exc: Exception | None) -> str:
    """What went wrong with one attempt, in a few words: `connection refused`, `503 Service Unavailable (...)`."""
    if response is not None:
        answer = _json(response)
        said = answer.get("error") if isinstance(answer.get("error"), str) else None
        return f"{response.status_code} {response.reason_phrase}" + (f" ({said})" if said else "")
    return _network_error(exc)


def _network_error(exc: BaseException | None) -> str:
    seen: set[int] = set()
    todo = [exc]
    while todo:  # httpx wraps the OS error (and anyio one more time, in a group): look through the chain
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, ConnectionRefusedError):
            return "connection refused"
        todo += [e.__cause__, e.__context__, *getattr(e, "exceptions", ())]
    if isinstance(exc, httpx.ConnectTimeout):
        return "timed out connecting"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out waiting for an answer"
    text = re.sub(r"^\[Errno -?\d+\] ", "", str(exc)) if exc is not None else ""
    kind = "could not connect" if isinstance(exc, httpx.ConnectError) else type(exc).__name__
    return f"{kind}: {text}" if text else kind


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = float(email.utils.parsedate_to_datetime(value).timestamp())
        return max(0.0, when - time.time())
    except (TypeError, ValueError, IndexError):
        return None


def backoff(attempt: int, base: float, cap: float, server_delay: float | None) -> float:
    own = min(cap, base * 2.0**attempt) * random.uniform(0.5, 1.0)
    return own if server_delay is None else max(own, min(cap, server_delay))


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        parsed = response.json()
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _reason(response: httpx.Response, body: dict[str, Any]) -> str:
    rejected = body.get("rejected")
    if isinstance(rejected, list) and rejected:  # a 400 because every message was refused: say why
        return "; ".join(str(r.get("reason")) for r in rejected[:3] if isinstance(r, dict))
    return str(body.get("error") or response.text[:200] or response.reason_phrase)


class Delivery:
    """One batch's journey through the retry table; the sync and async senders drive it the same way."""

    def __init__(self, messages: list[bytes], opts: Options, report: Report, warn: Warn) -> None:
        self.pending = [messages]  # batches still to send; a 413 splits one into two
        self.opts = opts
        self.report = report
        self.warn = warn
        self.attempt = 0
        self.ok = True  # False once anything was reported

    def request(self) -> bytes:
        data = body(self.pending[0])
        return compress(data) if self.opts.gzip else data

    def after(self, response: httpx.Response | None, exc: Exception | None) -> float | None:
        """Record the outcome of sending `pending[0]`; returns how long to wait before the next send."""
        batch = self.pending[0]
        step = Step(retry=True) if response is None else judge(response, len(batch), self.opts.host)
        cause = exc if response is None else step.error
        if step.warning is not None:
            self.warn(step.warning)
        if step.split:
            half = len(batch) // 2
            self.pending[:1] = [batch[:half], batch[half:]]
            return 0.0
        if step.retry and self.attempt < self.opts.max_retries:
            delay = backoff(self.attempt, self.opts.retry_delay, self.opts.max_retry_delay, step.delay)
            self.attempt += 1
            return delay
        self.pending.pop(0)
        self.attempt = 0
        self.ok = self.ok and step.error is None and not step.retry
        if step.rejected is not None and step.error is not None:
            self.report(step.error, [batch[i] for i in step.rejected if 0 <= i < len(batch)])
        elif step.retry:
            tried = f"gave up after {self.opts.max_retries} retries sending to {self.opts.host}"
            self.report(GaveUp(f"{tried}: last attempt: {last_attempt(response, exc)}", cause), batch)
        elif step.error is not None:
            self.report(step.error, batch)
        return 0.0

    def abandon(self, why: str) -> None:
        self.ok = False
        for batch in self.pending:
            self.report(GaveUp(why), batch)
        self.pending = []


def decode_all(messages: list[bytes]) -> list[dict[str, Any]]:
    return [json.loads(m) for m in messages]
