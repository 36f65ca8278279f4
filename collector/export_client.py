"""The client side of export, for `footfall export`: follow the cursor page by page."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO

import httpx
from tqdm import tqdm

from collector.config import Settings
from collector.paging import CURSOR_HEADER

FOLLOW_WAIT = "25"  # seconds a follow request waits on the collector for new messages


def run_export(
    settings: Settings,
    *,
    url: str | None,
    out: Path | None,
    cursor_file: Path | None,
    since: str | None,
    until: str | None,
    msg_type: str | None,
    event: str | None,
    user_id: str | None,
    source: str | None,
    page_size: int,
    follow: bool,
) -> int:
    base = (url or f"http://{settings.host}:{settings.port}").rstrip("/")
    params = {"since": since, "until": until, "type": msg_type, "event": event, "userId": user_id, "source": source}
    query = {k: v for k, v in params.items() if v is not None} | {"limit": str(page_size)}
    cursor = cursor_file.read_text().strip() if cursor_file and cursor_file.exists() else None
    headers = {"Authorization": f"Bearer {settings.export_token}"}
    sink: IO[bytes] = out.open("ab") if out else sys.stdout.buffer
    total = 0
    caught_up = False
    try:
        with (
            httpx.Client(base_url=base, headers=headers, timeout=60) as client,
            tqdm(unit=" msg", desc="exported", file=sys.stderr, disable=None) as bar,
        ):
            while True:
                page_query = (
                    query | ({"cursor": cursor} if cursor else {}) | ({"wait": FOLLOW_WAIT} if caught_up else {})
                )
                try:
                    response = client.get("/v1/export", params=page_query)
                except httpx.HTTPError as exc:
                    raise RuntimeError(f"cannot reach the collector at {base}: {exc}") from None
                if response.status_code != 200:
                    raise RuntimeError(f"export failed ({response.status_code}): {response.text.strip()}")
                count = int(response.headers.get("Footfall-Count", "0"))
                if count:
                    sink.write(response.content)
                    sink.flush()
                    cursor = response.headers[CURSOR_HEADER]
                    if cursor_file:
                        cursor_file.write_text(cursor + "\n")
                    total += count
                    bar.update(count)
                elif follow:
                    caught_up = True  # from now on each request waits for new messages on the collector
                else:
                    break
    except KeyboardInterrupt:
        pass
    finally:
        if out:
            sink.close()
        print(_summary(total, out, cursor_file), file=sys.stderr, flush=True)
    return total


def _summary(total: int, out: Path | None, cursor_file: Path | None) -> str:
    """The closing line: how many messages went where, and where to go on from."""
    where = f"to {out}" if out else "to stdout"
    line = f"exported {total:,} message{'s' if total != 1 else ''} {where}" if total else f"nothing new {where}"
    if cursor_file:
        line += f"; cursor saved in {cursor_file}" if total else f"; cursor in {cursor_file} unchanged"
    else:
        line += " (without --cursor-file, the next run starts from the beginning)"
    return line
