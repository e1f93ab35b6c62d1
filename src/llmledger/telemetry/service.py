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
acknowledgements stay fast; the loader decodes them from the body held in memory (up to a bound).
Files replayed after a restart, or beyond that bound, are read back from the spool.

Decoding and table building are CPU-bound Python; when a group is large enough
(PROCESS_MIN_SPANS) they run in one worker process, so they neither hold this process's GIL
against the receiver's handler threads nor wait for the previous commit: the loader commits
group N while the worker prepares group N+1. If the worker cannot start or dies, the loader
goes on in-process.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Callable

from llmledger import config
from llmledger.errors import PayloadError
from llmledger.telemetry import attribution, loader, otlp
from llmledger.telemetry.receiver import Receiver
from llmledger.telemetry.spool import Entry, Spool

log = logging.getLogger(__name__)

#: Most spans the loader puts in one transaction (bigger amortises DuckDB's per-statement cost).
GROUP_SPANS = 20_000
#: Most spool files in one transaction.
GROUP_FILES = 256
#: Scheduling niceness of the loader thread and its decode worker process (the receiver's
#: threads keep the default: acknowledging comes before loading).
LOADER_NICE = 10
#: Decoded spans held in memory for the loader; beyond this, spooled files are re-read from disk.
HELD_SPANS = 200_000
#: A batch that fails this many times in a row is moved to the spool's failed/ folder.
MAX_ATTEMPTS = 5
#: Groups at least this large are prepared in the worker process (smaller ones cost less inline).
PROCESS_MIN_SPANS = 2_048


class _Held:
    """What the receiver hands the loader in memory (the decompressed body), so the spool is not
    read back."""

    __slots__ = ("raw", "encoding", "valid")

    def __init__(self, raw: bytes, encoding: str, valid: int):
        self.raw, self.encoding, self.valid = raw, encoding, valid


def prepare_group(items: list[tuple], rules) -> tuple[loader.Prepared | None, list[tuple[str, str | None]]]:
    """Decode spooled requests and build their tables (runs in the worker process, or inline).

    `items` are (name, path, raw or None, encoding, batch_id, received_at). Returns the prepared
    tables and, per request that could not be used, (name, reason), reason None for a file that
    has gone (already loaded and removed)."""
    batches, failures = [], []
    with loader.gc_paused():
        for name, path, raw, encoding, batch_id, received_at in items:
            try:
                if raw is None:
                    decoded = otlp.decode_file_bytes(name, Path(path).read_bytes())
                elif encoding == "protobuf":
                    decoded = otlp.decode_protobuf(raw)
                else:
                    decoded = otlp.decode_json(raw)
            except FileNotFoundError:
                failures.append((name, None))
                continue
            except (PayloadError, OSError) as exc:
                failures.append((name, f"cannot decode spooled request: {exc}"))
                continue
            batches.append(loader.Batch(decoded, batch_id, "otlp", received_at))
        return (loader.prepare(batches, rules) if batches else None), failures


