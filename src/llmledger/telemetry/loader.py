"""Move decoded spans into DuckDB: one transaction per batch, idempotent on (trace_id, span_id).

A batch that was already committed (same batch_id, e.g. a spool file replayed after a crash
between commit and unlink) adds nothing; so does any span already stored.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from llmledger.telemetry import attribution, conventions, otlp
from llmledger.telemetry.conv_common import InvalidValue
from llmledger.telemetry.otlp import Decoded, Span

DEMO_ATTRIBUTE = "llmledger.demo"
log = logging.getLogger(__name__)


# ---------------------------------------------------------------- worker processes
def worker_pool(workers: int, nice: int = 0):
    """Processes that decode and map (ingest, the receiver's loader). Spawned, not forked: the
    creating process has DuckDB's threads running. Each runs at least at niceness `nice` and
    exits if this process dies."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=worker_init, initargs=(os.getpid(), nice))


def lower_priority(thread_id: int, nice: int) -> None:
    """Niceness at least `nice` for one thread (0: the caller; Linux keeps niceness per thread),
    so decoding and loading yield the CPU to the receiver's threads."""
    try:
        os.setpriority(os.PRIO_PROCESS, thread_id, max(os.getpriority(os.PRIO_PROCESS, thread_id), nice))
    except (OSError, AttributeError):  # not permitted, or no such call on this platform
        pass


def worker_init(parent: int, nice: int = 0) -> None:
    """Initializer of decode worker processes (`parent`: the creating process's pid, passed
    along because it may be gone before this runs). A worker whose parent was killed (kill -9,
    OOM) would block forever handing its result to nobody; it exits instead."""
    if nice:
        lower_priority(0, nice)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


@dataclass
class LoadResult:
    spans_read: int = 0
    spans_new: int = 0
    duplicates: int = 0
    calls_new: int = 0
    rejects: list[str] = field(default_factory=list)
    already_loaded: bool = False
    files_read: int = 0  # file imports: files that could be read (even partly)
    files_failed: int = 0  # file imports: files rejected whole

    def add(self, other: "LoadResult") -> None:
        self.files_read += other.files_read
        self.files_failed += other.files_failed
        self.spans_read += other.spans_read
        self.spans_new += other.spans_new
        self.duplicates += other.duplicates
        self.calls_new += other.calls_new
        self.rejects.extend(other.rejects)

    def as_dict(self) -> dict:
        return {
            "spans_read": self.spans_read,
            "spans_new": self.spans_new,
            "llm_calls": self.calls_new,
            "duplicates_skipped": self.duplicates,
            "rejected": len(self.rejects),
            "reject_reasons": self.rejects[:100],
            "files_read": self.files_read,
            "files_failed": self.files_failed,
        }


_TS = pa.timestamp("ns", tz="UTC")
gc_paused = otlp.gc_paused  # re-exported: the ingest paths use it around decode + prepare


def _is_demo(resource: dict) -> bool:
    v = resource.get(DEMO_ATTRIBUTE)
    return v is True or str(v).lower() in ("true", "1")


try:
    import orjson

    _OPTS = orjson.OPT_NON_STR_KEYS

    def _dumps(obj) -> str:
        # orjson also writes NaN/Infinity as null, which keeps the JSON columns valid.
        try:
            return orjson.dumps(obj, default=str, option=_OPTS).decode()
        except TypeError:  # e.g. an integer past 64 bits
            return _std_dumps(obj)
except ImportError:  # pragma: no cover
    def _dumps(obj) -> str:
        return _std_dumps(obj)


def _std_dumps(obj) -> str:
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False, default=str)
    # The stdlib writes NaN/Infinity, which is not JSON; DuckDB's JSON type would refuse the batch.
    return text if "NaN" not in text and "Infinity" not in text else json.dumps(
        json.loads(text, parse_constant=lambda _: None), separators=(",", ":"), ensure_ascii=False)


