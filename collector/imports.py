"""Import: files of messages (NDJSON, or CSV with a mapping; gzip or not) through the ingest pipeline.

A file is read in bounded pieces and its lines go, a chunk at a time, through the same validate, identify,
enrich and store as live server traffic (`ingest.prepare_import_chunk`, then `store_import_chunk` while the
next chunk is prepared): memory stays the same for any file size.
Each line keeps its own time (historical import; `receivedAt` is the time of the import). A line without a
messageId gets one derived from its content, so importing a file again, or again after an interruption,
stores nothing twice. Anonymous messages older than the retention are not stored, unless their anonymousId
turns out linked to a user once the whole import is in (they are set aside in a temporary file until then).

`footfall import FILE...` (cli.py) runs an `Importer` on the store directly; `POST /v1/import/stream` runs
one in the collector, on an NDJSON body of any length, for server keys.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import math
import re
import sys
import tempfile
import tomllib
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from collector.config import Settings
from collector.enrich import Enricher, to_ms
from collector.graph import Graph
from collector.http import HTTPError, json_response, runtime
from collector.import_worker import Preparer
from collector.ingest import (
    REFUSED,
    ImportAnswer,
    Stages,
    counted,
    prepare_import_chunk,
    refuse_when_behind,
    refuse_when_limited,
    store_import_chunk,
)
from collector.receive import Gunzip, header_write_key
from collector.sources import DEFAULT_SERVER
from collector.store.base import WriteBatch
from collector.store.group_commit import GroupCommitter, StoreUnavailable
from collector.types import MESSAGE_TYPES, StoredMessage
from collector.validate import MAX_MESSAGE_BYTES

CHUNK_LINES = 500  # lines a chunk: one commit of the writer (committed after the live requests waiting)
READ_BYTES = 256 * 1024  # what is read (or decompressed) at a time
MAX_LISTED = 100  # rejections listed in a summary (the count is always whole)
MAX_SOURCE_NAME = 100  # characters of a source name given to the streamed import
IMPORT_SOURCE = "import"  # the source of imported messages, unless named otherwise
# What reading a file on can raise: a bad CSV header or row, a truncated gzip, an unreadable file.
FILE_ERRORS = (ValueError, csv.Error, OSError, EOFError)
_aged_codec = (msgspec.msgpack.Encoder(), msgspec.msgpack.Decoder(list[StoredMessage]))


class Unreadable(str):
    """A line that never became a message's JSON (too long, a CSV row that does not fit): why."""


Line = tuple[int, bytes | Unreadable]  # line number (1-based), and the message's JSON or why not


