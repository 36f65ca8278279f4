"""Enrich: what the request knew that the message did not say (DESIGN.md section 3).

Per request (`Enricher.facts`, from plain facts: the peer address and the headers): the client IP
(trusted proxies only) and, for browsers, the User-Agent header. Per message: the corrected time
(`clock`), device/OS/browser and bot flag (`device`), location (`geo`), campaign and referrer (`campaign`).
Enriched fields go where the Segment spec puts them in `context`; what a client sent itself is kept where
both exist.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from collector.config import Settings
from collector.enrich import campaign, device
from collector.enrich.clock import correct_time, envelope_sent_at, iso, received_now, to_ms
from collector.enrich.geo import GeoLookup
from collector.enrich.network import IPAddress, client_ip, parse_ip, stored_ip
from collector.types import AnyMessage, Page, SourceKind

# Characters of a User-Agent that are parsed and kept: real ones are a few hundred; parsing megabytes of one
# would hold the event loop for seconds.
MAX_USER_AGENT = 512

__all__ = ["Enricher", "RequestFacts", "correct_time", "envelope_sent_at", "iso", "received_now", "to_ms"]


@dataclass(frozen=True, slots=True)
class RequestFacts:
    kind: SourceKind
    ip: IPAddress | None  # the client's, for browser traffic
    user_agent: str | None  # the request's header, for browser traffic


class Enricher:
    """Opened once in the lifespan (it holds the GeoIP reader); `close()` at shutdown."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.trusted = settings.trusted_networks
        self.geo = GeoLookup(settings.geoip_db if settings.enrich else None)

    def close(self) -> None:
        self.geo.close()

    def facts(self, kind: SourceKind, peer: str | None, headers: Mapping[str, str]) -> RequestFacts:
        """What a request tells of its sender: for browser traffic, the client IP (the socket `peer`, or
        forwarding headers from trusted proxies) and the User-Agent. `headers` keys are lower case."""
        if kind == "server":
            return RequestFacts(kind, None, None)
        ip = client_ip(peer, headers.get("x-forwarded-for"), headers.get("forwarded"), self.trusted)
        user_agent = headers.get("user-agent")
        return RequestFacts(kind, ip, user_agent[:MAX_USER_AGENT] if user_agent else user_agent)

    def enrich(self, msg: AnyMessage, facts: RequestFacts) -> bool:
        """Add what is known to `msg.context`. False: the message is a bot's and bots are dropped."""
        if not self.settings.enrich:
            return True
        context = msg.context
        if facts.kind == "browser":  # the public key: only the request says who sent it, never the message
            ua, ip = facts.user_agent, facts.ip
            context.pop("userAgent", None)
            context.pop("ip", None)
        else:  # a backend says for whom it sends: its own context.userAgent and context.ip, if any
            ua = context["userAgent"][:MAX_USER_AGENT] if isinstance(context.get("userAgent"), str) else None
            ip = parse_ip(context.get("ip")) if isinstance(context.get("ip"), str) else None

        is_bot = False
        if ua:
            context["userAgent"] = ua
            for key, value in device.parse_user_agent(ua).items():
                _put(context, key, value)
            is_bot = context.get("bot") is True

        location = self.geo.locate(ip) if ip is not None else None
        if location is not None:
            _put(context, "location", location)
        kept_ip = stored_ip(ip, self.settings.ip_policy)
        if kept_ip is None:
            context.pop("ip", None)
        else:
            context["ip"] = kept_ip

        self._campaign(msg, context)
        return not (is_bot and self.settings.bots == "drop")

    @staticmethod
    def _campaign(msg: AnyMessage, context: dict[str, Any]) -> None:
        page: dict[str, Any] = context["page"] if isinstance(context.get("page"), dict) else {}
        props: dict[str, Any] = msg.properties if isinstance(msg, Page) else {}
        url = page.get("url") or props.get("url")
        url = url if isinstance(url, str) else None
        found = campaign.campaign(url)
        if found is not None:
            context["campaign"] = campaign.merge(context.get("campaign"), found)
        ref = page.get("referrer") or props.get("referrer")
        if isinstance(ref, str) and ref:
            found_campaign = context.get("campaign")
            medium = found_campaign.get("medium") if isinstance(found_campaign, dict) else None
            medium = medium if isinstance(medium, str) else None
            found_ref = campaign.referrer(ref, url, medium)
            if found_ref is not None:
                context["referrer"] = campaign.merge(context.get("referrer"), found_ref)


def _put(context: dict[str, Any], key: str, value: Any) -> None:
    """Set a derived field; where the client sent its own, its keys win. Cached values are shared
    between messages (they are only read from here on), so they are copied only when merged."""
    existing = context.get(key)
    context[key] = value if existing is None else campaign.merge(existing, value) if isinstance(value, dict) else value
