"""Logging: what the collector's logs must never hold."""

from __future__ import annotations

import logging
import re

# A browser beacon cannot set headers, so its write key rides in the query (`?writeKey=`), and so in the
# request line that the access log writes. The browser key is public, but the server key may be sent
# the same way by a careless backend; neither belongs in a log file.
_QUERY_SECRET = re.compile(r"(?i)((?:^|[?&])writeKey=)[^&#\s]*")


def redact_query(path: str) -> str:
    """`path` with the value of every `writeKey` query parameter replaced."""
    return _QUERY_SECRET.sub(r"\1[redacted]", path)


class RedactAccessLog(logging.Filter):
    """For uvicorn's access logger, whose record args are (client, method, path, http_version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_query(args[2]), *args[3:])
        return True


def install_access_log_filter() -> None:
    logging.getLogger("uvicorn.access").addFilter(RedactAccessLog())