_CALL_FIELDS = ("provider", "operation", "request_model", "response_model", "input_tokens",
                "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens",
                "usage_source", "convention", "status", "input_text", "output_text")
_INT_COLS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")
_STR_COLS = ("reported_cost_usd", "level", *attribution._DIMS, "input_text", "output_text", "provider", "operation", "request_model",
             "response_model", "parent_span_id", "status_message", "events", "batch_id", "service", "name",
             "kind", "status_code", "scope_name", "scope_version", "resource", "attributes", "usage_source",
             "convention", "status", "trace_id", "span_id")


def _column(name: str, values: list) -> pa.Array:
    if name in ("start_ns", "end_ns"):
        return pa.array(values, _TS)
    if name in _INT_COLS:
        return pa.array(values, pa.int64())
    if name in _STR_COLS:
        return pa.array(values, pa.string())
    return pa.array(values)


_SPAN_COLS = ("trace_id", "span_id", "parent_span_id", "name", "kind", "start_ns", "end_ns", "duration_ms",
              "status_code", "status_message", "service", "scope_name", "scope_version", "resource",
              "attributes", "events", "is_demo", "batch_id")
_DIM_COLS = ("trace_id", "span_id", "level", *attribution._DIMS, "batch_id")
_CALL_COLS = ("trace_id", "span_id", "parent_span_id", "start_ns", "duration_ms", *_CALL_FIELDS,
              "reported_cost_usd", "is_demo", "batch_id")


def _table(names: tuple, rows: list) -> pa.Table | None:
    if not rows:
        return None
    return pa.table({k: _column(k, list(v)) for k, v in zip(names, zip(*rows))})


def build_tables(groups, extractor: attribution.Extractor, rejects: dict | None = None):
    """Column tables for spans, attribution_dims and calls (unique keys, first occurrence wins).

    `groups` is a list of (batch_id, spans); each span row carries its batch's id. A bare list of
    spans is accepted too (batch_id NULL). This loop runs once per span on the ingest path, so it
    builds one tuple per row and transposes at the end rather than appending column by column.
    A span whose call carries a value no call can have (conv_common.InvalidValue) is not stored:
    its reason goes to `rejects[batch_id]` when a dict is given.
    """
    if groups and isinstance(groups[0], Span):
        groups = [(None, groups)]
    seen: set[tuple[str, str]] = set()
    seen_add = seen.add
    span_rows: list[tuple] = []
    dim_rows: list[tuple] = []
    call_rows: list[tuple] = []
    add_span, add_dim, add_call = span_rows.append, dim_rows.append, call_rows.append
    res_cache: dict[int, tuple] = {}
    dumps = _dumps
    span_dims = extractor.span
    dims_row = attribution.dims_row
    # Most spans carry none of the rule keys: one set test skips the rules loop for them.
    rule_keys = frozenset(r.key for r in extractor.span_rules)
    map_span = conventions.map_span
    dup_in_batch = 0
    map_errors = 0
    last_res, cached = None, None
    for batch_id, spans in groups:
        for s in spans:
            tid, sid = s.trace_id, s.span_id
            key = (tid, sid)
            if key in seen:
                dup_in_batch += 1
                continue
            try:
                call = map_span(s)
            except InvalidValue as exc:
                if rejects is not None:
                    rejects.setdefault(batch_id, []).append(f"span {sid}: {exc}")
                continue
            except Exception as exc:  # a mapping bug must not block the batch: keep the raw span
                call = None
                map_errors += 1
                if map_errors == 1:
                    log.warning("convention mapping failed on span %s/%s: %r", tid, sid, exc)
            seen_add(key)
            res = s.resource
            if res is not last_res:  # consecutive spans share their resource's dict
                cached = res_cache.get(id(res))
                if cached is None or cached[4] is not res:
                    found = extractor.resource(res)
                    service = res.get("service.name")
                    cached = res_cache[id(res)] = (
                        dumps(res), dims_row(found) if found else None, _is_demo(res),
                        service if service is None or type(service) is str else str(service), res)
                last_res = res
            res_json, res_dims, demo, service, _ = cached
            attrs = s.attributes
            start, end = s.start_ns, s.end_ns
            dur = (end - start) / 1e6 if end and start else None
            parent = s.parent_span_id
            add_span((tid, sid, parent, s.name, s.kind, start or None, end or None, dur, s.status_code,
                      s.status_message, service, s.scope_name, s.scope_version, res_json, dumps(attrs),
                      dumps(s.events) if s.events else None, demo, batch_id))
            if not rule_keys.isdisjoint(attrs):
                found = span_dims(attrs)
                if found:
                    add_dim((tid, sid, "span", *dims_row(found), batch_id))
            if call is None:
                continue
            if res_dims is not None:  # read only for the call span itself
                add_dim((tid, sid, "resource", *res_dims, batch_id))
            cost = call.reported_cost_usd
            add_call((tid, sid, parent, start or None, dur, call.provider, call.operation, call.request_model,
                      call.response_model, call.input_tokens, call.output_tokens, call.cache_read_tokens,
                      call.cache_write_tokens, call.reasoning_tokens, call.usage_source, call.convention,
                      call.status, call.input_text, call.output_text,
                      str(cost) if cost is not None else None, demo, batch_id))
    return _table(_SPAN_COLS, span_rows), _table(_DIM_COLS, dim_rows), _table(_CALL_COLS, call_rows), dup_in_batch


