"""Device, OS, browser and bot flag from a User-Agent (ua-parser with its Rust resolver)."""

from __future__ import annotations

import re
from typing import Any

import ua_parser

from collector.enrich.memo import memo

# HTTP client libraries and analytics SDKs (ours, Segment's): programs, not browsers. Matched from the start
# of the User-Agent, where these put their own name.
HTTP_LIBRARY_PATTERN = re.compile(
    r"(?i)^(?:curl/|wget|python-requests|python-urllib|python-httpx|aiohttp|httpie|go-http-client|java/|"
    r"java-http-client|okhttp|apache-httpclient|axios/|node-fetch|undici|node$|got |libwww|"
    r"footfall-|analytics-|segment|postmanruntime|insomnia)"
)
# ua-parser calls crawlers device family "Spider"; HTTP libraries, monitors and headless browsers it
# does not flag, so this rule set adds them. `(?<!cu)` spares the Cubot phone brand.
BOT_PATTERN = re.compile(
    r"(?i)(?<!cu)bot\b|crawl|spider|slurp|archiver|\bcurl/|wget|python-requests|python-urllib|python-httpx|"
    r"aiohttp|httpie|go-http-client|java/|okhttp|apache-httpclient|axios/|node-fetch|undici|libwww|"
    r"headlesschrome|phantomjs|puppeteer|playwright|selenium|lighthouse|pingdom|uptimerobot|scrapy|"
    r"postmanruntime|insomnia|facebookexternalhit|preview|monitor"
)


def is_http_library(ua: str | None) -> bool:
    """True for no User-Agent at all or an HTTP library's or analytics SDK's own: a program, not a browser."""
    return not ua or HTTP_LIBRARY_PATTERN.match(ua.strip()) is not None


TABLET_PATTERN = re.compile(r"(?i)ipad|tablet|kindle|silk/|playbook|nexus (7|9|10)\b|sm-[tx]\d")
MOBILE_PATTERN = re.compile(r"(?i)mobile|iphone|ipod|android|windows phone|blackberry|opera mini")


def _version(*parts: str | None) -> str | None:
    present = [p for p in parts if p]
    return ".".join(present) if present else None


@memo(20_000)
def parse_user_agent(ua: str) -> dict[str, Any]:
    """`context` fields for one User-Agent: os, device (type, brand, model), browser, and bot if one."""
    result = ua_parser.parse(ua).with_defaults()
    browser, os_, device = result.user_agent, result.os, result.device
    is_bot = device.family == "Spider" or BOT_PATTERN.search(ua) is not None or is_http_library(ua)
    if is_bot:
        kind = "bot"
    elif (
        TABLET_PATTERN.search(ua)
        or "Tablet" in (device.brand or "")
        or (os_.family == "Android" and "Mobile" not in ua)
    ):
        kind = "tablet"
    elif MOBILE_PATTERN.search(ua):
        kind = "mobile"
    else:
        kind = "desktop"
    fields: dict[str, Any] = {
        "os": {"name": os_.family, "version": _version(os_.major, os_.minor, os_.patch)},
        "device": {
            "type": kind,
            "brand": None if device.brand in (None, "Other", "Spider") or "Generic" in device.brand else device.brand,
            "model": None if device.model in (None, "Other") else device.model,
        },
        "browser": {"name": browser.family, "version": _version(browser.major, browser.minor, browser.patch)},
    }
    if is_bot:
        fields["bot"] = True
    return fields
