"""Location from an IP with a MaxMind City or Country database, opened once at startup."""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path
from typing import Any

import maxminddb

from collector.enrich.network import IPAddress

log = logging.getLogger("footfall.geo")


class GeoLookup:
    def __init__(self, path: Path | None) -> None:
        self.reader: maxminddb.Reader | None = None
        if path is None:
            log.warning("no --geoip-db configured: messages get no context.location")
            return
        self.reader = maxminddb.open_database(str(path))  # C extension with mmap
        self.database_type = self.reader.metadata().database_type
        log.info("locations from %s (%s)", path, self.database_type)
        self._cached = lru_cache(maxsize=50_000)(self._locate)

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()
            self.reader = None

    def locate(self, address: IPAddress) -> dict[str, Any] | None:
        """`context.location` for an address, or None (no database, or an address it does not know)."""
        return self._cached(address) if self.reader is not None else None

    def _locate(self, address: IPAddress) -> dict[str, Any] | None:
        assert self.reader is not None
        found = self.reader.get(address)
        if not isinstance(found, dict):
            return None
        record: dict[str, Any] = found
        location: dict[str, Any] = {}
        country = record.get("country") or record.get("registered_country") or {}
        _put(location, "countryCode", country.get("iso_code"))
        _put(location, "country", _name(country))
        subdivisions = record.get("subdivisions") or [{}]
        _put(location, "regionCode", subdivisions[0].get("iso_code"))
        _put(location, "region", _name(subdivisions[0]))
        _put(location, "city", _name(record.get("city") or {}))
        place = record.get("location") or {}
        _put(location, "latitude", place.get("latitude"))
        _put(location, "longitude", place.get("longitude"))
        _put(location, "timeZone", place.get("time_zone"))
        return location or None


def _name(entry: dict[str, Any]) -> str | None:
    names = entry.get("names") or {}
    value = names.get("en")
    return value if isinstance(value, str) else None


def _put(target: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        target[key] = value