# --- reading lines --------------------------------------------------------------------------------------
class LineSplitter:
    """Bytes in, numbered lines out; a line longer than a message may be is cut off, never kept whole."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._number = 0
        self._too_long = False

    def feed(self, data: bytes) -> list[Line]:
        out: list[Line] = []
        start = 0
        while True:
            end = data.find(b"\n", start)
            if end < 0:
                self._keep(data[start:])
                return out
            self._keep(data[start:end])
            self._line(out)
            start = end + 1

    def end(self) -> list[Line]:
        out: list[Line] = []
        if self._buf or self._too_long:
            self._line(out)
        return out

    def _keep(self, piece: bytes) -> None:
        if not self._too_long:
            self._buf += piece
            if len(self._buf) > MAX_MESSAGE_BYTES + 2:
                self._too_long = True
                self._buf.clear()

    def _line(self, out: list[Line]) -> None:
        self._number += 1
        if self._too_long:
            out.append(
                (self._number, Unreadable(f"the line is longer than a message may be ({MAX_MESSAGE_BYTES} bytes)"))
            )
        else:
            line = bytes(self._buf).strip()
            if self._number == 1:
                line = line.removeprefix(b"\xef\xbb\xbf")  # a byte order mark
            if line:  # blank lines are not messages
                out.append((self._number, line))
        self._buf.clear()
        self._too_long = False


# --- CSV ------------------------------------------------------------------------------------------------
VALUE_TYPES = ("auto", "string", "number", "boolean", "json")
_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")


@dataclass
class CsvMapping:
    """Which column is what. Columns of IDs, event and time are taken as text; properties and traits as
    `NAME -> COLUMN[:TYPE]`; with neither given, every other column becomes a property (a trait, for
    identify and group)."""

    type: str = ""  # the messages' type; default: track with an event, else identify
    event: str | None = None  # track: the event name, the same for every row
    event_column: str | None = None  # ... or a column holding it
    user_id: str | None = None
    anonymous_id: str | None = None
    message_id: str | None = None
    timestamp: str | None = None
    timezone: str | None = None  # the zone of timestamps that name none (IANA name, e.g. Europe/Berlin)
    group_id: str | None = None
    properties: dict[str, str] = field(default_factory=dict)
    traits: dict[str, str] = field(default_factory=dict)

    @property
    def message_type(self) -> str:
        return self.type or ("track" if self.event or self.event_column else "identify")

    def check(self) -> None:
        if self.message_type not in MESSAGE_TYPES:
            raise ValueError(f"type must be one of {', '.join(MESSAGE_TYPES)}, got {self.type!r}")
        if self.message_type == "track" and not (self.event or self.event_column):
            raise ValueError("track messages need an event: give the event name, or the column that holds it")
        for what, spec in [*self.properties.items(), *self.traits.items()]:
            _column_and_type(what, spec)
        self.zone()

    def zone(self) -> ZoneInfo | None:
        if not self.timezone:
            return None
        try:
            return ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"timezone {self.timezone!r} is not a time zone's name (e.g. UTC, Europe/Berlin)"
            ) from None

    def when(self, text: str, zone: ZoneInfo | None) -> str:
        """A timestamp cell as the message's `timestamp`: as it is, or in `zone` if it names no zone.
        Raises ValueError for a time that names no zone when no `zone` is given."""
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return text  # validation says what is wrong with it
        if parsed.tzinfo is not None:
            return text
        if zone is None:
            raise ValueError(
                f"column {self.timestamp!r}: {text!r} names no time zone (give --timezone, e.g. Europe/Berlin, "
                "or add Z or an offset)"
            )
        return parsed.replace(tzinfo=zone).isoformat()


def load_mapping(path: Path) -> CsvMapping:
    """A mapping file (TOML): the keys of CsvMapping, with [properties] and [traits] tables."""
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{path}: {exc}") from None
    try:
        return msgspec.convert(data, CsvMapping)
    except msgspec.ValidationError as exc:
        raise ValueError(f"{path}: {exc}") from None


def parse_pairs(pairs: Iterable[str]) -> dict[str, str]:
    """`NAME` or `NAME=COLUMN[:TYPE]` flags: property (or trait) NAME from COLUMN (NAME if not given)."""
    out = {}
    for pair in pairs:
        name, _, column = pair.partition("=")
        out[name.strip()] = column.strip() or name.strip()
    return out


def _column_and_type(name: str, spec: str) -> tuple[str, str]:
    column, _, kind = spec.rpartition(":")
    if column and kind in VALUE_TYPES:
        return column, kind
    return spec, "auto"


def _value(text: str, kind: str) -> Any:
    """A CSV cell as JSON. auto: numbers as JSON writes them (so "007" and "+44..." stay text), true and
    false, else text; empty cells are left out (None)."""
    if text == "" and kind != "string":
        return None
    if kind == "string":
        return text
    if kind == "json":
        return json.loads(text)
    if kind == "boolean":
        if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(f"{text[:40]!r} is not a boolean")
        return text.lower() in ("true", "1", "yes")
    if _NUMBER.fullmatch(text):
        number = float(text) if any(c in text for c in ".eE") else int(text)
        if isinstance(number, float) and not math.isfinite(number):
            raise ValueError(f"{text[:40]!r} is not a finite number")
        return number
    if kind == "number":
        raise ValueError(f"{text[:40]!r} is not a number")
    return {"true": True, "false": False}.get(text, text)


def csv_lines(text: IO[str], mapping: CsvMapping) -> Iterator[Line]:
    """Each row of a CSV file (with a header row) as a message's JSON, numbered by the file's line."""
    reader = csv.reader(text)
    header = next(reader, None)
    if header is None:
        return
    header = [h.strip() for h in header]
    index = {name: i for i, name in enumerate(header)}
    used = {c for c in (mapping.event_column, mapping.user_id, mapping.anonymous_id, mapping.message_id,
                        mapping.timestamp, mapping.group_id) if c}  # fmt: skip
    mapped = [_column_and_type(n, spec)[0] for n, spec in [*mapping.properties.items(), *mapping.traits.items()]]
    missing = sorted((used | set(mapped)) - set(index))
    if missing:
        raise ValueError(f"the CSV header has no column {', '.join(map(repr, missing))} (it has {', '.join(header)})")
    kind = mapping.message_type
    zone = mapping.zone()
    rest = {name: name for name in header if name not in used}
    properties = mapping.properties or (rest if kind not in ("identify", "group") and not mapping.traits else {})
    traits = mapping.traits or (rest if kind in ("identify", "group") and not mapping.properties else {})
    for row in reader:
        number = reader.line_num
        if row == [] or row == [""]:
            continue
        if len(row) != len(header):
            yield number, Unreadable(f"the row has {len(row)} fields; the header has {len(header)}")
            continue
        try:
            msg: dict[str, Any] = {"type": kind}
            for key, column in (("userId", mapping.user_id), ("anonymousId", mapping.anonymous_id),
                                ("messageId", mapping.message_id), ("timestamp", mapping.timestamp),
                                ("groupId", mapping.group_id), ("event", mapping.event_column)):  # fmt: skip
                if column and row[index[column]].strip():
                    msg[key] = row[index[column]].strip()
            if "timestamp" in msg:
                msg["timestamp"] = mapping.when(msg["timestamp"], zone)
            if mapping.event and "event" not in msg:
                msg["event"] = mapping.event
            for key, fields in (("properties", properties), ("traits", traits)):
                values = {}
                for name, spec in fields.items():
                    column, value_kind = _column_and_type(name, spec)
                    try:
                        value = _value(row[index[column]], value_kind)
                    except ValueError as exc:
                        raise ValueError(f"column {column!r}: {exc}") from None
                    if value is not None:
                        values[name] = value
                if values:
                    msg[key] = values
        except ValueError as exc:
            yield number, Unreadable(str(exc))
            continue
        yield number, msgspec.json.encode(msg)


# --- the import -----------------------------------------------------------------------------------------
@dataclass
class Summary:
    """What became of an import's lines: read = accepted + rejected + expired + dropped + refused."""

    read: int = 0
    accepted: int = 0  # stored, duplicates included
    duplicates: int = 0  # stored before (by messageId)
    rejected: int = 0
    expired: int = 0  # anonymous, older than the retention, their ID not linked to a user: not stored
    dropped: int = 0  # bots, under --bots drop
    refused: int = 0  # their user was erased and is suppressed
    rejections: list[dict[str, Any]] = field(default_factory=list)  # the first MAX_LISTED
    error: str | None = None  # why the import stopped before the end, if it did

    def as_json(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "error" or v is not None}
        return out | {"success": self.error is None and not self.rejected, "stored": self.accepted - self.duplicates}

    def text(self) -> str:
        lines = [
            f"read {self.read:,} lines: {self.accepted - self.duplicates:,} stored, {self.duplicates:,} duplicates "
            f"(stored before), {self.rejected:,} rejected, {self.expired:,} expired (anonymous, older than the "
            f"retention), {self.dropped:,} bots dropped, {self.refused:,} refused (erased users)"
        ]
        for r in self.rejections:
            lines.append(f"  {r.get('file', 'line')}:{r['line']}: {r['reason']}" if "file" in r else
                         f"  line {r['line']}: {r['reason']}")  # fmt: skip
        if self.rejected > len(self.rejections):
            lines.append(f"  ... and {self.rejected - len(self.rejections):,} more rejected")
        if self.error:
            lines.append(f"stopped: {self.error}")
        return "\n".join(lines)


