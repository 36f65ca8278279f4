"""Preparing imported lines (validate, identify, enrich) in a process of its own.

An import's lines cost the same work per message as live ones. Done on the collector's event loop, a large
import held the loop for tens of milliseconds a chunk, and live requests waited behind it (p99 from 23 ms
to 385 ms in `bench/imports.py`). Here one child process prepares the chunks and hands back the rows; the
event loop only reads lines and passes them on, and the writer commits them as it commits live requests.
The child also gives the import a core of its own, so it runs beside live traffic instead of taking turns.

The child runs the same code on the same settings. Its view of erased users is the one it started with:
that is only a shortcut, since the store refuses a suppressed user's rows at commit time anyway
(`WriteBatch.refused_users`), and the answer counts them as refused.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import multiprocessing
import signal
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from collector.config import Settings
from collector.enrich import Enricher
from collector.graph import Graph
from collector.ingest import ImportAnswer, Stages, prepare_import_chunk

log = logging.getLogger("footfall.import")

_stages: Stages | None = None  # in the child: what preparing needs (no store, no committer)
_suppressed: set[str] = set()
_import: tuple[int, int] | None = None  # (import, erasures seen) whose links the child's graph remembers


def _start(settings: Settings, suppressed: set[str]) -> None:
    global _stages, _suppressed
    # Ctrl-C in the collector's terminal (or a service manager's signal to the whole group) is for the
    # collector, which finishes what is in flight and then closes this process.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.getLogger("footfall").setLevel(logging.ERROR)  # the collector has said what it had to say
    _suppressed = suppressed
    _stages = Stages(Enricher(settings), Graph(suppressed), None, Counter())  # type: ignore[arg-type]


def _prepare(
    import_id: tuple[int, int], source: str, lines: list[tuple[int, bytes]], expire_before: int
) -> ImportAnswer:
    global _import, _stages
    assert _stages is not None, "the worker was not started"
    # A new import remembers no links of another (which may have failed); after an erasure in the
    # collector (the second number), none from before it (they may be deleted).
    if import_id != _import:
        _stages, _import = dataclasses.replace(_stages, graph=Graph(_suppressed)), import_id
    answer = prepare_import_chunk(_stages, source, lines, expire_before=expire_before)
    # A file's lines repeat the same anonymousId -> userId link; written once per import, not per line.
    # (If a chunk's commit fails, the import stops, and a new import starts with nothing remembered.)
    _stages.graph.remember(answer.batch.links)
    answer.graph = None  # type: ignore[assignment]  # the parent's takes its place
    return answer


class Preparer:
    """Prepares chunks of an import in a child process, started on first use and kept until `close`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pool: ProcessPoolExecutor | None = None
        self._imports = 0

    def new_import(self) -> int:
        """An ID for one import, given with each of its chunks."""
        self._imports += 1
        return self._imports

    def start(
        self, stages: Stages, import_id: int, source: str, lines: list[tuple[int, bytes]], expire_before: int
    ) -> Any:
        """Begin preparing `lines`; await what this returns for the ImportAnswer (see `finish`)."""
        try:
            return self._submit(stages, import_id, source, lines, expire_before)
        except BrokenProcessPool:  # the worker died (killed, out of memory): the next one takes over
            log.warning("the import worker process died; starting another")
            assert self._pool is not None
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
            return self._submit(stages, import_id, source, lines, expire_before)

    def _submit(
        self, stages: Stages, import_id: int, source: str, lines: list[tuple[int, bytes]], expire_before: int
    ) -> Any:
        if self._pool is None:
            # spawn: a fresh interpreter (the collector has threads, which a fork would copy mid-flight)
            self._pool = ProcessPoolExecutor(
                1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start,
                initargs=(self.settings, set(stages.graph.suppressed)),
            )
        key = (import_id, stages.graph.erasures)
        return asyncio.get_running_loop().run_in_executor(self._pool, _prepare, key, source, lines, expire_before)

    @staticmethod
    def finish(stages: Stages, answer: ImportAnswer) -> ImportAnswer:
        """A prepared answer back in this process: its graph is this process's."""
        answer.graph = stages.graph
        stages.counters["suppressed"] += answer.refused  # counted in the child, where nobody reads them
        return answer

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
