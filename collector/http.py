"""The HTTP layer shared by every endpoint: responses, the one error type, admin auth, the running state.

An endpoint raises `HTTPError(status, message, headers)` for anything that ends the request early; the
app's one exception handler (`handle_http_error`) turns it into `{"success": false, "error": message}`
with that status and those headers, as Starlette's own `HTTPException` handler does for its type.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

if TYPE_CHECKING:
    from collector.runtime import Runtime

_encode = msgspec.json.encode
NDJSON = "application/x-ndjson"


class HTTPError(Exception):
    """Ends the request with `status` and a message that says what is wrong and where."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def json_response(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(_encode(content), status, headers, media_type="application/json")


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return json_response({"success": False, "error": message}, status, headers)


def ndjson_response(lines: Iterable[bytes], headers: dict[str, str]) -> Response:
    """One JSON document a line (each of `lines` is one, without its newline)."""
    return Response(b"".join(line + b"\n" for line in lines), headers=headers, media_type=NDJSON)


async def handle_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPError)
    return error_response(exc.status, exc.message, exc.headers)


def runtime(request: Request) -> Runtime:
    """What the running collector holds (opened in the app's lifespan)."""
    rt: Runtime = request.app.state.runtime
    return rt


def require_admin(request: Request, what: str = "this endpoint") -> Runtime:
    """The runtime, if the request carries the export token (`Authorization: Bearer`); else a 401."""
    rt = runtime(request)
    authorization = request.headers.get("authorization")
    if authorization and authorization[:7].lower() == "bearer ":
        given = authorization[7:].strip().encode()
        if hmac.compare_digest(given, rt.settings.export_token.encode()):
            return rt
    raise HTTPError(401, f"{what} needs the export token: `Authorization: Bearer <token>`")