class Importer:
    """Feeds chunks of numbered lines through the pipeline, one commit each, and sums up what happened."""

    def __init__(
        self,
        stages: Stages,
        source: str,
        retention_days: int,
        *,
        on_chunk: Callable[[ImportAnswer], None] | None = None,
        preparer: Preparer | None = None,
    ) -> None:
        self.stages = stages
        self.source = source
        self.expire_before = to_ms(datetime.now(UTC) - timedelta(days=retention_days))
        self.summary = Summary()
        self.file: str | None = None  # named in the rejections, when several files are imported
        self.on_chunk = on_chunk
        self.preparer = preparer  # None: chunks are prepared in this process, on its event loop
        self._import_id = preparer.new_import() if preparer is not None else 0
        self._aged: IO[bytes] | None = None
        self._preparing: tuple[Awaitable[ImportAnswer], list[tuple[int, str]]] | None = None
        self._storing: asyncio.Task[ImportAnswer] | None = None

    async def feed(self, lines: list[Line]) -> None:
        """One chunk of lines: its preparation begins (in the worker process, if there is one) while the
        chunk before goes to the writer. At most three chunks are in hand: one read, one being prepared,
        one being committed."""
        self.summary.read += len(lines)
        good = [(number, item) for number, item in lines if not isinstance(item, Unreadable)]
        unreadable = [(number, str(item)) for number, item in lines if isinstance(item, Unreadable)]
        if self.preparer is None:
            prepared: asyncio.Future[ImportAnswer] = asyncio.get_running_loop().create_future()
            prepared.set_result(prepare_import_chunk(self.stages, self.source, good, expire_before=self.expire_before))
        else:
            prepared = self.preparer.start(self.stages, self._import_id, self.source, good, self.expire_before)
        await self._advance()
        self._preparing = (prepared, unreadable)

    async def _advance(self) -> None:
        """The chunk being prepared goes on to the writer, once the chunk before it is committed."""
        if self._preparing is None:
            return
        (prepared, unreadable), self._preparing = self._preparing, None
        answer = await prepared
        if self.preparer is not None:
            answer = self.preparer.finish(self.stages, answer)
        await self._stored()
        for number, reason in unreadable:
            self._reject(number, None, reason)
        self._storing = asyncio.create_task(store_import_chunk(self.stages, answer))

    async def _stored(self) -> None:
        if self._storing is not None:
            storing, self._storing = self._storing, None
            self._count(await storing)

    async def drain(self) -> None:
        """Everything fed so far prepared, committed and counted."""
        await self._advance()
        await self._stored()

    def _count(self, answer: ImportAnswer) -> None:
        s = self.summary
        s.accepted += answer.accepted
        s.duplicates += answer.duplicates
        s.dropped += answer.dropped
        s.refused += answer.refused
        for r in answer.rejected:
            if r.reason != REFUSED:  # counted as refused above
                self._reject(r.index, r.message_id, r.reason)
        if answer.aged:
            if self._aged is None:
                self._aged = tempfile.TemporaryFile()  # noqa: SIM115  (closed in finish)
            frame = _aged_codec[0].encode(answer.aged)
            self._aged.write(len(frame).to_bytes(4, "big") + frame)
        if self.on_chunk is not None:
            self.on_chunk(answer)

    def _reject(self, line: int, message_id: str | None, reason: str) -> None:
        self.summary.rejected += 1
        if len(self.summary.rejections) < MAX_LISTED:
            where = {"file": self.file} if self.file is not None else {}
            self.summary.rejections.append(where | {"line": line, "messageId": message_id, "reason": reason})

    async def finish(self) -> Summary:
        """The anonymous messages set aside: stored if their anonymousId is now linked to a user (an identify
        later in the file, or one stored before), else not (expired)."""
        if self._aged is None:
            return self.summary
        store = self.stages.committer.store
        aged, self._aged = self._aged, None
        with aged:
            aged.seek(0)
            while size := aged.read(4):
                rows = _aged_codec[1].decode(aged.read(int.from_bytes(size, "big")))
                owners: dict[str, bool] = {}
                for row in rows:
                    if row.anonymous_id is not None and row.anonymous_id not in owners:
                        owners[row.anonymous_id] = await store.linked_from(row.anonymous_id) is not None
                kept = [row for row in rows if row.anonymous_id is not None and owners[row.anonymous_id]]
                self.summary.expired += len(rows) - len(kept)
                if kept:
                    new = await self.stages.committer.submit(WriteBatch(kept))
                    self.summary.accepted += len(kept)
                    self.summary.duplicates += len(kept) - len(new)
        return self.summary


