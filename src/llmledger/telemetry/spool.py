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

TMP = ".tmp"
SUFFIXES = {"protobuf": ".pb", "json": ".json"}


@dataclass(frozen=True)
class Entry:
    path: Path
    size: int

    @property
    def name(self) -> str:
        return self.path.name

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
    def __init__(self, directory: str | Path, fsync: bool = True):
        self.dir = Path(directory)
        self.failed_dir = self.dir / "failed"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.fsync = fsync
        self._tag = f"{os.getpid()}{secrets.token_hex(3)}"
        self._counter = itertools.count()
        self._lock = threading.Lock()
        for leftover in self.dir.glob(f"*{TMP}"):
            # Never renamed into place, so never acknowledged: safe to drop.
            leftover.unlink(missing_ok=True)

    def append(self, body: bytes, encoding: str, gzipped: bool = False) -> Entry:
        """Durably store one request body; returns only once it is on disk."""
        with self._lock:
            seq = next(self._counter)
        name = f"{time.time_ns():020d}-{self._tag}-{seq:08d}{SUFFIXES[encoding]}{'.gz' if gzipped else ''}"
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
            self._fsync_dir()
        return Entry(final, len(body))

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
        """Called only after the entries' transaction committed (a lost unlink is harmless)."""
        for e in entries:
            e.path.unlink(missing_ok=True)
        if entries and self.fsync:
            self._fsync_dir()

    def quarantine(self, entry: Entry, reason: str) -> Path:
        """Move a file the loader cannot use out of the way, keeping it for inspection."""
        self.failed_dir.mkdir(exist_ok=True)
        dest = self.failed_dir / entry.name
        os.replace(entry.path, dest)
        (self.failed_dir / (entry.name + ".reason")).write_text(reason + "\n")
        self._fsync_dir()
        return dest

    def _fsync_dir(self) -> None:
        fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
