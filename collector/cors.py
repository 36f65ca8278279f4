"""CORS for browsers: the exact Origin with credentials, so the ID cookie travels with the request."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from collector.config import Settings

PREFLIGHT_MAX_AGE = "86400"


def origin_allowed(request: Request, settings: Settings) -> bool:
    origin = request.headers.get("origin")
    return origin is None or not settings.allowed_origins or origin in settings.allowed_origins


def cors_headers(request: Request) -> dict[str, str]:
    origin = request.headers.get("origin")
    if not origin:
        return {}
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Credentials": "true",
        "Access-Control-Expose-Headers": "Retry-After",  # so the tracker can honour it
        "Vary": "Origin",
    }


async def preflight(request: Request) -> Response:
    if not origin_allowed(request, request.app.state.runtime.settings):
        return Response(status_code=403)
    headers = cors_headers(request)
    headers.update(
        {
            "Access-Control-Allow-Methods": "POST, OPTIONS",
            "Access-Control-Allow-Headers": "Content-Type, Authorization, Content-Encoding",
            "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
        }
    )
    return Response(status_code=204, headers=headers)
