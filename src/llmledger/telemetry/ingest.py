"""Import trace files: OTLP/JSON (.json), Collector file-exporter JSON Lines (.jsonl, .ndjson),
serialized requests (.pb, .binpb, .protobuf), each optionally gzip-compressed (.gz).

- Folders are walked recursively for files with those extensions; a file named explicitly is
  always tried, so an unknown extension becomes a reject rather than being skipped silently.
- A broken file (bad gzip, truncated JSON, not protobuf, unreadable) becomes one reject naming
  the file and the reason; the import goes on. A bad span or line inside a good file is a reject
  too, and the rest of the file is kept.
- JSON Lines are read in chunks of about CHUNK_BYTES, so memory stays bounded whatever the file
  size. A single request (.json, .pb) is decoded whole and loaded CHUNK_SPANS spans at a time.
- Each chunk is one transaction with batch id `file:<sha256 of the file>:<chunk>`, so importing
  the same file again adds nothing (reported as duplicates), and an import interrupted halfway
  resumes where it stopped.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import zlib
from pathlib import Path
from typing import Callable, Iterable, Iterator

import duckdb

from llmledger.errors import LedgerError, PayloadError, StoreError
from llmledger.telemetry import loader, otlp

JSONL = (".jsonl", ".ndjson")
JSON = (".json",)
PROTOBUF = (".pb", ".binpb", ".protobuf")
EXTENSIONS = JSONL + JSON + PROTOBUF
CHUNK_BYTES = 16 * 1024 * 1024
CHUNK_SPANS = 50_000
GROUP_SPANS = 50_000

Progress = Callable[[int, int, str], None]


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
            out.extend(sorted(
                f for f in p.rglob("*")
                if f.is_file() and not any(part.startswith(".") for part in f.relative_to(p).parts)
                and kind_of(f.name)[0] is not None
            ))
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


def ingest_paths(con: duckdb.DuckDBPyConnection, paths: Iterable[str | Path],
                 progress: Progress | None = None) -> loader.LoadResult:
    """Import files and folders; progress(done_bytes, total_bytes, message) as it goes."""
    files = expand(paths)
    sizes = [_size(f) for f in files]
    tick = _Ticker(sum(sizes), progress)
    group = _Group(con, tick)
    for f, size in zip(files, sizes):
        _one(con, str(f), lambda f=f: open(f, "rb"), size, f"file:{f.name}", group, tick)
    group.flush()
    if progress:
        progress(tick.total, tick.total, f"done: {len(files)} file(s)")
    return group.result


def ingest_blobs(con: duckdb.DuckDBPyConnection, blobs: Iterable[tuple[str, bytes]], source: str,
                 progress: Progress | None = None) -> loader.LoadResult:
    """Import in-memory files (uploads): (name, bytes) pairs, typed by their names like files."""
    blobs = list(blobs)
    tick = _Ticker(sum(len(b) for _, b in blobs), progress)
    group = _Group(con, tick)
    for name, data in blobs:
        _one(con, name, lambda d=data: io.BytesIO(d), len(data), f"{source}:{name}", group, tick)
    group.flush()
    if progress:
        progress(tick.total, tick.total, f"done: {len(blobs)} file(s)")
    return group.result


def _size(p: Path) -> int:
    try:
        return p.stat().st_size
    except OSError:
        return 0


class _Group:
    """Chunks of one or more files, committed together once GROUP_SPANS spans are waiting.

    One transaction per chunk would spend most of the time on per-transaction work (commit,
    attribution, duplicate checks) when files are small; each chunk keeps its own batch id.
    """

    def __init__(self, con, tick: _Ticker):
        self.con, self.tick = con, tick
        self.result = loader.LoadResult()
        self.batches: list[loader.Batch] = []
        self.ids: set[str] = set()
        self.spans = 0

    def add(self, batch: loader.Batch) -> None:
        if batch.batch_id in self.ids:  # the same content twice in one import
            self.result.add(loader.LoadResult(spans_read=len(batch.decoded.spans) + len(batch.decoded.rejects),
                                              duplicates=len(batch.decoded.spans)))
            return
        self.batches.append(batch)
        self.ids.add(batch.batch_id)
        self.spans += len(batch.decoded.spans)
        if self.spans >= GROUP_SPANS:
            self.flush()

    def flush(self) -> None:
        if not self.batches:
            return
        try:
            self.result.add(loader.load_batches(self.con, self.batches))
        except duckdb.Error as exc:
            raise StoreError(f"loading {len(self.batches)} chunk(s) failed: {exc}") from exc
        self.tick(0, f"loaded {self.result.spans_new} new spans")
        self.batches, self.ids, self.spans = [], set(), 0


def _one(con, name: str, opener, size: int, source: str, group: _Group, tick: _Ticker) -> None:
    """Queue one file's chunks on `group`; every file-level failure becomes a reject."""
    kind, gz = kind_of(name)
    before = tick.done
    result = group.result
    try:
        if kind is None:
            raise PayloadError("unknown file type (expected .json, .jsonl, .pb, optionally .gz)")
        digest = _sha256(opener)

        def known(index: int) -> _Known | None:
            rows = con.cursor().execute(
                "SELECT spans_read, rejects FROM ingest_log WHERE batch_id = ?", [f"file:{digest}:{index}"]
            ).fetchall()
            return _Known(rows[0][0] - rows[0][1], rows[0][0]) if rows else None

        if kind == "jsonl":
            chunks = _jsonl_chunks(opener, gz, tick, known)
        else:
            chunks = _whole_chunks(opener, kind, gz)
        for index, decoded in chunks:
            if isinstance(decoded, _Known):  # imported before: count, don't decode or load
                result.duplicates += decoded.spans
                result.spans_read += decoded.read
                continue
            decoded.rejects = [f"{name}: {r}" for r in decoded.rejects]
            group.add(loader.Batch(decoded, f"file:{digest}:{index}", source))
        result.files_read += 1
    except PayloadError as exc:
        result.files_failed += 1
        msg = exc.msg if exc.msg.startswith(name) else f"{name}: {exc.msg}"
        result.rejects.append(msg)
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        result.files_failed += 1
        result.rejects.append(f"{name}: cannot read ({exc})")
    tick(max(0, size - (tick.done - before)), f"{name}: read")


