"""Import trace and log files: OTLP/JSON (.json), Collector file-exporter JSON Lines (.jsonl,
.ndjson; `{"resourceSpans": ...}` or `{"resourceLogs": ...}` lines), serialized requests (.pb,
.binpb, .protobuf: ExportTraceServiceRequest or ExportLogsServiceRequest), each optionally
gzip-compressed (.gz). Log records become GenAI events (see logs.py) or are counted and dropped.

- Folders are walked recursively for files with those extensions; a file named explicitly is
  always tried, so an unknown extension becomes a reject rather than being skipped silently.
- A broken file (bad gzip, truncated JSON, not protobuf, unreadable) becomes one reject naming
  the file and the reason; the import goes on. A bad span or line inside a good file is a reject
  too, and the rest of the file is kept.
- JSON Lines are read in chunks of about CHUNK_BYTES, so memory stays bounded whatever the file
  size. A single request (.json, .pb) is decoded whole and loaded CHUNK_SPANS spans at a time.
- Each chunk has the batch id `file:<sha256 of the file>:<chunk>`, logged in ingest_log in the
  transaction that loads it, so importing the same file again adds nothing (reported as
  duplicates), and an import interrupted halfway resumes where it stopped. Small chunks (many
  small files) share a transaction, up to IMPORT_GROUP_SPANS spans.
- Decoding and mapping are pure Python and CPU-bound, so large imports run them in worker
  processes (spawned: DuckDB's threads make fork unsafe) while this process only commits.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
import os
import zlib
from collections import deque
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Callable, Iterable

import duckdb

from llmledger.errors import LedgerError, PayloadError, StoreError
from llmledger.telemetry import attribution, loader, otlp
from llmledger.telemetry.workers import worker_pool

JSONL = (".jsonl", ".ndjson")
JSON = (".json",)
PROTOBUF = (".pb", ".binpb", ".protobuf")
EXTENSIONS = JSONL + JSON + PROTOBUF
CHUNK_BYTES = 16 * 1024 * 1024
CHUNK_SPANS = 50_000
IMPORT_GROUP_SPANS = 50_000
#: Imports smaller than this decode in this process (worker start-up would cost more).
PARALLEL_MIN_BYTES = 8 * 1024 * 1024
#: Input bytes handed to workers and not yet committed (bounds memory in parallel imports).
INFLIGHT_BYTES = 96 * 1024 * 1024

Progress = Callable[[int, int, str], None]
log = logging.getLogger(__name__)


def kind_of(name: str) -> tuple[str | None, bool]:
    """('jsonl'|'json'|'protobuf'|None, gzipped) from a file name."""
    lower = name.lower()
    gz = lower.endswith(".gz")
    if gz:
        lower = lower[:-3]
    if lower.endswith(JSONL):
        return "jsonl", gz
    if lower.endswith(JSON):
        return "json", gz
    if lower.endswith(PROTOBUF):
        return "protobuf", gz
    return None, gz


def expand(paths: Iterable[str | Path]) -> list[Path]:
    """Files to import, in a stable order. Raises LedgerError naming a path that does not exist."""
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            out.extend(
                sorted(
                    f
                    for f in p.rglob("*")
                    if f.is_file()
                    and not any(part.startswith(".") for part in f.relative_to(p).parts)
                    and kind_of(f.name)[0] is not None
                )
            )
        elif p.is_file():
            out.append(p)
        else:
            raise LedgerError(f"{raw}: no such file or directory", title="Nothing to import")
    return out


class _Ticker:
    def __init__(self, total: int, progress: Progress | None):
        self.total, self.done, self.progress = total, 0, progress

    def __call__(self, advance: int, message: str) -> None:
        self.done = min(self.total, self.done + advance)
        if self.progress:
            self.progress(self.done, self.total, message)


def ingest_paths(
    con: duckdb.DuckDBPyConnection,
    paths: Iterable[str | Path],
    progress: Progress | None = None,
    workers: int | None = None,
) -> loader.LoadResult:
    """Import files and folders; progress(done_bytes, total_bytes, message) as it goes.

    Large imports decode in `workers` processes (default: one per CPU, at most 4); DuckDB writes
    stay in this process, in the order the files were given."""
    files = expand(paths)
    sizes = [_size(f) for f in files]
    tick = _Ticker(sum(sizes), progress)
    with _Pipeline(con, tick, _workers(workers, tick.total)) as pipe:
        for f, size in zip(files, sizes):
            pipe.file(str(f), lambda f=f: open(f, "rb"), size, f"file:{f.name}", path=str(f))
    if progress:
        progress(tick.total, tick.total, f"done: {len(files)} file(s)")
    return pipe.result


def ingest_blobs(
    con: duckdb.DuckDBPyConnection,
    blobs: Iterable[tuple[str, bytes]],
    source: str,
    progress: Progress | None = None,
    workers: int | None = None,
) -> loader.LoadResult:
    """Import in-memory files (uploads): (name, bytes) pairs, typed by their names like files.

    Runs in this process unless `workers` asks for more (a web server's process is no place to
    spawn workers by default)."""
    blobs = list(blobs)
    tick = _Ticker(sum(len(b) for _, b in blobs), progress)
    with _Pipeline(con, tick, workers or 1) as pipe:
        for name, data in blobs:
            pipe.file(name, lambda d=data: io.BytesIO(d), len(data), f"{source}:{name}", blob=data)
    if progress:
        progress(tick.total, tick.total, f"done: {len(blobs)} file(s)")
    return pipe.result


def _workers(asked: int | None, total_bytes: int) -> int:
    if asked is not None:
        return max(1, asked)
    if total_bytes < PARALLEL_MIN_BYTES:
        return 1  # starting processes costs more than it saves
    return max(1, min(os.cpu_count() or 1, 4))


def _size(p: Path) -> int:
    try:
        return p.stat().st_size
    except OSError:
        return 0


# ---------------------------------------------------------------- work done in worker processes
# Each returns (list of loader.Prepared, file-level reject or None); nothing here touches DuckDB.


def _work_jsonl(
    name: str, source: str, digest: str, index: int, first_line: int, blob: bytes, damage: str | None, rules
) -> tuple[list, str | None]:
    with loader.gc_paused():
        return _jsonl_chunk(name, source, digest, index, first_line, blob, damage, rules)


def _jsonl_chunk(name, source, digest, index, first_line, blob, damage, rules) -> tuple[list, str | None]:
    decoded = otlp.decode_jsonl(blob.split(b"\n"), first_line)
    if damage:
        decoded.rejects.append(damage)
    decoded.rejects = [f"{name}: {r}" for r in decoded.rejects]
    return [loader.prepare([loader.Batch(decoded, f"file:{digest}:{index}", source)], rules)], None


def _work_whole(
    name: str, source: str, digest: str, kind: str, gz: bool, path: str | None, blob: bytes | None, rules
) -> tuple[list, str | None]:
    """A single request (.json or .pb): decoded whole, prepared CHUNK_SPANS spans at a time."""
    with loader.gc_paused():
        return _whole_file(name, source, digest, kind, gz, path, blob, rules)


def _whole_file(name, source, digest, kind, gz, path, blob, rules) -> tuple[list, str | None]:
    try:
        data = blob if blob is not None else Path(path).read_bytes()
        if gz:
            data = otlp.gunzip(data)  # the receiver's reader: same verdict on the same bytes
        if kind == "protobuf":
            decoded = otlp.decode_protobuf_file(data)  # a trace or a logs export
            if not decoded.spans and not decoded.rejects and not decoded.logs_read and data:
                raise PayloadError("not an OTLP ExportTraceServiceRequest (no resource spans found)")
        else:
            decoded = otlp.decode_json(data)
    except PayloadError as exc:
        return [], exc.msg if exc.msg.startswith(name) else f"{name}: {exc.msg}"
    except OSError as exc:
        return [], f"{name}: cannot read ({exc})"
    except Exception as exc:  # hostile input must stay a reject, never stop the import
        return [], f"{name}: cannot decode ({exc!r})"
    del data
    spans, rejects = decoded.spans, [f"{name}: {r}" for r in decoded.rejects]
    out = []
    for index, start in enumerate(range(0, max(1, len(spans)), CHUNK_SPANS)):
        chunk = otlp.Decoded(spans[start : start + CHUNK_SPANS], rejects if index == 0 else [])
        if index == 0:  # a logs export comes whole, in the first chunk
            chunk.logs, chunk.logs_read = decoded.logs, decoded.logs_read
            chunk.logs_dropped, chunk.log_rejects = decoded.logs_dropped, decoded.log_rejects
        out.append(loader.prepare([loader.Batch(chunk, f"file:{digest}:{index}", source)], rules))
    return out, None


# ---------------------------------------------------------------- the pipeline in this process


class _Done:
    """A finished result that looks like a Future (the inline, single-process case)."""

    def __init__(self, value):
        self.value = value

    def result(self):
        return self.value


class _Pipeline:
    """Reads files, has chunks prepared (inline or in worker processes), and commits them in
    submission order, several chunks per transaction (IMPORT_GROUP_SPANS), each under its own batch id."""

    def __init__(self, con, tick: _Ticker, workers: int):
        self.con, self.tick, self.workers = con, tick, workers
        self.rules = attribution.load_rules(con)
        self.result = loader.LoadResult()
        self.pool = None
        if workers > 1:
            self.pool = worker_pool(workers)
        self.inflight: deque = deque()
        self.inflight_bytes = 0
        self.pending: list[loader.Prepared] = []
        self.pending_ids: set[str] = set()
        self.pending_spans = 0

    def __enter__(self) -> "_Pipeline":
        return self

    def __exit__(self, exc_type, *rest) -> None:
        try:
            if exc_type is None:
                while self.inflight:
                    self._collect()
                self._flush()
        finally:
            if self.pool:
                self.pool.shutdown(cancel_futures=True)

    # -------------------------------------------------------- reading
    def file(
        self, name: str, opener, size: int, source: str, path: str | None = None, blob: bytes | None = None
    ) -> None:
        """Queue one file's chunks; every file-level failure becomes a reject."""
        kind, gz = kind_of(name)
        try:
            if kind is None:
                raise PayloadError("unknown file type (expected .json, .jsonl, .pb, optionally .gz)")
            digest = _sha256(opener)
            if kind == "jsonl":
                self._jsonl(name, opener, gz, size, source, digest)
            else:
                self.result.files_read += 1  # undone if the worker rejects the file
                self._submit(_work_whole, (name, source, digest, kind, gz, path, blob), size, name)
                return
            self.result.files_read += 1
        except PayloadError as exc:
            self.result.files_failed += 1
            self.result.rejects.append(exc.msg if exc.msg.startswith(name) else f"{name}: {exc.msg}")
            self.tick(size, f"{name}: rejected")
        except (OSError, EOFError, zlib.error) as exc:
            self.result.files_failed += 1
            self.result.rejects.append(f"{name}: cannot read ({exc})")
            self.tick(size, f"{name}: rejected")

    def _known(self, digest: str, index: int) -> tuple[int, int] | None:
        rows = (
            self.con.cursor()
            .execute("SELECT spans_read, rejects FROM ingest_log WHERE batch_id = ?", [f"file:{digest}:{index}"])
            .fetchall()
        )
        return (rows[0][0] - rows[0][1], rows[0][0]) if rows else None

    def _jsonl(self, name: str, opener, gz: bool, size: int, source: str, digest: str) -> None:
        """JSON Lines in chunks of about CHUNK_BYTES (boundaries depend only on the content)."""
        with opener() as raw:
            stream = gzip.GzipFile(fileobj=raw, mode="rb") if gz else raw
            index, first_line, line_no, lines, nbytes, last_pos = 0, 1, 0, [], 0, 0
            damage = None
            try:
                for line in stream:
                    line_no += 1
                    lines.append(line)
                    nbytes += len(line)
                    if nbytes >= CHUNK_BYTES:
                        last_pos = self._chunk(name, source, digest, index, first_line, lines, None, raw, last_pos)
                        index, first_line, lines, nbytes = index + 1, line_no + 1, [], 0
            except (OSError, EOFError, zlib.error) as exc:
                if gz and index == 0 and not lines:
                    raise PayloadError(f"not valid gzip ({exc})") from exc
                damage = f"line {line_no + 1}: file is damaged past this point ({exc})"
            if lines or index == 0 or damage:
                self._chunk(name, source, digest, index, first_line, lines, damage, raw, last_pos, size)

    def _chunk(self, name, source, digest, index, first_line, lines, damage, raw, last_pos, size=None) -> int:
        try:
            pos = raw.tell() if size is None else size
        except (OSError, ValueError):
            pos = last_pos
        known = None if damage else self._known(digest, index)
        if known:  # imported before: count it, don't decode or load it again
            self.result.duplicates += known[0]
            self.result.spans_read += known[1]
            self.tick(pos - last_pos, f"{name}: chunk {index + 1} already imported")
        else:
            self._submit(
                _work_jsonl,
                (name, source, digest, index, first_line, b"".join(lines), damage),
                pos - last_pos,
                f"{name}: chunk {index + 1}",
            )
        return pos

    # -------------------------------------------------------- preparing and committing
    def _submit(self, fn, args: tuple, advance: int, label: str) -> None:
        if self.pool:
            self.inflight.append((self.pool.submit(fn, *args, self.rules), advance, label, fn, args))
        else:
            self.inflight.append((_Done(fn(*args, self.rules)), advance, label, fn, args))
        self.inflight_bytes += advance
        # Keep workers busy while this process commits: bound the work in flight by input bytes
        # (memory), not by count, so many small files still overlap with a commit.
        while self.inflight and (
            self.inflight_bytes > INFLIGHT_BYTES or len(self.inflight) > 64 * self.workers or not self.pool
        ):
            self._collect()

    def _collect(self) -> None:
        fut, advance, label, fn, args = self.inflight.popleft()
        self.inflight_bytes -= advance
        try:
            prepared, reject = fut.result()
        except (BrokenProcessPool, OSError) as exc:
            # Workers could not start or died (e.g. a caller's script without a __main__ guard
            # under spawn): finish this import in this process rather than fail it.
            if self.pool:  # said once: the other chunks in flight fail the same way
                log.warning("ingest worker processes failed (%s); continuing in-process", exc)
                self.pool.shutdown(wait=False, cancel_futures=True)
                self.pool = None
            prepared, reject = fn(*args, self.rules)
        if reject:
            self.result.files_read -= 1
            self.result.files_failed += 1
            self.result.rejects.append(reject)
        for p in prepared:
            meta = p.metas[0]
            batch_id, n_spans, rejects = meta.batch_id, meta.n_spans, meta.rejects
            if batch_id in self.pending_ids:  # the same content twice in one import
                self._count_duplicate(n_spans, rejects)
                continue
            self.pending.append(p)
            self.pending_ids.add(batch_id)
            self.pending_spans += n_spans
            if self.pending_spans >= IMPORT_GROUP_SPANS:
                self._flush()
        self.tick(advance, label)

    def _count_duplicate(self, n_spans: int, rejects: list[str]) -> None:
        self.result.spans_read += n_spans + len(rejects)
        self.result.duplicates += n_spans
        self.result.rejects.extend(rejects)

    def _flush(self) -> None:
        if not self.pending:
            return
        todo, self.pending, self.pending_ids, self.pending_spans = self.pending, [], set(), 0
        done = loader.already_loaded(self.con.cursor(), [p.metas[0].batch_id for p in todo])
        fresh = []
        for p in todo:
            if p.metas[0].batch_id in done:
                self._count_duplicate(p.metas[0].n_spans, p.metas[0].rejects)
            else:
                fresh.append(p)
        if not fresh:
            return
        try:
            self.result.add(loader.commit_prepared(self.con, fresh))
        except duckdb.Error as exc:
            raise StoreError(f"loading {len(fresh)} chunk(s) failed: {exc}") from exc


def _sha256(opener) -> str:
    h = hashlib.sha256()
    with opener() as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()[:32]