async def import_lines(
    importer: Importer, lines: Iterable[Line] | AsyncIterator[Line], *, finish: bool = True
) -> Summary:
    """Every line through `importer`, CHUNK_LINES at a time, then (`finish`) the anonymous messages set
    aside; a failing store ends it (summary.error)."""
    chunk: list[Line] = []
    try:
        if isinstance(lines, AsyncIterator):
            async for line in lines:
                chunk.append(line)
                if len(chunk) >= CHUNK_LINES:
                    await importer.feed(chunk)
                    chunk = []
        else:
            for line in lines:
                chunk.append(line)
                if len(chunk) >= CHUNK_LINES:
                    await importer.feed(chunk)
                    chunk = []
        if chunk:
            await importer.feed(chunk)
        await importer.drain()
        if finish:
            await importer.finish()
    except StoreUnavailable as exc:
        importer.summary.error = f"{exc}; what was committed before stays, and importing again adds only the rest"
    except BrokenProcessPool:
        importer.summary.error = (
            "the process preparing the import died; what was committed before stays, and importing again adds "
            "only the rest"
        )
    finally:  # chunks still on their way when something else went wrong: counted all the same
        with contextlib.suppress(Exception):
            await importer.drain()
    return importer.summary


# --- files ----------------------------------------------------------------------------------------------
def file_format(path: Path, given: str | None) -> str:
    if given:
        return given
    name = path.name.lower().removesuffix(".gz")
    return "csv" if name.endswith(".csv") else "ndjson"


