"""The ingestion service: OTLP receiver + spool + a loader thread feeding DuckDB.

    service = Service(con, db_path=db_path)   # port=0 binds an ephemeral port
    service.start()                           # loads what a previous run left in the spool first
    service.on_loaded.append(callback)        # called after each committed batch
    service.stop()                            # stops the receiver, then loads everything spooled

Guarantees: a request is answered 200 only after its body is fsynced in the spool. The loader
commits spool files to DuckDB (several per transaction when they pile up, each logged under its
own batch id) and deletes them only after the commit, so a crash anywhere loses no acknowledged
span and a replay adds nothing.

The receiver only checks protobuf requests (parse and ids: about a tenth of a full decode) so
acknowledgements stay fast; the loader decodes them from the body held in memory (up to a bound),
and JSON requests arrive already decoded. Files replayed after a restart, or beyond that bound,
are read back from the spool.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from pathlib import Path
from typing import Callable

from llmledger import config
from llmledger.errors import PayloadError
from llmledger.telemetry import loader, otlp
from llmledger.telemetry.receiver import Receiver
from llmledger.telemetry.spool import Entry, Spool

log = logging.getLogger(__name__)

#: Most spans the loader puts in one transaction (bigger amortises DuckDB's per-statement cost).
GROUP_SPANS = 20_000
#: Most spool files in one transaction.
GROUP_FILES = 256
#: Decoded spans held in memory for the loader; beyond this, spooled files are re-read from disk.
HELD_SPANS = 200_000
#: A batch that fails this many times in a row is moved to the spool's failed/ folder.
MAX_ATTEMPTS = 5


class _Held:
    """What the receiver hands the loader in memory, so the spool is not read back."""

    __slots__ = ("decoded", "raw", "encoding", "valid")

    def __init__(self, decoded, raw: bytes, encoding: str, valid: int):
        self.decoded, self.raw, self.encoding, self.valid = decoded, raw, encoding, valid


class Service:
    def __init__(self, con, db_path=None, host=None, port=None, token=None, max_bytes=None,
                 spool_dir=None):
        self.con = con
        self.db_path = Path(db_path) if db_path else config.db_path()
        self.host = host or config.otlp_host()
        self.port = config.otlp_port() if port is None else int(port)
        self.token = token if token is not None else config.otlp_token()
        self.max_bytes = max_bytes or config.otlp_max_bytes()
        self.spool_dir = Path(spool_dir) if spool_dir else config.spool_dir(self.db_path)
        self.on_loaded: list[Callable[[], None]] = []
        self.spool: Spool | None = None
        self.receiver: Receiver | None = None
        self._queue: deque[tuple[Entry, otlp.Decoded | None]] = deque()
        self._held = 0  # spans held decoded in the queue
        self._busy = 0  # entries taken by the loader, not yet committed
        self._cv = threading.Condition()
        self._stopping = False
        self._running = False
        self._thread: threading.Thread | None = None
        self._attempts: dict[str, int] = {}
        self._single_next = 0  # after a failure, retry files one per transaction
        self.loaded_spans = 0
        self.loaded_batches = 0
        self.quarantined = 0
        self.last_load_error: str | None = None
        self.last_loaded_at: float | None = None
        self._loaded_recent: deque[tuple[float, int]] = deque()

    # ------------------------------------------------------------ lifecycle
    def start(self) -> "Service":
        if self._running:
            return self
        self.spool = Spool(self.spool_dir)
        with self._cv:
            for entry in self.spool.pending():  # a previous run's leftovers go first
                self._queue.append((entry, None))
        self.receiver = Receiver(self._accept, self.host, self.port, self.token, self.max_bytes)
        self.receiver.start()
        self.port = self.receiver.port
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name="otlp-loader", daemon=True)
        self._thread.start()
        self._running = True
        log.info("OTLP receiver on http://%s:%s/v1/traces, spool %s", self.host, self.port, self.spool_dir)
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Stop accepting, then load everything already accepted (what fails stays spooled).

        With a timeout, returns after it even if loading goes on; what is left stays spooled and
        is loaded by the next start."""
        if not self._running:
            return
        if self.receiver:
            self.receiver.stop()
        with self._cv:
            self._stopping = True
            self._cv.notify_all()
        if self._thread:
            self._thread.join(timeout)
        self._running = False

    def __enter__(self) -> "Service":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def wait_idle(self, timeout: float = 30) -> bool:
        """Block until every accepted request is committed; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while self._queue or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cv.wait(min(left, 0.2))
        return True

    # ------------------------------------------------------------ receiver side
    def _accept(self, body: bytes, encoding: str, gzipped: bool, decoded: otlp.Decoded | None,
                raw: bytes, valid: int) -> None:
        entry = self.spool.append(body, encoding, gzipped)  # durable before the 200
        with self._cv:
            if self._held + valid <= HELD_SPANS:
                self._held += valid
                self._queue.append((entry, _Held(decoded, raw, encoding, valid)))
            else:  # the loader reads it back from the spool
                self._queue.append((entry, None))
            self._cv.notify_all()

    # ------------------------------------------------------------ loader side
    def _take(self) -> list[tuple[Entry, "_Held | None"]]:
        with self._cv:
            while not self._queue and not self._stopping:
                self._cv.wait(1.0)
            group, spans = [], 0
            most = GROUP_FILES
            if self._single_next:
                self._single_next -= 1
                most = 1
            while self._queue and len(group) < most:
                entry, held = self._queue[0]
                n = held.valid if held is not None else max(1, entry.size // 200)
                if group and spans + n > GROUP_SPANS:
                    break
                self._queue.popleft()
                if held is not None:
                    self._held -= held.valid
                group.append((entry, held))
                spans += n
            self._busy = len(group)
            return group

    def _loop(self) -> None:
        backoff = 0.5
        while True:
            group = self._take()
            if not group:
                if self._stopping:
                    return
                continue
            ok = self._load_group(group)
            with self._cv:
                self._busy = 0
                self._cv.notify_all()
            if ok:
                backoff = 0.5
                continue
            if self._stopping and backoff > 4:
                log.error("giving up loading at shutdown; %d file(s) stay in the spool", len(self._queue))
                return
            time.sleep(backoff)
            backoff = min(backoff * 2, 30)

    def _load_group(self, group) -> bool:
        with loader.gc_paused():
            return self._load_group_now(group)

    def _load_group_now(self, group) -> bool:
        batches, entries = [], []
        for entry, held in group:
            try:
                if held is None:
                    decoded = otlp.decode_file_bytes(entry.name, self.spool.read(entry))
                elif held.decoded is not None:
                    decoded = held.decoded
                else:
                    decoded = otlp.decode_protobuf(held.raw)
            except FileNotFoundError:
                continue
            except (PayloadError, OSError) as exc:
                self._quarantine(entry, f"cannot decode spooled request: {exc}")
                continue
            batches.append(loader.Batch(decoded, entry.batch_id, "otlp", entry.received_at))
            entries.append((entry, decoded))
        if not batches:
            return True
        try:
            result = loader.load_batches(self.con, batches)
        except Exception as exc:  # DuckDB busy/conflict, disk full, a bug: keep the files, retry
            self.last_load_error = f"{type(exc).__name__}: {exc}"
            log.warning("loading %d spooled batch(es) failed: %s", len(batches), exc)
            self._requeue_after_failure(entries)
            return False
        self.spool.remove([e for e, _ in entries])
        self.last_load_error = None
        for e, _ in entries:
            self._attempts.pop(e.name, None)
        now = time.time()
        self.loaded_spans += result.spans_new
        self.loaded_batches += len(entries)
        self.last_loaded_at = now
        self._loaded_recent.append((now, result.spans_new))
        while self._loaded_recent and self._loaded_recent[0][0] < now - 10:
            self._loaded_recent.popleft()
        for cb in list(self.on_loaded):
            try:
                cb()
            except Exception:  # a listener's bug must not stop loading
                log.exception("on_loaded callback failed")
        return True

    def _requeue_after_failure(self, entries) -> None:
        """Put a failed group back; isolate and finally quarantine a batch that keeps failing."""
        keep = []
        for entry, decoded in entries:
            n = self._attempts[entry.name] = self._attempts.get(entry.name, 0) + 1
            if n >= MAX_ATTEMPTS and len(entries) == 1:
                self._quarantine(entry, f"loading failed {n} times: {self.last_load_error}")
                continue
            keep.append((entry, decoded))
        with self._cv:
            # Retry one file per transaction after a failure, so a poison file is isolated.
            for entry, _decoded in reversed(keep):
                self._queue.appendleft((entry, None))
            self._single_next = len(keep) if len(keep) > 1 else 0

    def _quarantine(self, entry: Entry, reason: str) -> None:
        log.error("moving %s to %s: %s", entry.name, self.spool.failed_dir, reason)
        self.quarantined += 1
        self.last_load_error = reason
        try:
            self.spool.quarantine(entry, reason)
        except OSError:
            log.exception("cannot quarantine %s", entry.path)

    # ------------------------------------------------------------ status
    def stats(self) -> dict:
        c = self.receiver.counters if self.receiver else None
        now = time.time()
        loaded_recent = sum(n for t, n in self._loaded_recent if t >= now - 10)
        with self._cv:
            pending = len(self._queue) + self._busy
        last_error = self.last_load_error or (c.last_error if c else None)
        return {
            "running": self._running,
            "host": self.host,
            "port": self.port,
            "endpoint": f"http://{self.host}:{self.port}/v1/traces",
            "spool_dir": str(self.spool_dir),
            "requests": c.requests if c else 0,
            "accepted_spans": c.accepted_spans if c else 0,
            "rejected_spans": c.rejected_spans if c else 0,
            "errors_by_status": dict(c.errors_by_status) if c else {},
            "spans_per_s": c.spans_per_s() if c else 0.0,
            "loaded_spans": self.loaded_spans,
            "loaded_spans_per_s": loaded_recent / 10.0,
            "pending_batches": pending,
            "quarantined_batches": self.quarantined,
            "last_error": last_error,
            "last_request_at": c.last_request_at if c else None,
            "last_loaded_at": self.last_loaded_at,
        }