@dataclass
class Batch:
    """One unit of idempotency: its batch_id is recorded in ingest_log in the same transaction."""

    decoded: Decoded
    batch_id: str
    source: str
    received_at: object = None  # datetime, or None for now()


def load(con: duckdb.DuckDBPyConnection, decoded: Decoded, batch_id: str, source: str,
         received_at=None) -> LoadResult:
    """Load one batch in one transaction. Safe to call again with the same batch_id."""
    return load_batches(con, [Batch(decoded, batch_id, source, received_at)])


def load_batches(con: duckdb.DuckDBPyConnection, batches: list[Batch]) -> LoadResult:
    """Load several batches in ONE transaction, each logged under its own batch_id.

    Batches whose batch_id is already in ingest_log are skipped whole (a replay); any span already
    stored is skipped too (`ON CONFLICT DO NOTHING` on the primary key, an index lookup rather
    than a scan of `spans`, so the cost does not grow with the table).
    """
    cur = con.cursor()
    try:
        done = already_loaded(cur, [b.batch_id for b in batches])
        skipped = LoadResult()
        todo = []
        for b in batches:
            if b.batch_id in done:  # loaded before, or twice in this list
                skipped.spans_read += len(b.decoded.spans) + len(b.decoded.rejects)
                skipped.duplicates += len(b.decoded.spans)
                skipped.rejects.extend(b.decoded.rejects)
            else:
                todo.append(b)
                done.add(b.batch_id)
        if not todo:
            skipped.already_loaded = True
            return skipped
        with gc_paused():
            prepared = prepare(todo, attribution.load_rules(cur))
    finally:
        cur.close()
    result = commit_prepared(con, [prepared])
    result.add(skipped)
    return result


def already_loaded(cur, batch_ids: list[str]) -> set[str]:
    """The batch ids among `batch_ids` whose load committed (recorded in ingest_log)."""
    return {r[0] for r in cur.execute(
        "SELECT batch_id FROM ingest_log WHERE batch_id IN (SELECT unnest(?::VARCHAR[]))", [batch_ids]).fetchall()}


@dataclass
class Prepared:
    """Batches turned into column tables, ready to commit (picklable: built in worker processes)."""

    metas: list[tuple[str, str, object, int, list[str]]]  # (batch_id, source, received_at, n_spans, rejects)
    span_t: pa.Table | None
    dims_t: pa.Table | None
    call_t: pa.Table | None


