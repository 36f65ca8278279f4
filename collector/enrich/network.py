"""Which IP a request came from, and how much of it is kept."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence

from collector.config import IpPolicy
from collector.enrich.memo import memo

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_V6_MASK = (2**128 - 1) ^ (2 ** (128 - 48) - 1)  # keep /48
_FORWARDED_FOR = re.compile(r'(?i)for="?\[?([^\]";,]+)')


@memo(50_000)
def parse_ip(text: str | None) -> IPAddress | None:
    """An address, with IPv4-mapped IPv6 (::ffff:1.2.3.4, as dual-stack sockets give) made plain IPv4."""
    if not text:
        return None
    text = text.strip()
    if text.count(":") == 1:  # an IPv4 address with a port, as Forwarded may carry
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def client_ip(
    peer: str | None, forwarded_for: str | None, forwarded: str | None, trusted: Sequence[Network]
) -> IPAddress | None:
    """The socket peer, unless it is a trusted proxy: then the nearest untrusted hop it reports.

    X-Forwarded-For (or else RFC 7239 Forwarded) lists hops left to right; walking from the right and
    skipping trusted proxies finds the first address no trusted party vouches for beyond.
    """
    address = parse_ip(peer)
    if address is None or not is_trusted(address, trusted):
        return address
    hops = forwarded_for.split(",") if forwarded_for else _FORWARDED_FOR.findall(forwarded or "")
    for hop in reversed(hops):
        hop_address = parse_ip(hop)
        if hop_address is None:
            return address  # garbage in the chain: believe no further than the last good hop
        address = hop_address
        if not is_trusted(address, trusted):
            return address
    return address


def is_trusted(address: IPAddress, trusted: Sequence[Network]) -> bool:
    return any(address.version == net.version and address in net for net in trusted)


def stored_ip(address: IPAddress | None, policy: IpPolicy) -> str | None:
    """What `context.ip` keeps: the address truncated (IPv4 /24, IPv6 /48), whole, or nothing."""
    if address is None or policy == "drop":
        return None
    if policy == "keep":
        return str(address)
    if address.version == 4:
        n = int(address)
        return f"{n >> 24}.{(n >> 16) & 255}.{(n >> 8) & 255}.0"
    return str(ipaddress.IPv6Address(int(address) & _V6_MASK))
