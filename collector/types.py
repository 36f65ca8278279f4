"""Shared vocabulary of the pipeline: the Segment-spec messages and the rows the store keeps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import msgspec

MessageType = Literal["track", "page", "screen", "identify", "alias", "group"]
SourceKind = Literal["browser", "server"]
MESSAGE_TYPES: tuple[MessageType, ...] = ("track", "page", "screen", "identify", "alias", "group")


class Message(
    msgspec.Struct,
    tag_field="type",
    rename="camel",
    omit_defaults=True,
    forbid_unknown_fields=True,
    kw_only=True,
):
    """Fields every message type has, as the Segment spec names them."""

    message_id: str | None = None
    anonymous_id: str | None = None
    user_id: str | None = None
    timestamp: str | None = None
    original_timestamp: str | None = None
    sent_at: str | None = None
    received_at: str | None = None
    context: dict[str, Any] = {}
    integrations: dict[str, Any] = {}
    channel: str | None = None
    version: int | str | None = None
    metadata: dict[str, Any] | None = msgspec.field(default=None, name="_metadata")
    # Single-message endpoints may carry the write key in the body, as Segment's do.
    write_key: str | None = None


class Track(Message, tag="track"):
    event: str
    properties: dict[str, Any] = {}


class Page(Message, tag="page"):
    name: str | None = None
    category: str | None = None
    properties: dict[str, Any] = {}


class Screen(Message, tag="screen"):
    name: str | None = None
    category: str | None = None
    properties: dict[str, Any] = {}


class Identify(Message, tag="identify"):
    traits: dict[str, Any] = {}


class Group(Message, tag="group"):
    group_id: str
    traits: dict[str, Any] = {}


class Alias(Message, tag="alias"):
    previous_id: str


AnyMessage = Track | Page | Screen | Identify | Group | Alias


class StoredMessage(NamedTuple):
    message_id: str
    type: str
    event: str | None
    user_id: str | None
    anonymous_id: str | None
    timestamp: int  # event time (skew-corrected), ms since the epoch
    received_at: int  # ms since the epoch
    body: bytes  # the message as exported: JSON, Segment-spec shape
    source: str | None = None  # the name of the source whose write key sent it


class Source(NamedTuple):
    """A sender with a write key of its own: a website (browser) or a backend (server)."""

    name: str
    kind: SourceKind
    key_hash: str  # SHA-256 of the write key: the key itself is shown once, when made, and not kept
    key_prefix: str  # the key's first characters, to tell keys apart in a list
    allowed_origins: str = ""  # comma-separated browser origins; empty: those of the collector's settings
    created_at: int = 0  # ms since the epoch
    revoked_at: int | None = None


class QuarantineRow(NamedTuple):
    received_at: int
    reason: str
    payload: bytes
    message_id: str | None
    user_id: str | None = None  # as far as they could be read, so that erasure finds the row
    anonymous_id: str | None = None


class Link(NamedTuple):
    """`from_id` (an anonymousId, or an earlier userId) belongs to `user_id`."""

    from_id: str
    user_id: str
    kind: str  # identify, alias, or message (a message that carried both IDs)
    linked_at: int  # ms


class Trait(NamedTuple):
    user_id: str
    name: str
    value: bytes  # JSON
    set_at: int  # ms: the identify message's (corrected) timestamp


@dataclass(frozen=True, slots=True)
class Rejection:
    index: int
    message_id: str | None
    reason: str