def prepare(batches: list[Batch], rules) -> Prepared:
    """Build the tables of `batches`. Every span ends up in them or among its batch's rejects
    with a reason: if the tables cannot be built at once (a value Arrow refuses that decoding let
    through), each span is tried alone and the ones that fail are rejected, not the batch."""
    extractor = attribution.Extractor(rules)
    found: dict = {}
    groups = [(b.batch_id, b.decoded.spans) for b in batches]
    try:
        span_t, dims_t, call_t, _ = build_tables(groups, extractor, found)
    except Exception as exc:
        log.warning("building tables failed (%r); isolating the spans that cause it", exc)
        found = {}
        groups = [(bid, _storable(bid, spans, extractor, found)) for bid, spans in groups]
        span_t, dims_t, call_t, _ = build_tables(groups, extractor, found)
    metas = []
    for b in batches:
        extra = found.get(b.batch_id, [])
        metas.append((b.batch_id, b.source, b.received_at, len(b.decoded.spans) - len(extra),
                      list(b.decoded.rejects) + extra))
    return Prepared(metas, span_t, dims_t, call_t)


def _storable(batch_id, spans: list[Span], extractor, rejects: dict) -> list[Span]:
    keep = []
    for s in spans:
        try:
            build_tables([(batch_id, [s])], extractor, {})
        except Exception as exc:
            rejects.setdefault(batch_id, []).append(f"span {s.span_id}: cannot be stored ({exc!r:.200})")
            continue
        keep.append(s)
    return keep


def _concat(tables: list, unique: bool = False) -> pa.Table | None:
    """One table from several; with `unique`, the first row of each (trace_id, span_id) (each
    prepared table is unique already, but the same span may come in two files of one group)."""
    tables = [t for t in tables if t is not None]
    if len(tables) <= 1:
        return tables[0] if tables else None
    t = pa.concat_tables(tables, promote_options="default")
    if unique:
        keys = pc.binary_join_element_wise(t.column("trace_id"), t.column("span_id"), "")
        if pc.count_distinct(keys).as_py() != t.num_rows:
            first = pc.is_in(pa.array(range(t.num_rows)), value_set=pa.table(
                {"k": keys, "i": pa.array(range(t.num_rows))}).group_by("k").aggregate([("i", "min")]).column("i_min"))
            t = t.filter(first)
    return t


def commit_prepared(con: duckdb.DuckDBPyConnection, prepared: list[Prepared]) -> LoadResult:
    """Insert prepared tables and their ingest_log rows in one transaction (in list order, so the
    first occurrence of a span wins). The caller has filtered out batch ids already logged."""
    result = LoadResult()
    COMMIT_LOCK.acquire()  # released in the finally below
    cur = None
    try:
        cur = con.cursor()
        cur.execute("BEGIN")
        try:
            # One statement per table for the whole group: per-statement work (attribution,
            # duplicate-call checks) is paid once, not once per file.
            new_by_batch, calls_by_batch, calls_new = _insert(
                cur, _concat([p.span_t for p in prepared], unique=True),
                *(_concat([getattr(p, t) for p in prepared]) for t in ("dims_t", "call_t")))
            result.calls_new += calls_new
            log_rows = []
            for p in prepared:
                for batch_id, source, received_at, n_spans, rejects in p.metas:
                    n_new = new_by_batch.get(batch_id, 0)
                    result.spans_read += n_spans + len(rejects)
                    result.spans_new += n_new
                    result.duplicates += n_spans - n_new
                    result.rejects.extend(rejects)
                    log_rows.append([batch_id, source, received_at, n_spans + len(rejects), n_new,
                                     calls_by_batch.get(batch_id, 0), n_spans - n_new, len(rejects),
                                     _dumps(rejects[:100])])
            cur.executemany(
                """INSERT INTO ingest_log (batch_id, source, received_at, spans_read, spans_new, calls_new,
                       duplicates, rejects, reject_reasons) VALUES (?, ?, coalesce(?, now()), ?, ?, ?, ?, ?, ?)""",
                log_rows,
            )
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
    finally:
        COMMIT_LOCK.release()
        if cur is not None:
            cur.close()
    return result