class _Known:
    """A chunk whose batch id is already in ingest_log: skipped without decoding."""

    def __init__(self, spans: int, read: int):
        self.spans, self.read = spans, read


def _sha256(opener) -> str:
    h = hashlib.sha256()
    with opener() as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()[:32]


def _open_text(raw, gz: bool):
    return gzip.GzipFile(fileobj=raw, mode="rb") if gz else raw


def _whole_chunks(opener, kind: str, gz: bool) -> Iterator[tuple[int, otlp.Decoded]]:
    """A single request: decoded whole, handed out CHUNK_SPANS spans at a time."""
    with opener() as raw:
        data = raw.read()
    if gz:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise PayloadError(f"not valid gzip ({exc})") from exc
    if kind == "protobuf":
        decoded = otlp.decode_protobuf(data)
        if not decoded.spans and not decoded.rejects and data:
            raise PayloadError("not an OTLP ExportTraceServiceRequest (no resource spans found)")
    else:
        decoded = otlp.decode_json(data)
    del data
    spans, rejects = decoded.spans, decoded.rejects
    if not spans:
        yield 0, otlp.Decoded([], rejects)
        return
    for index, start in enumerate(range(0, len(spans), CHUNK_SPANS)):
        yield index, otlp.Decoded(spans[start:start + CHUNK_SPANS], rejects if index == 0 else [])


def _jsonl_chunks(opener, gz: bool, tick: _Ticker, known) -> Iterator[tuple[int, otlp.Decoded | _Known]]:
    """JSON Lines in chunks of about CHUNK_BYTES of text (boundaries depend only on content)."""
    with opener() as raw:
        stream = _open_text(raw, gz)
        index, first_line, line_no = 0, 1, 0
        lines: list[bytes] = []
        size = 0
        last_pos = 0
        try:
            for line in stream:
                line_no += 1
                lines.append(line)
                size += len(line)
                if size >= CHUNK_BYTES:
                    yield index, known(index) or otlp.decode_jsonl(lines, first_line)
                    last_pos = _advance(raw, last_pos, tick, index)
                    index, first_line, lines, size = index + 1, line_no + 1, [], 0
        except (OSError, EOFError, zlib.error) as exc:
            if gz and index == 0 and not lines:
                raise PayloadError(f"not valid gzip ({exc})") from exc
            lines.append(b"")  # keep what was read; report the damage as a reject below
            tail = otlp.decode_jsonl(lines, first_line)
            tail.rejects.append(f"line {line_no + 1}: file is damaged past this point ({exc})")
            yield index, tail
            return
        if lines or index == 0:
            yield index, known(index) or otlp.decode_jsonl(lines, first_line)
            _advance(raw, last_pos, tick, index)


def _advance(raw, last_pos: int, tick: _Ticker, index: int) -> int:
    try:
        pos = raw.tell()
    except (OSError, ValueError):
        return last_pos
    tick(pos - last_pos, f"chunk {index + 1}")
    return pos
