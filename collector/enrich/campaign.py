"""Campaign (utm_* and ad click IDs) from the page URL, and where the visitor came from (referrer)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

from collector.enrich.memo import memo

UTM = {"utm_source": "source", "utm_medium": "medium", "utm_campaign": "name", "utm_term": "term",
       "utm_content": "content", "utm_id": "id"}  # fmt: skip
CLICK_IDS = frozenset({"gclid", "gbraid", "wbraid", "dclid", "fbclid", "msclkid", "ttclid", "twclid", "li_fat_id",
                       "yclid", "epik", "rdt_cid", "sccid", "irclid"})  # fmt: skip

SEARCH = ("google.", "bing.com", "duckduckgo.com", "yahoo.", "baidu.com", "yandex.", "ecosia.org", "search.brave.com",
          "startpage.com", "qwant.com", "naver.com", "seznam.cz", "kagi.com")  # fmt: skip
SOCIAL = (
    "facebook.com",
    "fb.com",
    "instagram.com",
    "twitter.com",
    "t.co",
    "x.com",
    "linkedin.com",
    "lnkd.in",
    "reddit.com",
    "pinterest.",
    "youtube.com",
    "tiktok.com",
    "threads.net",
    "bsky.app",
    "mastodon.",
    "news.ycombinator.com",
    "vk.com",
    "weibo.com",
    "whatsapp.com",
    "telegram.org",
    "t.me",
    "snapchat.com",
)
EMAIL = ("mail.google.com", "outlook.live.com", "outlook.office.com", "mail.yahoo.com", "mail.proton.me",
         "webmail.", "mail.")  # fmt: skip


@memo(10_000)
def campaign(url: str | None) -> dict[str, str] | None:
    """`context.campaign` from a page URL's query, or None when it has none of the parameters.

    Cached (pages repeat): the answer is shared, so callers must not change it.
    """
    if not url or "?" not in url:
        return None
    try:
        query = urlsplit(url).query
    except ValueError:  # not a URL (an unclosed IPv6 bracket, say): no campaign
        return None
    found: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=False):
        lowered = key.lower()
        if lowered in UTM:
            found.setdefault(UTM[lowered], value[:200])
        elif lowered in CLICK_IDS:
            found.setdefault(lowered, value[:200])
    return found or None


@memo(10_000)
def referrer(referrer_url: str | None, page_url: str | None, medium_hint: str | None) -> dict[str, str] | None:
    """`context.referrer`: url, host and a coarse medium (search, social, email, internal, other)."""
    if not referrer_url:
        return None
    host = _host(referrer_url)
    if not host:
        return None
    page_host = _host(page_url) if page_url else None
    if page_host and (host == page_host or host.endswith("." + page_host) or page_host.endswith("." + host)):
        medium = "internal"
    elif medium_hint and medium_hint.lower() in ("email", "e-mail", "newsletter"):
        medium = "email"
    else:
        medium = _medium(host)
    return {"url": referrer_url[:2000], "host": host, "medium": medium}


@memo(10_000)
def _host(url: str) -> str | None:
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    return host.removeprefix("www.") if host else None


@memo(10_000)
def _medium(host: str) -> str:
    def matches(patterns: tuple[str, ...]) -> bool:
        return any(host == p or host.endswith("." + p) or (p.endswith(".") and (host.startswith(p) or f".{p}" in host))
                   for p in patterns)  # fmt: skip

    if matches(EMAIL):
        return "email"
    if matches(SEARCH):
        return "search"
    if matches(SOCIAL):
        return "social"
    return "other"


def merge(existing: Any, derived: dict[str, Any]) -> dict[str, Any]:
    """Derived fields fill in; what the client sent itself wins."""
    return {**derived, **existing} if isinstance(existing, dict) else derived