#: New spans only: an anti-join against the stored rows of the batch's traces, read from those
#: traces' first load number on (`since`), so zone maps skip every older row group and the cost
#: stays flat as the ledger grows (m008 dropped the primary key whose checks grew with it).
INSERT_SPANS_SQL = """
INSERT INTO spans (trace_id, span_id, parent_span_id, name, kind, start_time, end_time,
    duration_ms, status_code, status_message, service, scope_name, scope_version,
    resource, attributes, events, is_demo, batch_id, load_seq)
SELECT b.trace_id, b.span_id, b.parent_span_id, b.name, b.kind, b.start_ns, b.end_ns, b.duration_ms,
    b.status_code, b.status_message, b.service, b.scope_name, b.scope_version, b.resource, b.attributes,
    b.events, b.is_demo, b.batch_id, {seq}
FROM batch_spans b ANTI JOIN (SELECT trace_id, span_id FROM spans WHERE load_seq >= {since}) s
    ON s.trace_id = b.trace_id AND s.span_id = b.span_id
RETURNING trace_id, span_id, batch_id
"""

#: Callables (cursor, trace_ids, since) run inside every load's transaction after attribution.
#: Registered by the areas above telemetry when their schema module is imported (pricing/schema.py),
#: which every connection does (store/db.py), so telemetry never imports them.
AFTER_LOAD: list = []

#: One loading transaction at a time in this process (the receiver's loader, uploads, demo):
#: with no key on `spans`, two concurrent loads of the same span would both see it as new.
COMMIT_LOCK = threading.Lock()

INSERT_CALLS_SQL = """
INSERT INTO calls (trace_id, span_id, parent_span_id, start_time, duration_ms, provider,
    operation, request_model, response_model, input_tokens, output_tokens,
    cache_read_tokens, cache_write_tokens, reasoning_tokens, usage_source, convention,
    status, reported_cost_usd, input_text, output_text, is_demo, load_seq)
SELECT c.trace_id, c.span_id, c.parent_span_id, c.start_ns, c.duration_ms, c.provider,
    c.operation, c.request_model, c.response_model, c.input_tokens, c.output_tokens,
    c.cache_read_tokens, c.cache_write_tokens, c.reasoning_tokens, c.usage_source,
    c.convention, c.status, CAST(c.reported_cost_usd AS DECIMAL(18, 9)),
    c.input_text, c.output_text, c.is_demo, {seq}
FROM batch_calls c SEMI JOIN batch_new n
    ON n.trace_id = c.trace_id AND n.span_id = c.span_id AND n.batch_id IS NOT DISTINCT FROM c.batch_id
"""


_DIM_LIST = ", ".join(attribution._DIMS)
INSERT_DIMS_SQL = f"""
INSERT INTO attribution_dims (trace_id, span_id, level, {_DIM_LIST}, load_seq)
SELECT d.trace_id, d.span_id, d.level, {", ".join("d." + x for x in attribution._DIMS)}, {{seq}}
FROM batch_dims d SEMI JOIN batch_new n
    ON n.trace_id = d.trace_id AND n.span_id = d.span_id AND n.batch_id IS NOT DISTINCT FROM d.batch_id
"""


def _since(cur, trace_ids: list[str], seq: int) -> int:
    """Register the traces this load touches and return the earliest load number among them:
    every stored row of those traces carries that number or a later one (see m007_load_seq).
    One scan of `trace_seqs`: the traces it does not list yet are registered under `seq`."""
    import pyarrow as pa

    cur.register("batch_traces", pa.table({"trace_id": pa.array(trace_ids, pa.string())}))
    try:
        known = dict(cur.execute(
            "SELECT trace_id, min(first_seq) FROM trace_seqs SEMI JOIN batch_traces USING (trace_id) "
            "GROUP BY trace_id").fetchall())
    finally:
        cur.unregister("batch_traces")
    fresh = [t for t in trace_ids if t not in known]
    if fresh:
        fresh_traces = pa.table({"trace_id": pa.array(fresh, pa.string())})  # noqa: F841 - read by DuckDB
        cur.execute(f"INSERT INTO trace_seqs SELECT trace_id, {int(seq)} FROM fresh_traces")
    return int(min(min(known.values(), default=seq), seq))


