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

The loader never stops. Every step of a load (read, decode, prepare, insert, unlink) runs under
supervision:
- a fault of the disk, the spool or the database (OSError, DuckDB I/O, lock or transaction
  errors, a database that cannot be opened yet) is retried with backoff, for as long as it lasts,
  and never blamed on a batch;
- a batch that fails for its own sake (it cannot be decoded, or DuckDB refuses its rows) is retried
  alone, then quarantined in `failed/` with its reason after MAX_ATTEMPTS, and loading goes on;
- anything unforeseen is caught at the top of the loop, logged, and the batches in flight go back
  to the queue.

Memory is bounded in bytes: decompressed bodies held for the loader (HELD_BYTES), a group's bytes
(GROUP_BYTES), the receiver's requests in flight (receiver.INFLIGHT_BYTES) and the spool on disk
(spool.MAX_BYTES, past which the receiver answers 503 with Retry-After).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import duckdb

from llmledger import config
from llmledger.errors import PayloadError, StoreError
from llmledger.store import background, wal
from llmledger.telemetry import attribution, content, intake, loader, logs, otlp, quarantine, workers
from llmledger.telemetry.receiver import Receiver
from llmledger.telemetry.spool import Entry, Spool

log = logging.getLogger(__name__)

#: Most spans the loader puts in one transaction (bigger amortises DuckDB's per-statement cost).
LOAD_GROUP_SPANS = 20_000
#: Most spool files in one transaction.
GROUP_FILES = 256
#: Scheduling niceness of the loader thread and its decode worker process (the receiver's
#: threads keep the default: acknowledging comes before loading).
LOADER_NICE = 10
#: Most bytes of request bodies (after gunzip) in one transaction; one bigger request goes alone.
GROUP_BYTES = 32 * 1024 * 1024
#: Decompressed bodies held in memory for the loader; beyond this, spooled files are re-read
#: from disk when their turn comes (a byte bound: 790 KB of gzip can be 16 MiB of body).
HELD_BYTES = 64 * 1024 * 1024
#: A batch that fails for its own sake this many times is moved to the spool's failed/ folder.
MAX_ATTEMPTS = 5
#: Longest wait between retries of a fault that persists (disk, lock, database).
MAX_BACKOFF = 30.0
#: While idle, the loader looks for files put back into the spool from outside this often.
RESCAN_SECONDS = 5.0
RESCAN_MIN_AGE = 2.0
#: Spans a spooled file is assumed to hold per byte, before it is decoded (grouping only).
BYTES_PER_SPAN = 200


def is_transient(exc: BaseException) -> bool:
    """A fault of the machine rather than of the batch: retried for as long as it lasts, never
    a reason to quarantine. Everything else (a decode error, DuckDB refusing a value) is the
    batch's own and ends in quarantine after MAX_ATTEMPTS."""
    if isinstance(
        exc,
        (
            OSError,
            MemoryError,
            StoreError,
            duckdb.IOException,
            duckdb.TransactionException,
            duckdb.FatalException,
            duckdb.OutOfMemoryException,
            duckdb.ConnectionException,
            BrokenProcessPool,
            TimeoutError,
        ),
    ):
        return True
    text = str(exc).lower()
    return any(w in text for w in ("lock", "conflict", "invalidated", "no space", "read-only", "disk"))


#: Groups at least this large are prepared in the worker process (smaller ones cost less inline).
PROCESS_MIN_SPANS = 2_048


class _Held:
    """What the receiver hands the loader in memory (the decompressed body), so the spool is not
    read back."""

    __slots__ = ("raw", "encoding", "valid", "kind")

    def __init__(self, raw: bytes, encoding: str, valid: int, kind: str = "traces"):
        self.raw, self.encoding, self.valid, self.kind = raw, encoding, valid, kind