class _Job:
    """One group on its way: taken from the queue, being prepared, then committed."""

    def __init__(self, group, skipped, future=None, value=None):
        self.group, self.skipped, self.future, self.value = group, skipped, future, value
        self.items: list[tuple] = []
        self.rules: list = []

    def result(self):
        return self.future.result() if self.future is not None else self.value


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
        self._pool = None  # the decode worker process, started on the first large group
        self._pool_failed = False
        self.decode_in_process = 0  # groups prepared in the worker process (for stats and tests)
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
        if self._pool is not None and (self._thread is None or not self._thread.is_alive()):
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
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
                self._queue.append((entry, _Held(raw, encoding, valid)))
            else:  # the loader reads it back from the spool
                self._queue.append((entry, None))
            self._cv.notify_all()

    # ------------------------------------------------------------ loader side
    def _take(self, block: bool = True) -> list[tuple[Entry, "_Held | None"]]:
        with self._cv:
            while block and not self._queue and not self._stopping:
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
            self._busy += len(group)
            return group

    def _loop(self) -> None:
        # This thread only (and what it starts): the receiver's threads keep their priority.
        loader.lower_priority(threading.get_native_id(), LOADER_NICE)
        backoff = 0.5
        inflight: _Job | None = None
        while True:
            # While a group is being prepared, don't wait for more: commit it as soon as it is ready.
            group = self._take(block=inflight is None)
            job = self._start(group) if group else None
            if inflight is not None:
                ok = self._finish(inflight)
                if ok:
                    backoff = 0.5
                elif self._stopping and backoff > 4:
                    log.error("giving up loading at shutdown; %d file(s) stay in the spool", len(self._queue))
                    return
                else:
                    time.sleep(backoff)
                    backoff = min(backoff * 2, 30)
            inflight = job
            if inflight is None and not group and self._stopping:
                with self._cv:
                    if not self._queue:
                        return

    def _start(self, group) -> _Job:
        """Set a group on its way: batches committed before are skipped (a replay after a crash
        between commit and unlink), the rest are prepared in the worker process or inline."""
        cur = self.con.cursor()
        try:
            done = loader._logged(cur, [e.batch_id for e, _ in group])
            rules = attribution.load_rules(cur)
        finally:
            cur.close()
        skipped = [(e, h) for e, h in group if e.batch_id in done]
        todo = [(e, h) for e, h in group if e.batch_id not in done]
        items = [(e.name, str(e.path), h.raw if h is not None else None, h.encoding if h is not None else None,
                  e.batch_id, e.received_at) for e, h in todo]
        job = _Job(group, skipped)
        job.items, job.rules = items, rules
        if not items:
            job.value = (None, [])
            return job
        spans = sum(h.valid if h is not None else max(1, e.size // 200) for e, h in todo)
        pool = self._worker() if spans >= PROCESS_MIN_SPANS else None
        if pool is not None:
            try:
                job.future = pool.submit(prepare_group, items, rules)
                self.decode_in_process += 1
                return job
            except (BrokenProcessPool, RuntimeError, OSError) as exc:
                self._drop_worker(exc)
        job.value = prepare_group(items, rules)
        return job

    def _worker(self):
        if self._pool is None and not self._pool_failed and (os.cpu_count() or 1) > 1:
            try:
                self._pool = loader.worker_pool(1, LOADER_NICE)
            except (OSError, RuntimeError) as exc:
                self._drop_worker(exc)
        return self._pool

    def _drop_worker(self, exc) -> None:
        log.warning("decode worker process unavailable (%s); decoding in-process", exc)
        self._pool_failed = True
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def _finish(self, job: _Job) -> bool:
        try:
            try:
                prepared, failures = job.result()
            except (BrokenProcessPool, OSError) as exc:  # the worker died: redo this group here
                self._drop_worker(exc)
                prepared, failures = prepare_group(job.items, job.rules)
            return self._commit(job, prepared, failures)
        finally:
            with self._cv:
                self._busy -= len(job.group)
                self._cv.notify_all()

    def _commit(self, job: _Job, prepared, failures) -> bool:
        by_name = {e.name: e for e, _ in job.group}
        gone = set()
        for name, reason in failures:
            gone.add(name)
            if reason is not None:
                self._quarantine(by_name[name], reason)
        entries = [(e, None) for e, _ in job.group if e.name not in gone]
        result = loader.LoadResult()
        if prepared is not None:
            try:
                result = loader.commit_prepared(self.con, [prepared])
            except Exception as exc:  # DuckDB busy/conflict, disk full, a bug: keep the files, retry
                self.last_load_error = f"{type(exc).__name__}: {exc}"
                log.warning("loading %d spooled batch(es) failed: %s", len(prepared.metas), exc)
                self._requeue_after_failure(entries)
                return False
        if not entries:
            return True
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