def _insert(cur, span_t, dims_t, call_t):
    """Inside the caller's transaction: returns (new spans by batch, new calls by batch, calls net)."""
    if span_t is None:
        return {}, {}, 0
    seq = int(cur.execute("SELECT nextval('load_seq')").fetchall()[0][0])
    # Every stored row of the batch's traces carries `since` or a later number: the anti-join
    # and the per-trace work below read only those.
    batch_traces = pc.unique(span_t.column("trace_id")).to_pylist()
    since = _since(cur, batch_traces, seq)
    cur.register("batch_spans", span_t)
    try:
        # Only the rows actually inserted come back: those are the spans this load owns. As an
        # Arrow table (sql() runs the INSERT once, now), so no Python object per row is made.
        new_t = cur.sql(INSERT_SPANS_SQL.format(seq=seq, since=since)).to_arrow_table()
    finally:
        cur.unregister("batch_spans")
    if not new_t.num_rows:
        return {}, {}, 0
    new_by_batch = {r["values"]: r["counts"] for r in new_t.column("batch_id").value_counts().to_pylist()}
    trace_ids = pc.unique(new_t.column("trace_id")).to_pylist()
    cur.register("batch_new", new_t)
    calls_by_batch: dict[str, int] = {}
    calls_new = 0
    try:
        if dims_t is not None:
            cur.register("batch_dims", dims_t)
            cur.execute(INSERT_DIMS_SQL.format(seq=seq)).fetchall()
            cur.unregister("batch_dims")
        if call_t is not None:
            cur.register("batch_calls", call_t)
            calls_new = cur.execute(INSERT_CALLS_SQL.format(seq=seq)).fetchall()[0][0]
            cur.unregister("batch_calls")
        calls_new -= conventions.drop_nested_duplicates(cur, trace_ids, since)
        attribution.resolve(cur, trace_ids, since)
        # Areas above telemetry attach their per-load work here (pricing: estimated usage,
        # default sheet, model-name resolution, so llm_calls.cost_usd is a plain join by the
        # time the batch commits), inside this transaction.
        for hook in AFTER_LOAD:
            hook(cur, trace_ids, since)
        calls_new = max(calls_new, 0)  # a batch may remove a wrapper committed by an earlier one
        if calls_new:
            calls_by_batch = dict(cur.execute(
                f"""SELECT n.batch_id, count(*) FROM calls c JOIN batch_new n
                    ON n.trace_id = c.trace_id AND n.span_id = c.span_id
                    WHERE c.load_seq = {seq} GROUP BY 1""").fetchall())
    finally:
        cur.unregister("batch_new")
    return new_by_batch, calls_by_batch, calls_new


def remove_demo(con: duckdb.DuckDBPyConnection) -> int:
    """Delete every demo span and call; returns the number of calls removed."""
    cur = con.cursor()
    cur.execute("BEGIN")
    try:
        n = cur.execute("SELECT count(*) FROM calls WHERE is_demo").fetchall()[0][0]
        cur.execute("DELETE FROM attribution_dims WHERE (trace_id, span_id) IN (SELECT trace_id, span_id FROM spans WHERE is_demo)")
        cur.execute("DELETE FROM trace_seqs WHERE trace_id IN (SELECT trace_id FROM spans WHERE is_demo)")
        cur.execute("DELETE FROM calls WHERE is_demo")
        cur.execute("DELETE FROM spans WHERE is_demo")
        cur.execute("DELETE FROM ingest_log WHERE source LIKE 'demo%'")
        cur.execute("COMMIT")
    except Exception:
        cur.execute("ROLLBACK")
        raise
    return n
