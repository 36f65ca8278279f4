"""Identify: the first-party anonymous ID of browser traffic, kept in a signed, HttpOnly cookie.

Rules, in order (DESIGN.md section 2):
1. a valid signed cookie decides the anonymousId (the response tells the tracker, which adopts it);
2. else the messages' own anonymousId is adopted and signed (if cookie-safe: see `usable`);
3. else the collector makes one.
A tampered or foreign cookie counts as absent. Two requests racing on a first visit both carry the
tracker's ID (rule 2), so they end with one ID. After `reset()` the tracker sends `"reset": true`, and
rule 1 is skipped once so that the new ID replaces the cookie's.

Server traffic (the secret key) keeps the IDs it sends and gets no cookie.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from itsdangerous import BadSignature, Signer

from collector.config import Settings
from collector.types import AnyMessage
from collector.validate import JUNK_IDS, MAX_ID_LENGTH

SALT = "footfall.anonymous-id"


@dataclass(frozen=True)
class CookieJar:
    signer: Signer
    name: str
    max_age: int
    domain: str
    samesite: str

    @classmethod
    def from_settings(cls, s: Settings) -> CookieJar:
        return cls(
            signer=Signer(s.cookie_secrets, salt=SALT),
            name=s.cookie_name,
            max_age=s.cookie_max_age_days * 86400,
            domain=s.cookie_domain,
            samesite=s.cookie_samesite,
        )

    def read(self, value: str | None) -> str | None:
        if not value:
            return None
        try:
            return self.signer.unsign(value).decode()
        except (BadSignature, UnicodeDecodeError):
            return None

    def header(self, anonymous_id: str, *, https: bool) -> str:
        value = self.signer.sign(anonymous_id).decode()
        parts = [f"{self.name}={value}", "Path=/", f"Max-Age={self.max_age}", "HttpOnly", f"SameSite={self.samesite}"]
        if self.domain:
            parts.append(f"Domain={self.domain}")
        if https or self.samesite == "none":
            parts.append("Secure")
        return "; ".join(parts)


# What a browser's own ID may be made of to be adopted and put in the cookie: UUIDs and the like.
# Anything else (spaces, `;`, line breaks, non-ASCII) would break or inject into the Set-Cookie header.
COOKIE_SAFE = re.compile(r"[A-Za-z0-9._~:@+=/-]+")


def usable(anonymous_id: object) -> bool:
    return (
        isinstance(anonymous_id, str)
        and 0 < len(anonymous_id) <= MAX_ID_LENGTH
        and COOKIE_SAFE.fullmatch(anonymous_id) is not None
        and anonymous_id.lower() not in JUNK_IDS
    )


def resolve_browser_id(cookie_id: str | None, messages: Sequence[AnyMessage], *, reset: bool) -> str:
    """The anonymousId in force for a browser request, by the three rules."""
    if cookie_id is not None and not reset:
        return cookie_id
    for msg in messages:
        if usable(msg.anonymous_id):
            return msg.anonymous_id  # type: ignore[return-value]
    return cookie_id if cookie_id is not None else str(uuid.uuid4())


def apply_browser_id(anonymous_id: str, messages: Sequence[AnyMessage]) -> None:
    for msg in messages:
        msg.anonymous_id = anonymous_id