def file_lines(raw: IO[bytes], fmt: str, mapping: CsvMapping | None) -> Iterator[Line]:
    """The numbered lines of one file (gzip found by its magic bytes), read a piece at a time."""
    head = raw.read(2)
    raw.seek(0)
    source: IO[bytes] = raw
    if head == b"\x1f\x8b":
        import gzip

        source = gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[assignment]
    if fmt == "csv":
        assert mapping is not None
        text = io.TextIOWrapper(source, encoding="utf-8-sig", newline="")
        try:
            yield from csv_lines(text, mapping)
        finally:
            text.detach()  # the file stays open: its caller closes it
        return
    splitter = LineSplitter()
    while data := source.read(READ_BYTES):
        yield from splitter.feed(data)
    yield from splitter.end()


def run_import(
    settings: Settings, files: Iterable[Path], *, fmt: str | None, mapping: CsvMapping, source: str
) -> Summary:
    """`footfall import`: the files into the store of `settings`, with a progress bar on a terminal."""
    from tqdm import tqdm

    from collector.store import create_store

    paths = list(files)

    async def run() -> Summary:
        store = create_store(settings)
        await store.open()
        committer = GroupCommitter(store)
        committer.start()
        enricher = Enricher(settings)
        preparer = Preparer(settings)
        try:
            stages = Stages(enricher, Graph(await store.read_suppressed()), committer, Counter())
            total = sum(p.stat().st_size for p in paths)
            with tqdm(total=total, unit="B", unit_scale=True, desc="imported", file=sys.stderr, disable=None) as bar:
                at: list[Any] = [0, None]  # bytes of the files done, the file being read

                def progress(answer: ImportAnswer) -> None:
                    bar.update(at[0] + at[1].tell() - bar.n)

                importer = Importer(
                    stages, source, settings.anonymous_retention_days, on_chunk=progress, preparer=preparer
                )
                for path in paths:
                    importer.file = str(path) if len(paths) > 1 else None
                    try:
                        with path.open("rb") as raw:
                            at[1] = raw
                            lines = file_lines(raw, file_format(path, fmt), mapping)
                            await import_lines(importer, lines, finish=False)
                    except FILE_ERRORS as exc:
                        importer.summary.error = f"{path}: {exc}; the lines before were imported"
                    at[0] += path.stat().st_size
                    if importer.summary.error:
                        return importer.summary
                await import_lines(importer, [])  # the anonymous messages set aside, once all links are in
                bar.update(total - bar.n)
            return importer.summary
        finally:
            await committer.stop()
            await store.close()
            enricher.close()
            preparer.close()

    return asyncio.run(run())


