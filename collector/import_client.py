"""The client side of import, for `footfall import` while a collector runs: the files go to that collector's
streamed import (`POST /v1/import/stream`, with the server key), so that its one writer stores them between
the commits of live traffic. Two processes writing one SQLite file would take turns at its write lock and
both checkpoint its WAL, and live requests would wait for the import.

`footfall serve` records where it serves a data directory in `serving.json` there (`announce_serving`); `footfall
import` on that data directory finds it (`running_collector`) and imports through it.

All the files go in one request, so that an identify in a later file still links the anonymous history of
an earlier one (see `imports.Importer.finish`). The collector numbers the lines of that one body; blank lines
are sent where a file has them (and where a CSV record spans several lines), so that its line numbers are
the files' own, one after the other, and each rejection is told back with its file and line.
"""

from __future__ import annotations

import bisect
import contextlib
import hashlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from collector.config import Settings
from collector.imports import (
    FILE_ERRORS,
    MAX_LISTED,
    READ_BYTES,
    CsvMapping,
    Summary,
    Unreadable,
    file_format,
    file_lines,
)

SERVING_FILE = "serving.json"


def announce_serving(settings: Settings) -> Callable[[], None]:
    """Write `serving.json` in the data directory: where this process serves its store (owner-only, like
    the rest of the directory). Returns what takes it away again (call it when the server stops; a file
    left by a killed process is told by its pid)."""
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "") else "::1" if settings.host == "::" else settings.host
    url = f"http://{f'[{host}]' if ':' in host else host}:{settings.port}"
    path = settings.data_dir / SERVING_FILE
    mine = {"url": url, "pid": os.getpid(), "store": _store(settings)}
    with contextlib.suppress(OSError):
        settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as fh:
            json.dump(mine, fh)
        tmp.replace(path)

    def withdraw() -> None:
        with contextlib.suppress(OSError, ValueError):
            if json.loads(path.read_text()) == mine:  # not another process's, started since
                path.unlink()

    return withdraw


def _store(settings: Settings) -> str:
    """The store of `settings`, the same however its path was spelled (a hash: a URL may hold a password)."""
    url = settings.db_url
    if url.startswith("sqlite:"):
        url = f"sqlite:///{Path(url.removeprefix('sqlite:///')).resolve()}"
    return hashlib.sha256(url.encode()).hexdigest()


def running_collector(settings: Settings) -> str | None:
    """The URL of a live `footfall serve` process on the store of `settings`, if there is one: its
    `serving.json` is this user's own and not writable by others, names this store, a live process, and
    an address on this machine (the import sends the server key there)."""
    path = settings.data_dir / SERVING_FILE
    try:
        st = path.stat()
        found = json.loads(path.read_text())
        pid, url, store = int(found["pid"]), str(found["url"]), str(found["store"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if st.st_uid != os.getuid() or st.st_mode & 0o022 or store != _store(settings):
        return None
    if urlsplit(url).hostname not in ("127.0.0.1", "::1", "localhost"):
        return None
    try:
        os.kill(pid, 0)  # signal 0: is it alive?
    except ProcessLookupError:
        return None  # left behind by a collector that did not stop cleanly
    except PermissionError:
        return None  # another user's process: not the collector that wrote this user's file
    return url


def run_import_via(
    base: str, server_key: str, files: list[Path], *, fmt: str | None, mapping: CsvMapping, source: str | None
) -> Summary:
    """The files through the collector at `base`, with a progress bar on a terminal; its summary, with each
    rejection's file and line."""
    from tqdm import tqdm

    offsets: list[int] = []  # where each file's lines start in the body's numbering
    local = Summary()  # what never left this process: lines that are no message (too long, a bad CSV row)
    total = sum(p.stat().st_size for p in files)

    def body(bar: Any) -> Iterator[bytes]:
        try:
            yield from lines(bar)
        except FILE_ERRORS as exc:  # a file that cannot be read on: the body
            # ends here, cleanly, so that the collector commits what came before and answers with its summary
            local.error = f"{files[len(offsets) - 1]}: {exc}; the lines before were imported"

    def lines(bar: Any) -> Iterator[bytes]:
        sent, done, out = 0, 0, bytearray()
        for path in files:
            start = sent
            offsets.append(start)
            with path.open("rb") as raw:
                for number, item in file_lines(raw, file_format(path, fmt), mapping):
                    out += b"\n" * (start + number - sent - 1)  # the blank lines in between
                    if isinstance(item, Unreadable):
                        local.read += 1
                        local.rejected += 1
                        if len(local.rejections) < MAX_LISTED:
                            local.rejections.append({"line": start + number, "messageId": None, "reason": item})
                    else:
                        out += item
                    out += b"\n"
                    sent = start + number
                    if len(out) >= READ_BYTES:
                        yield bytes(out)
                        out.clear()
                        bar.update(done + raw.tell() - bar.n)
            yield bytes(out)  # each file's last lines before the next file is opened
            out.clear()
            done += path.stat().st_size
        bar.update(total - bar.n)

    url = f"{base.rstrip('/')}/v1/import/stream"
    with tqdm(total=total, unit="B", unit_scale=True, desc="imported", file=sys.stderr, disable=None) as bar:
        try:
            r = httpx.post(
                url,
                content=body(bar),
                params={"source": source} if source else None,  # else `import`, or the key's own source
                auth=(server_key, ""),
                headers={"Content-Type": "application/x-ndjson"},
                timeout=httpx.Timeout(60, read=None),  # the summary comes once the last line is committed
            )
        except httpx.HTTPError as exc:
            raise ValueError(f"cannot import through the collector at {base}: {exc}") from None
    try:
        answer: dict[str, Any] = r.json()
    except ValueError:
        answer = {}
    if "read" not in answer:
        reason = answer.get("error") or r.text.strip()[:300]
        raise ValueError(f"the collector at {base} refused the import ({r.status_code}): {reason}")
    return _merged(answer, local, files, offsets)


def _merged(answer: dict[str, Any], local: Summary, files: list[Path], offsets: list[int]) -> Summary:
    """The collector's summary and this process's own rejections, with lines told back by file."""
    s = Summary(error=local.error or answer.get("error"))
    for name in ("read", "accepted", "duplicates", "rejected", "expired", "dropped", "refused"):
        setattr(s, name, int(answer.get(name, 0)) + getattr(local, name))
    rejections = sorted([*answer.get("rejections", []), *local.rejections], key=lambda r: int(r["line"]))
    for r in rejections[:MAX_LISTED]:
        at = bisect.bisect_right(offsets, int(r["line"]) - 1) - 1
        where = {"file": str(files[at])} if len(files) > 1 else {}
        s.rejections.append(where | r | {"line": int(r["line"]) - offsets[at]})
    return s
