"""Logging: the format (text, or JSON lines), and what the collector's logs must never hold.

Never in a log: write keys (a browser beacon sends its key in the query, so in the access log's request
line), tokens and secrets (never logged at all), message contents, and a client's whole IP address when
the collector does not keep whole ones (`--ip-policy`): the access log writes it as it would be stored.
"""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any
from urllib.parse import unquote_plus

from collector.config import IpPolicy
from collector.enrich.network import parse_ip, stored_ip

# The browser key is public, but the server key may be sent the same way by a careless backend; neither
# belongs in a log file. Nor do the IDs of people (in admin paths and queries) or cursors (which carry them).
_HIDDEN_PARAMS = {"writekey", "userid", "id", "cursor", "anonymousid", "token"}
_PERSON_PATHS = re.compile(r"^(/v1/profiles/|/v1/users/|/live/profile/)[^?#]+")


def redact_query(path: str) -> str:
    """`path` with people's IDs and the values of secret or personal query parameters replaced (the
    parameter names compared as decoded, so `write%4Bey` is caught too)."""
    base, _, query = path.partition("?")
    base = _PERSON_PATHS.sub(r"\1[redacted]", base)
    if not query:
        return base
    parts = []
    for part in re.split("[&;]", query):
        name, eq, _value = part.partition("=")
        hidden = unquote_plus(name).strip().lower() in _HIDDEN_PARAMS
        parts.append(f"{name}=[redacted]" if hidden and eq else part)
    return base + "?" + "&".join(parts)


def redact_client(client: str, policy: IpPolicy) -> str:
    """uvicorn's `host:port` of a client, as the collector would store the address (no port)."""
    host = client.rsplit(":", 1)[0] if client.count(":") == 1 or client.startswith("[") else client
    kept = stored_ip(parse_ip(host.strip("[]")), policy)
    return kept or "-"


class RedactAccessLog(logging.Filter):
    """For uvicorn's access logger, whose record args are (client, method, path, http_version, status)."""

    def __init__(self, ip_policy: IpPolicy) -> None:
        super().__init__()
        self.ip_policy = ip_policy

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            client = redact_client(args[0], self.ip_policy) if isinstance(args[0], str) else args[0]
            record.args = (client, args[1], redact_query(args[2]), *args[3:])
        return True


class JsonLines(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, and the traceback if any."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure(level: str, log_format: str, ip_policy: IpPolicy) -> dict[str, Any] | None:
    """Set up logging; the `log_config` for uvicorn (None: uvicorn leaves logging to us). Call before
    uvicorn.Config, whose loggers the access-log filter is then added to (`install_access_log_filter`)."""
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonLines())
    else:
        handler.setFormatter(logging.Formatter("%(levelname)-9s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    if log_format == "json":
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
            logging.getLogger(name).handlers[:] = []
            logging.getLogger(name).propagate = True
        return None
    from uvicorn.config import LOGGING_CONFIG

    return LOGGING_CONFIG


def install_access_log_filter(ip_policy: IpPolicy) -> None:
    logging.getLogger("uvicorn.access").addFilter(RedactAccessLog(ip_policy))