# --- over HTTP ------------------------------------------------------------------------------------------
async def stream_endpoint(request: Request) -> Response:
    """`POST /v1/import/stream`: an NDJSON body of any length (gzip or not), with a server key, imported as
    `footfall import` does; answered with the summary once everything is committed."""
    return await counted(runtime(request), "import_stream", _stream(request))


async def _stream(request: Request) -> Response:
    rt = runtime(request)
    refuse_when_behind(rt, {})
    key = header_write_key(request)
    source = rt.sources.lookup(key)
    if source is None:
        what = "unknown write key" if key else "missing write key"
        raise HTTPError(401, f"{what}: send the server key as the Basic auth user name, or as `writeKey` in the query")
    if source.kind != "server":
        raise HTTPError(403, "the streamed import takes a server write key (the browser key is public)")
    assert key is not None
    # The messages' source: a named source's key stores them as that source. With the collector's own
    # server key they are `import`, as `footfall import` stores them, or the name `?source=` gives.
    name = source.name if source.name != DEFAULT_SERVER else IMPORT_SOURCE
    label = request.query_params.get("source")
    if label is not None and label != source.name:
        if source.name != DEFAULT_SERVER:
            raise HTTPError(400, f"`source` is for the collector's own server key: this key's source is {name!r}")
        if not label.strip() or len(label) > MAX_SOURCE_NAME:
            raise HTTPError(400, f"`source` must be a name of 1 to {MAX_SOURCE_NAME} characters")
        name = label
    refuse_when_limited(rt, rt.limits.check("server", key, None), {})
    encoding = request.headers.get("content-encoding", "identity").lower()
    if encoding not in ("gzip", "identity", ""):
        raise HTTPError(415, f"Content-Encoding {encoding!r} is not supported (use gzip or none)")
    gunzip = Gunzip() if encoding == "gzip" else None

    def counted(answer: ImportAnswer) -> None:
        rt.metrics.outcomes("import_stream", source.name, answer.outcomes, answer.rejection_reasons)

    importer = Importer(rt.stages, name, rt.settings.anonymous_retention_days, on_chunk=counted, preparer=rt.preparer)
    problem: list[str] = []

    stopping: list[str] = []

    async def lines() -> AsyncIterator[Line]:
        splitter = LineSplitter()
        try:
            async for data in request.stream():
                if rt.notifier.closing:  # the collector is stopping: it does not wait for the rest of a file
                    stopping.append("the collector is stopping; run the import again to add the rest")
                    return
                for piece in gunzip.feed(data) if gunzip is not None else (data,):
                    for line in splitter.feed(piece):
                        yield line
            if gunzip is not None:
                gunzip.end()
        except ValueError as exc:
            problem.append(f"the body is {exc}; the lines before were imported")
        except ClientDisconnect:
            problem.append("the client disconnected; the lines before were imported")
        for line in splitter.end():
            yield line

    summary = await import_lines(importer, lines())
    if (problem or stopping) and summary.error is None:
        summary.error = (problem or stopping)[0]
    status = 503 if summary.error and not problem else 400 if problem else 200
    return json_response(summary.as_json(), status, {"Retry-After": "5"} if status == 503 else None)
