"""The SQLite store's writer process: group commits, written beside the collector's event loop, not under
its GIL.

On a thread of the collector's own process, the writer took the GIL back after each step of SQLite
(BEGIN, the INSERTs, COMMIT) while the event loop held it: every commit was a few hand-overs of the GIL,
each a pair of futex calls and a forced switch of the event loop. Measured with single messages under
`bench/ingest.py`'s load, that cost the event loop's thread about 45 us of each request's 170 (a third of
it in the kernel), and it served about 5,400 requests a second; with the commits in a process of their
own, 7,300.

The protocol, on a socket pair: frames of 8 bytes of length, then the content. The collector sends
MessagePack (msgspec's: a commit's batch in a tenth of pickle's time), the writer answers in pickles
(they carry exceptions).
- The collector's first frame is `[path, pragmas]`; the writer opens its connection and answers
  `(True, None, None)`, or `(False, exception, None)` if it could not.
- Then a frame is a `WriteBatch`, answered `(True, inserted messageIds, refused users)` once committed, or
  `(False, exception, None)` (rolled back). One batch at a time.
- An empty frame asks the writer to stop. It also stops when the collector's end of the socket closes:
  when the collector stopped, or was killed. A commit in progress then finishes first.

The writer ignores SIGINT, SIGTERM and SIGHUP: Ctrl-C at a terminal, a closed terminal and a service
manager's stop reach the whole process group, and the collector, which has requests in flight, says when
its writer stops.

If the writer dies (or does not answer within ANSWER_SECONDS, and is killed), the write in progress fails
without knowing whether it was made (`CommitUnknown`): its requests get a 503, and their clients' retries
are stored once by their messageIds (a message sent without one gets a new one each time, so its retry
may be stored twice, as after any crash between a commit and its answer). The next write starts a new
writer; one that died between writes is replaced before the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import signal
import socket
import struct
import subprocess
import sys
import traceback
from collections.abc import Sequence
from typing import Any

import msgspec

import collector
from collector.store.base import CommitUnknown, WriteBatch

log = logging.getLogger("footfall.store")

_LENGTH = struct.Struct("!Q")
_encode = msgspec.msgpack.Encoder().encode
START_SECONDS = 60.0  # for the writer to open its connection (a slow disk, a busy machine)
# For a commit's answer: its turn at the file (up to 5 s behind other processes) and the commit itself,
# many times over. A writer that takes longer (stopped, or stuck) is killed, and another started.
ANSWER_SECONDS = 60.0
STOP_SECONDS = 30.0  # for the writer to finish its commit and exit, once asked to stop
# Where this collector's code is: the writer imports the same, whatever the directory it was started in.
_CODE = os.path.dirname(os.path.dirname(os.path.abspath(collector.__file__)))


class WriterGone(CommitUnknown):
    """The writer process ended (or was killed) before answering: its commit may or may not have been
    made."""


class WriterProcess:
    """The collector's side: `start`, then `write` one batch at a time, then `close`."""

    def __init__(self, path: str, pragmas: Sequence[str]) -> None:
        self.path = path
        self.pragmas = list(pragmas)
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._lock = asyncio.Lock()

    @classmethod
    async def start(cls, path: str, pragmas: Sequence[str]) -> WriterProcess:
        process = cls(path, pragmas)
        await process._spawn()
        return process

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    async def _spawn(self) -> None:
        ours, theirs = socket.socketpair()
        try:
            # -P: not the working directory's modules, which `-m` would put first on the path
            command = [sys.executable, "-P", "-m", __name__, str(theirs.fileno())]
            path = os.pathsep.join(filter(None, [_CODE, os.environ.get("PYTHONPATH")]))
            self._proc = subprocess.Popen(
                command, pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": path}
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        try:
            self._reader, self._writer = await asyncio.open_unix_connection(sock=ours)
            await asyncio.wait_for(self._exchange([self.path, self.pragmas]), START_SECONDS)
        except BaseException:
            ours.close()
            await self._end()
            raise

    async def write(self, batch: WriteBatch) -> tuple[set[str], set[str]]:
        """Commit `batch` in the writer: the messageIds newly stored, and the users found suppressed (their
        rows were left out). Raises what the commit raised, or WriterGone."""
        async with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                log.warning("the store's writer process had ended; starting another")
                await self._end()
                await self._spawn()
            inserted, refused = await self._exchange(batch)
            return inserted, refused

    async def _exchange(self, request: object) -> Any:
        assert self._reader is not None and self._writer is not None
        payload = _encode(request)
        try:
            async with asyncio.timeout(ANSWER_SECONDS):
                self._writer.writelines((_LENGTH.pack(len(payload)), payload))  # (not joined: a copy of it)
                del payload
                await self._writer.drain()
                (length,) = _LENGTH.unpack(await self._reader.readexactly(_LENGTH.size))
                ok, value, refused = pickle.loads(await self._reader.readexactly(length))
        except TimeoutError:  # (before OSError, of which it is one)
            log.error("the store's writer process did not answer within %g s; killing it", ANSWER_SECONDS)
            if self._proc is not None:
                self._proc.kill()
            await self._end()
            raise WriterGone(f"the store's writer process did not answer within {ANSWER_SECONDS:g} s") from None
        except (OSError, asyncio.IncompleteReadError) as exc:
            await self._end()
            raise WriterGone(f"the store's writer process ended ({type(exc).__name__})") from None
        except BaseException:  # cancelled mid-exchange: the next answer would be this one's
            await self._end()
            raise
        if not ok:
            raise value
        return value, refused

    async def close(self) -> None:
        """Ask the writer to stop, once its commit (if any) is done; wait for it to exit."""
        async with self._lock:
            if self._writer is not None:
                with contextlib.suppress(OSError):
                    self._writer.write(_LENGTH.pack(0))
                    await self._writer.drain()
            await self._end()

    async def _end(self) -> None:
        proc, writer = self._proc, self._writer
        self._proc = self._reader = self._writer = None
        if writer is not None:
            writer.close()
        if proc is not None:
            try:
                await asyncio.to_thread(proc.wait, STOP_SECONDS)
            except subprocess.TimeoutExpired:
                log.error("the store's writer process did not stop within %g s; killing it", STOP_SECONDS)
                proc.kill()
                await asyncio.to_thread(proc.wait)


def main(fd: int) -> None:
    """The writer process: commits batches from the collector on the socket `fd` (see the module's text)."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    from collector.store.sqlite import Writer

    batches = msgspec.msgpack.Decoder(WriteBatch)
    with socket.socket(fileno=fd) as sock, sock.makefile("rb") as incoming:

        def receive() -> bytes | None:
            header = incoming.read(_LENGTH.size)
            if len(header) < _LENGTH.size:
                return None  # the collector closed its end
            (length,) = _LENGTH.unpack(header)
            return incoming.read(length) if length else None

        def answer(ok: bool, value: object = None, refused: object = None) -> None:
            try:
                payload = pickle.dumps((ok, value, refused), pickle.HIGHEST_PROTOCOL)
            except Exception:  # an exception that does not pickle: its type and text still tell
                payload = pickle.dumps((False, RuntimeError(f"{type(value).__name__}: {value}"), None))
            sock.sendall(_LENGTH.pack(len(payload)) + payload)

        opening = receive()
        if opening is None:
            return
        try:
            writer = Writer(*msgspec.msgpack.decode(opening))
        except Exception as exc:
            answer(False, exc)
            return
        answer(True)
        try:
            while (frame := receive()) is not None:
                try:
                    batch = batches.decode(frame)
                    inserted = writer.write(batch)
                except Exception as exc:
                    exc.add_note("in the store's writer process:\n" + traceback.format_exc())
                    answer(False, exc)
                else:
                    answer(True, inserted, batch.refused_users)
        except OSError:  # the collector went away while its commit was being made: nobody to answer
            pass
        finally:
            writer.close()


if __name__ == "__main__":
    main(int(sys.argv[1]))