class _Queued:
    """A spooled request waiting for the loader: its spool entry, the body when still held in
    memory, and its size estimates (spans, bytes once decompressed) for grouping."""

    __slots__ = ("entry", "held", "spans", "nbytes")

    def __init__(self, entry: Entry, held: "_Held | None" = None):
        self.entry, self.held = entry, held
        self.nbytes = len(held.raw) if held is not None else entry.raw_size
        self.spans = held.valid if held is not None else max(1, self.nbytes // BYTES_PER_SPAN)


@dataclass(frozen=True)
class SpooledRequest:
    """One spooled request as the decode step gets it (picklable, for the worker process): the
    body when still held in memory (`raw`, after gunzip), else None and it is read from `path`."""

    name: str
    path: str
    raw: bytes | None
    encoding: str | None
    batch_id: str
    received_at: object
    kind: str = "traces"  # or 'logs'


@dataclass(frozen=True)
class Unusable:
    """A request the decode step could not use: `reason` None when its file has gone (loaded and
    removed already); `transient` for a read error worth retrying."""

    name: str
    reason: str | None
    transient: bool


def prepare_group(
    items: list[SpooledRequest], rules, policy: str = "keep"
) -> tuple[loader.Prepared | None, list[Unusable]]:
    """Decode spooled requests and build their tables (runs in the worker process, or inline).

    Returns the prepared tables and an Unusable per request that could not be used: reason None for a
    file that has gone (already loaded and removed); transient for a read error worth retrying,
    else the request itself is unusable. A live body and the same body read back from the spool
    go through the same decoders, so they get the same verdict."""
    batches, failures = [], []
    with loader.gc_paused():
        for it in items:
            try:
                if it.raw is None:
                    decoded = otlp.decode_file_bytes(it.name, Path(it.path).read_bytes())
                elif it.encoding == "protobuf":
                    decoded = otlp.decode_protobuf(it.raw) if it.kind == "traces" else logs.decode_protobuf_logs(it.raw)
                else:
                    decoded = intake.decode_json(it.kind, it.raw)
            except FileNotFoundError:
                failures.append(Unusable(it.name, None, False))
                continue
            except OSError as exc:
                failures.append(Unusable(it.name, f"cannot read spooled request: {exc}", True))
                continue
            except PayloadError as exc:
                failures.append(Unusable(it.name, f"cannot decode spooled request: {exc.msg}", False))
                continue
            except Exception as exc:  # hostile bytes must never stop the loader
                failures.append(Unusable(it.name, f"cannot decode spooled request: {exc!r:.300}", False))
                continue
            batches.append(loader.Batch(decoded, it.batch_id, "otlp", it.received_at))
        return (loader.prepare(batches, rules, policy) if batches else None), failures


class _Job:
    """One group on its way: taken from the queue, being prepared, then committed."""

    def __init__(self, group: list[_Queued], skipped, future=None, value=None):
        self.group, self.skipped, self.future, self.value = group, skipped, future, value
        self.items: list[tuple] = []
        self.rules: list = []
        self.policy = "keep"

    def result(self):
        return self.future.result() if self.future is not None else self.value


class Service:
    def __init__(
        self,
        con,
        db_path=None,
        host=None,
        port=None,
        token=None,
        max_bytes=None,
        spool_dir=None,
        spool_max_bytes=None,
        connect: Callable | None = None,
        grpc_port: int | None = None,
        checkpoint_bytes: int | None = None,
        **limits,
    ):
        """`con` is the DuckDB connection the loader writes with; or None with `connect`, a
        callable that opens it, retried with backoff until the database can be opened (held by
        another process, say) while the receiver goes on accepting into the spool. `limits` go
        to the receiver (max_connections, request_seconds, inflight_bytes). `grpc_port`: also
        serve OTLP/gRPC on that port (0: an ephemeral one; None: no gRPC receiver).
        `checkpoint_bytes`: the loader checkpoints after a load that leaves more WAL than this
        (default: DuckDB's checkpoint_threshold)."""
        self.con = con
        self._connect = connect
        self.db_path = Path(db_path) if db_path else config.db_path()
        self.host = host or config.otlp_host()
        self.port = config.otlp_port() if port is None else int(port)
        self.token = token if token is not None else config.otlp_token()
        self.max_bytes = max_bytes or config.otlp_max_bytes()
        self.spool_dir = Path(spool_dir) if spool_dir else config.spool_dir(self.db_path)
        self.spool_max_bytes = spool_max_bytes or config.spool_max_bytes()
        self.limits = limits
        self.on_loaded: list[Callable[[], None]] = []
        self.spool: Spool | None = None
        self.receiver: Receiver | None = None
        self.grpc_port = grpc_port
        self.grpc = None  # grpc_receiver.GrpcReceiver when serving gRPC
        self.grpc_error: str | None = None
        self._queue: deque[_Queued] = deque()
        self._held = 0  # bytes of bodies held in the queue
        self._jobs: list[_Job] = []  # groups taken by the loader, not yet committed
        self._cv = threading.Condition()
        self._stopping = False
        self._running = False
        self._thread: threading.Thread | None = None
        self._attempts: dict[str, int] = {}
        self._pool = None  # the decode worker process, started on the first large group
        self._pool_failed = False
        self.decode_in_process = 0  # groups prepared in the worker process (for stats and tests)
        self._single_next = 0  # after a failure, retry files one per transaction
        self._rescanned = time.monotonic()
        self.loaded_spans = 0
        self.loaded_batches = 0
        self.quarantined = 0
        self.load_failures = 0  # failed attempts (each retried or quarantined)
        self.loader_restarts = 0  # unforeseen errors caught at the top of the loop
        self.last_load_error: str | None = None
        self.last_loaded_at: float | None = None
        self._loaded_recent: deque[tuple[float, int]] = deque()
        self.checkpoint_bytes = checkpoint_bytes
        self.checkpoints = 0  # taken by the loader after its own commits (store/wal.py)
        self.last_checkpoint_s: float | None = None

    # ------------------------------------------------------------ lifecycle
    def start(self, receiver: bool = True) -> "Service":
        """Start the loader (a previous run's leftovers go first) and, unless `receiver` is False,
        the OTLP receiver. The port is bound before anything is loaded."""
        if self._running:
            return self
        content.env_policy()  # a bad LLMLEDGER_CONTENT stops here, with its reason, not in the loader
        self.spool = Spool(self.spool_dir, max_bytes=self.spool_max_bytes)
        if receiver:
            self.receiver = Receiver(self._accept, self.host, self.port, self.token, self.max_bytes, **self.limits)
            self.receiver.start()
            self.port = self.receiver.port
            if self.grpc_port is not None:
                self._start_grpc()
        with self._cv:
            for entry in self.spool.pending():
                self._queue.append(_Queued(entry))
        self._stopping = False
        self._thread = threading.Thread(target=self._supervise, name="otlp-loader", daemon=True)
        background.register(self._thread, lambda: self.stop(timeout=background.SHUTDOWN_S / 2))
        self._thread.start()
        self._running = True
        if receiver:
            log.info("OTLP receiver on http://%s:%s/v1/traces, spool %s", self.host, self.port, self.spool_dir)
        return self

    def _start_grpc(self) -> None:
        """The OTLP/gRPC receiver beside the HTTP one, same sink and limits. A port that cannot be
        bound is logged and shown in stats; the HTTP receiver goes on alone."""
        from llmledger.errors import LedgerError
        from llmledger.telemetry.grpc_receiver import GrpcReceiver

        rx = GrpcReceiver(
            self._accept,
            self.host,
            self.grpc_port,
            self.token,
            self.max_bytes,
            inflight_bytes=self.limits.get("inflight_bytes"),
            max_concurrent=self.limits.get("max_connections"),
        )
        try:
            rx.start()
        except LedgerError as exc:
            self.grpc_error = exc.msg
            log.error("%s", exc.msg)
            return
        self.grpc = rx
        self.grpc_port = rx.port

    def stop(self, timeout: float | None = None) -> None:
        """Stop accepting, then load everything already accepted (what fails stays spooled).

        With a timeout, returns after it even if loading goes on; what is left stays spooled and
        is loaded by the next start."""
        if not self._running:
            return
        if self.grpc:
            self.grpc.stop()
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
        """Block until every accepted request is committed or quarantined; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while self._queue or self._jobs:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cv.wait(min(left, 0.2))
        return True

    def pending(self) -> int:
        with self._cv:
            return len(self._queue) + sum(len(j.group) for j in self._jobs)

    # ------------------------------------------------------------ receiver side
    def _accept(
        self,
        body: bytes,
        encoding: str,
        gzipped: bool,
        decoded: otlp.Decoded | None,
        raw: bytes,
        valid: int,
        kind: str = "traces",
    ) -> None:
        """The receivers' sink (HTTP and gRPC): durable in the spool before the OK (SpoolFull -> 503
        or UNAVAILABLE), then queued for the loader with the body in memory when it fits."""
        entry = self.spool.append(body, encoding, gzipped, kind)
        with self._cv:
            if self._held + len(raw) <= HELD_BYTES:
                self._held += len(raw)
                self._queue.append(_Queued(entry, _Held(raw, encoding, valid, kind)))
            else:  # the loader reads it back from the spool
                self._queue.append(_Queued(entry))
            self._cv.notify_all()

    # ------------------------------------------------------------ quarantine
    def retry_quarantined(self, names: list[str] | None = None) -> int:
        """Put quarantined batches back in line (all when `names` is None); returns how many."""
        paths = quarantine.retry(self.spool_dir, names)
        entries = self.spool.adopt(paths) if self.spool else []
        with self._cv:
            for entry in entries:
                self._attempts.pop(entry.name, None)
                self._queue.append(_Queued(entry))
            self._cv.notify_all()
        return len(paths)

    # ------------------------------------------------------------ loader side
    def _rescan(self) -> None:
        """Queue files that appeared in the spool without passing through this receiver (put back
        by `llmledger quarantine retry` from another process, say). Only files a few seconds old:
        a request being acknowledged right now is queued by `_accept` itself."""
        with self._cv:
            known = {q.entry.name for q in self._queue} | {q.entry.name for j in self._jobs for q in j.group}
        cutoff = time.time() - RESCAN_MIN_AGE
        fresh = []
        for entry in self.spool.pending():
            try:
                if entry.name not in known and entry.path.stat().st_mtime < cutoff:
                    fresh.append(entry.path)
            except OSError:
                continue
        if fresh:
            log.info("found %d spooled file(s) put back from outside; loading them", len(fresh))
            with self._cv:
                for entry in self.spool.adopt(fresh):
                    self._queue.append(_Queued(entry))

    def _take(self, block: bool = True) -> list[_Queued]:
        if block and not self._queue and time.monotonic() - self._rescanned > RESCAN_SECONDS:
            self._rescanned = time.monotonic()
            self._rescan()
        with self._cv:
            while block and not self._queue and not self._stopping:
                if time.monotonic() - self._rescanned > RESCAN_SECONDS:
                    return []
                self._cv.wait(1.0)
            group, spans, nbytes = [], 0, 0
            most = GROUP_FILES
            if self._single_next:
                self._single_next -= 1
                most = 1
            while self._queue and len(group) < most:
                q = self._queue[0]
                if group and (spans + q.spans > LOAD_GROUP_SPANS or nbytes + q.nbytes > GROUP_BYTES):
                    break
                self._queue.popleft()
                group.append(q)
                spans += q.spans
                nbytes += q.nbytes
            return group

    def _supervise(self) -> None:
        """The loader thread: runs the loop, and whatever escapes it is logged, the batches in
        flight go back to the queue, and the loop starts again after a pause."""
        # This thread only (and what it starts): the receiver's threads keep their priority.
        workers.lower_priority(threading.get_native_id(), LOADER_NICE)
        pause = 0.5
        while True:
            try:
                self._loop()
                return
            except BaseException as exc:  # noqa: BLE001 - the loader must outlive any error
                self.loader_restarts += 1
                self.last_load_error = f"loader error: {type(exc).__name__}: {exc}"
                log.exception("OTLP loader failed; restarting it")
                with self._cv:
                    jobs, self._jobs = self._jobs, []
                    self._cv.notify_all()
                for job in jobs:
                    self._requeue_after_failure(job.group, transient=is_transient(exc))
                if isinstance(exc, (KeyboardInterrupt, SystemExit)) or (self._stopping and pause > 4):
                    return
                time.sleep(pause)
                pause = min(pause * 2, MAX_BACKOFF)

    def _loop(self) -> None:
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
                    if job is not None:
                        self._finish(job, skip=True)
                    log.error("giving up loading at shutdown; %d file(s) stay in the spool", self.pending())
                    return
                else:
                    time.sleep(backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF)
            inflight = job
            if inflight is None and not group and self._stopping:
                with self._cv:
                    if not self._queue:
                        return

    def _db(self):
        if self.con is None:
            if self._connect is None:
                raise StoreError("the loader has no database connection")
            self.con = self._connect()
        return self.con

    def _start(self, group: list[_Queued]) -> _Job:
        """Set a group on its way: batches committed before are skipped (a replay after a crash
        between commit and unlink), the rest are prepared in the worker process or inline."""
        job = _Job(group, [])
        with self._cv:
            self._jobs.append(job)
            for q in group:
                if q.held is not None:
                    self._held -= len(q.held.raw)
        try:
            cur = self._db().cursor()
            try:
                done = loader.already_loaded(cur, [q.entry.batch_id for q in group])
                rules = attribution.load_rules(cur)
                policy = content.policy(cur)
            finally:
                cur.close()
        except Exception as exc:  # the database cannot be read now: the group waits its turn
            job.value = exc
            return job
        job.skipped = [q for q in group if q.entry.batch_id in done]
        todo = [q for q in group if q.entry.batch_id not in done]
        items = [
            SpooledRequest(
                q.entry.name,
                str(q.entry.path),
                q.held.raw if q.held is not None else None,
                q.held.encoding if q.held is not None else None,
                q.entry.batch_id,
                q.entry.received_at,
                q.entry.kind,
            )
            for q in todo
        ]
        job.items, job.rules, job.policy = items, rules, policy
        for q in group:
            q.held = None  # the job's items hold the body now; a retry reads the spool
        if not items:
            job.value = (None, [])
            return job
        spans = sum(q.spans for q in todo)
        pool = self._worker() if spans >= PROCESS_MIN_SPANS else None
        if pool is not None:
            try:
                job.future = pool.submit(prepare_group, items, rules, policy)
                self.decode_in_process += 1
                return job
            except (BrokenProcessPool, RuntimeError, OSError) as exc:
                self._drop_worker(exc)
        try:
            job.value = prepare_group(items, rules, policy)
        except Exception as exc:
            job.value = exc
        return job

    def _worker(self):
        if self._pool is None and not self._pool_failed and (os.cpu_count() or 1) > 1:
            try:
                self._pool = workers.worker_pool(1, LOADER_NICE)
            except (OSError, RuntimeError) as exc:
                self._drop_worker(exc)
        return self._pool

    def _drop_worker(self, exc) -> None:
        log.warning("decode worker process unavailable (%s); decoding in-process", exc)
        self._pool_failed = True
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def _finish(self, job: _Job, skip: bool = False) -> bool:
        """Commit a prepared group; False when it failed (its batches are back in the queue)."""
        try:
            if skip:
                self._requeue_after_failure(job.group, transient=True)
                return False
            try:
                value = job.result()
            except (BrokenProcessPool, OSError) as exc:  # the worker died: redo this group here
                self._drop_worker(exc)
                try:
                    value = prepare_group(job.items, job.rules, job.policy)
                except Exception as exc2:
                    value = exc2
            except Exception as exc:
                value = exc
            if isinstance(value, BaseException):
                self._failed(job.group, value)
                return False
            prepared, failures = value
            return self._commit(job, prepared, failures)
        finally:
            with self._cv:
                if job in self._jobs:
                    self._jobs.remove(job)
                self._cv.notify_all()

    def _failed(self, group: list[_Queued], exc: BaseException) -> None:
        self.load_failures += 1
        self.last_load_error = f"{type(exc).__name__}: {exc}"
        log.warning("loading %d spooled batch(es) failed: %s", len(group), self.last_load_error)
        self._requeue_after_failure(group, transient=is_transient(exc))

    def _commit(self, job: _Job, prepared, failures) -> bool:
        by_name = {q.entry.name: q for q in job.group}
        gone, retry = set(), []
        for f in failures:
            gone.add(f.name)
            if f.reason is None:
                continue
            if f.transient:
                retry.append(by_name[f.name])
                self.last_load_error = f.reason
            else:
                self._quarantine(by_name[f.name], f.reason)
        rest = [q for q in job.group if q.entry.name not in gone]
        result = loader.LoadResult()
        if prepared is not None:
            try:
                result = loader.commit_prepared(self._db(), [prepared])
            except Exception as exc:  # DuckDB busy/conflict, disk full, a bad value: keep the files
                self._failed(rest + retry, exc)
                return False
        if retry:
            self._requeue_after_failure(retry, transient=True)
        if rest:
            try:
                self.spool.remove([q.entry for q in rest])
            except OSError as exc:  # committed (and logged): a replay skips them; unlink later
                self._failed(rest, exc)
                return False
        if not rest:
            return not retry
        if not retry:
            self.last_load_error = None
        for q in rest:
            self._attempts.pop(q.entry.name, None)
        now = time.time()
        self.loaded_spans += result.spans_new
        self.loaded_batches += len(rest)
        self.last_loaded_at = now
        self._loaded_recent.append((now, result.spans_new))
        while self._loaded_recent and self._loaded_recent[0][0] < now - 10:
            self._loaded_recent.popleft()
        for cb in list(self.on_loaded):
            try:
                cb()
            except Exception:  # a listener's bug must not stop loading
                log.exception("on_loaded callback failed")
        self._checkpoint()
        return not retry

    def _checkpoint(self) -> None:
        """Take the checkpoint this load made due here, so it does not land on the next small
        transaction (an alert being recorded); see store/wal.py."""
        try:
            took = wal.checkpoint_if_due(self._db(), self.checkpoint_bytes)
        except duckdb.Error as exc:  # the data is committed; DuckDB checkpoints on a later commit
            log.warning("checkpoint after a load failed: %s", exc)
            return
        if took is not None:
            self.checkpoints += 1
            self.last_checkpoint_s = took

    def _requeue_after_failure(self, group: list[_Queued], transient: bool) -> None:
        """Put a failed group back at the front. A fault of the machine keeps every batch (its
        attempts are not counted); otherwise the group is retried one batch per transaction, and
        a batch that fails alone MAX_ATTEMPTS times is quarantined."""
        keep = []
        for q in group:
            q.held = None
            if not transient:
                n = self._attempts[q.entry.name] = self._attempts.get(q.entry.name, 0) + 1
                if n >= MAX_ATTEMPTS and len(group) == 1:
                    self._quarantine(q, f"loading failed {n} times: {self.last_load_error}")
                    continue
            keep.append(q)
        with self._cv:
            for q in reversed(keep):
                self._queue.appendleft(q)
            if not transient and len(keep) > 1:
                self._single_next = len(keep)
            self._cv.notify_all()

    def _quarantine(self, q: _Queued, reason: str) -> None:
        entry = q.entry
        log.error("moving %s to %s: %s", entry.name, self.spool.failed_dir, reason)
        try:
            self.spool.quarantine(entry, reason)
        except OSError as exc:  # the spool refuses now: keep the batch in line, try again later
            self.last_load_error = f"cannot quarantine {entry.name}: {exc}"
            log.warning("%s", self.last_load_error)
            with self._cv:
                self._queue.append(q)
            return
        self.quarantined += 1
        self.last_load_error = reason
        self._attempts.pop(entry.name, None)

    # ------------------------------------------------------------ status
    def _policy_now(self) -> str | None:
        cur = None
        try:
            cur = self.con.cursor() if self.con is not None else None
            return content.policy(cur)
        except Exception:  # stats never fail (a bad env var is reported by start)
            return None
        finally:
            if cur is not None:
                cur.close()

    def stats(self) -> dict:
        c = self.receiver.counters if self.receiver else None
        g = self.grpc.counters if self.grpc else None
        now = time.time()
        loaded_recent = sum(n for t, n in self._loaded_recent if t >= now - 10)
        last_error = self.last_load_error or (c.last_error if c else None)
        server = self.receiver._server if self.receiver else None
        return {
            "running": self._running,
            "loader_alive": bool(self._thread and self._thread.is_alive()),
            "host": self.host,
            "port": self.port,
            "endpoint": f"http://{self.host}:{self.port}/v1/traces",
            "spool_dir": str(self.spool_dir),
            "requests": (c.requests if c else 0) + (g.requests if g else 0),
            "accepted_spans": (c.accepted_spans if c else 0) + (g.accepted_spans if g else 0),
            "rejected_spans": (c.rejected_spans if c else 0) + (g.rejected_spans if g else 0),
            "accepted_logs": (c.accepted_logs if c else 0) + (g.accepted_logs if g else 0),
            "rejected_logs": (c.rejected_logs if c else 0) + (g.rejected_logs if g else 0),
            "grpc_endpoint": f"{self.host}:{self.grpc_port}" if self.grpc else None,
            "grpc_requests": g.requests if g else 0,
            "grpc_errors_by_code": dict(g.errors_by_status) if g else {},
            "grpc_error": self.grpc_error,
            "content_policy": self._policy_now(),
            "errors_by_status": dict(c.errors_by_status) if c else {},
            "spans_per_s": (c.spans_per_s() if c else 0.0) + (g.spans_per_s() if g else 0.0),
            "loaded_spans": self.loaded_spans,
            "loaded_spans_per_s": loaded_recent / 10.0,
            "pending_batches": self.pending(),
            "spool_bytes": self.spool.bytes if self.spool else 0,
            "spool_max_bytes": self.spool_max_bytes,
            "held_bytes": self._held,
            "open_connections": server.open_connections() if server else 0,
            "inflight_bytes": server.budget.used if server else 0,
            "quarantined_batches": self.quarantined,
            "quarantine_waiting": _count_failed(self.spool.failed_dir) if self.spool else 0,
            "load_failures": self.load_failures,
            "loader_restarts": self.loader_restarts,
            "last_error": last_error,
            "last_request_at": c.last_request_at if c else None,
            "last_loaded_at": self.last_loaded_at,
            "checkpoints": self.checkpoints,
            "last_checkpoint_s": self.last_checkpoint_s,
        }


def _count_failed(folder: Path) -> int:
    try:
        return sum(1 for p in folder.iterdir() if not p.name.endswith(".reason"))
    except OSError:
        return 0


def load_spool(con, spool_dir, timeout: float | None = None) -> dict:
    """Load every request waiting in a spool once, with no receiver (the CLI's `quarantine retry`,
    or a spool left by a server that is gone). What still fails is quarantined again or, for a
    fault that lasts, left in the spool. Returns loaded_batches, loaded_spans, quarantined,
    pending and last_error."""
    svc = Service(con, spool_dir=spool_dir, db_path=None)
    svc.start(receiver=False)
    svc.stop(timeout)
    return {
        "loaded_batches": svc.loaded_batches,
        "loaded_spans": svc.loaded_spans,
        "quarantined": svc.quarantined,
        "pending": svc.pending(),
        "pending_batches": svc.pending(),
        "last_error": svc.last_load_error,
    }
