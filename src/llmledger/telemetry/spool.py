"""The spool: accepted OTLP requests kept on disk until the loader has committed them.

Each accepted request becomes one file: written under a temporary name, fsynced, renamed into
place, and the directory fsynced, all before the receiver answers 200. The file holds the request
body exactly as it arrived (protobuf or OTLP/JSON, gzip left as is) and is named like an OTLP file
(`.pb`, `.json`, optionally `.gz`), so `llmledger ingest` can read a spool too.

A file's name is unique (time, process, random tag, counter) and becomes its batch id, so a replay
after a crash between the DuckDB commit and the unlink is recognised and adds nothing.
Temporary files left by a crash were never acknowledged and are deleted when the spool opens.
Files the loader cannot decode on replay are moved to `failed/` with a `.reason` beside them.
"""

from __future__ import annotations

import itertools
import os
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from llmledger.errors import LedgerError

TMP = ".tmp"
SUFFIXES = {"protobuf": ".pb", "json": ".json"}
#: Log export requests are spooled as `<name>.logs.pb` / `.logs.json` (the decoders read the kind
#: from the name, since a protobuf body does not say which request it is).
KIND_INFIX = {"traces": "", "logs": ".logs"}
#: Default cap on bytes waiting in the spool (LLMLEDGER_SPOOL_MAX_BYTES): past it the receiver
#: answers 503 with Retry-After (the OTLP spec's answer for a server under pressure) instead of
#: filling the disk; acknowledged data is never dropped to make room.
MAX_BYTES = 2 * 1024**3


class SpoolFull(LedgerError):
    title = "Spool full"


@dataclass(frozen=True)
class Entry:
    path: Path
    size: int  # bytes on disk (compressed, for .gz)

    @property
    def raw_size(self) -> int:
        """Bytes once gunzipped, what decoding it will hold: a gzip file's trailer says (mod 4 GiB,
        and the body limit keeps requests far below that)."""
        if not self.path.name.endswith(".gz") or self.size < 18:
            return self.size
        try:
            with open(self.path, "rb") as f:
                f.seek(-4, os.SEEK_END)
                return max(self.size, int.from_bytes(f.read(4), "little"))
        except OSError:
            return self.size

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def kind(self) -> str:
        return "logs" if ".logs." in self.path.name else "traces"

    @property
    def batch_id(self) -> str:
        return f"otlp:{self.path.name}"

    @property
    def received_at(self) -> datetime | None:
        head = self.path.name.split("-", 1)[0]
        if head.isdigit():
            return datetime.fromtimestamp(int(head) / 1e9, tz=timezone.utc)
        return None


class Spool:
    def __init__(self, directory: str | Path, fsync: bool = True, max_bytes: int | None = None):
        self.dir = Path(directory)
        self.max_bytes = MAX_BYTES if max_bytes is None else max_bytes
        self.failed_dir = self.dir / "failed"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.fsync = fsync
        self._tag = f"{os.getpid()}{secrets.token_hex(3)}"
        self._counter = itertools.count()
        self._lock = threading.Lock()
        # Group commit of the directory fsync: a rename made before a sync started is covered by
        # it, so concurrent requests share one fsync instead of queueing one each.
        self._dir_cv = threading.Condition()
        self._dir_tickets = 0  # renames announced
        self._dir_synced = 0  # every ticket up to this one is durable
        self._dir_syncing = False
        for leftover in self.dir.glob(f"*{TMP}"):
            # Never renamed into place, so never acknowledged: safe to drop.
            leftover.unlink(missing_ok=True)
        self.bytes = sum(e.size for e in self.pending())  # waiting to be loaded (and being written)

    def reserve(self, n: int) -> None:
        """Count n bytes in before writing them, or raise SpoolFull past the cap."""
        with self._lock:
            if self.bytes and self.bytes + n > self.max_bytes:
                raise SpoolFull(f"spool is full ({self.bytes:,} of {self.max_bytes:,} bytes waiting to load)")
            self.bytes += n

    def release(self, n: int) -> None:
        with self._lock:
            self.bytes = max(0, self.bytes - n)

    def append(self, body: bytes, encoding: str, gzipped: bool = False, kind: str = "traces") -> Entry:
        """Durably store one request body; returns only once it is on disk. SpoolFull past the cap."""
        self.reserve(len(body))
        try:
            return self._write(body, encoding, gzipped, kind)
        except BaseException:
            self.release(len(body))
            raise

    def _write(self, body: bytes, encoding: str, gzipped: bool, kind: str = "traces") -> Entry:
        with self._lock:
            seq = next(self._counter)
        suffix = KIND_INFIX[kind] + SUFFIXES[encoding] + (".gz" if gzipped else "")
        name = f"{time.time_ns():020d}-{self._tag}-{seq:08d}{suffix}"
        final = self.dir / name
        tmp = self.dir / (name + TMP)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            view = memoryview(body)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            if self.fsync:
                os.fsync(fd)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        os.close(fd)
        os.rename(tmp, final)
        if self.fsync:
            self._sync_dir_grouped()
        return Entry(final, len(body))

    def _sync_dir_grouped(self) -> None:
        """Return once the directory (so this caller's rename) is on disk."""
        with self._dir_cv:
            self._dir_tickets += 1
            mine = self._dir_tickets
            while self._dir_synced < mine:
                if self._dir_syncing:  # a sync is running; it may predate our rename: wait, recheck
                    self._dir_cv.wait()
                    continue
                self._dir_syncing = True
                covers = self._dir_tickets  # every rename announced so far
                self._dir_cv.release()
                try:
                    self._fsync_dir()
                finally:
                    self._dir_cv.acquire()
                    self._dir_syncing = False
                    self._dir_cv.notify_all()
                self._dir_synced = max(self._dir_synced, covers)

    def pending(self) -> list[Entry]:
        """Files waiting to be loaded, oldest first."""
        out = []
        with os.scandir(self.dir) as it:
            for e in it:
                if e.is_file() and not e.name.endswith(TMP) and not e.name.startswith("."):
                    try:
                        out.append(Entry(Path(e.path), e.stat().st_size))
                    except FileNotFoundError:
                        continue
        out.sort(key=lambda en: en.name)
        return out

    @staticmethod
    def read(entry: Entry) -> bytes:
        return entry.path.read_bytes()

    def remove(self, entries: list[Entry]) -> None:
        """Called only after the entries' transaction committed (a lost unlink is harmless: the
        batch is logged, so a replay adds nothing). Raises OSError if a file cannot be removed;
        the ones removed before it are counted out."""
        for e in entries:
            e.path.unlink(missing_ok=True)
            self.release(e.size)
        if entries and self.fsync:
            self._fsync_dir()

    def quarantine(self, entry: Entry, reason: str) -> Path:
        """Move a file the loader cannot use out of the way, keeping it for inspection."""
        self.failed_dir.mkdir(exist_ok=True)
        dest = self.failed_dir / entry.name
        (self.failed_dir / (entry.name + ".reason")).write_text(reason + "\n")
        os.replace(entry.path, dest)
        self.release(entry.size)
        self._fsync_dir()
        return dest

    def adopt(self, paths: list[Path]) -> list[Entry]:
        """Entries for files put back into the spool directory (quarantine retry), counted in."""
        out = []
        for p in paths:
            size = Path(p).stat().st_size
            with self._lock:
                self.bytes += size
            out.append(Entry(self.dir / Path(p).name, size))
        return out

    def _fsync_dir(self) -> None:
        fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
