"""Move decoded spans into DuckDB: one transaction per batch, idempotent on (trace_id, span_id).

A batch that was already committed (same batch_id, e.g. a spool file replayed after a crash
between commit and unlink) adds nothing; so does any span already stored.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from llmledger.telemetry import attribution, content, conventions, events, otlp
from llmledger.telemetry.otlp import Decoded, Span
from llmledger.telemetry.rows import MESSAGE_COLS, _dumps, build_tables

log = logging.getLogger(__name__)


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
    logs_read: int = 0  # log records read
    events_new: int = 0  # GenAI events stored (not seen before)
    logs_dropped: int = 0  # log records that are not GenAI events of a call: counted, not stored

    def add(self, other: "LoadResult") -> None:
        self.logs_read += other.logs_read
        self.events_new += other.events_new
        self.logs_dropped += other.logs_dropped
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
            "log_records_read": self.logs_read,
            "genai_events_new": self.events_new,
            "log_records_dropped": self.logs_dropped,
        }


gc_paused = otlp.gc_paused  # re-exported: the ingest paths use it around decode + prepare


@dataclass
class Batch:
    """One unit of idempotency: its batch_id is recorded in ingest_log in the same transaction."""

    decoded: Decoded
    batch_id: str
    source: str
    received_at: object = None  # datetime, or None for now()


def load(con: duckdb.DuckDBPyConnection, decoded: Decoded, batch_id: str, source: str, received_at=None) -> LoadResult:
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
            prepared = prepare(todo, attribution.load_rules(cur), content.policy(cur))
    finally:
        cur.close()
    result = commit_prepared(con, [prepared])
    result.add(skipped)
    return result


def already_loaded(cur, batch_ids: list[str]) -> set[str]:
    """The batch ids among `batch_ids` whose load committed (recorded in ingest_log)."""
    return {
        r[0]
        for r in cur.execute(
            "SELECT batch_id FROM ingest_log WHERE batch_id IN (SELECT unnest(?::VARCHAR[]))", [batch_ids]
        ).fetchall()
    }


@dataclass
class BatchMeta:
    """What the ingest log records of one batch: its id and source, when it arrived, how many of
    its spans are in the tables, and the reasons for the ones that are not."""

    batch_id: str
    source: str
    received_at: object  # datetime, or None for now()
    n_spans: int
    rejects: list[str]
    logs_read: int = 0  # log records read, of which:
    n_events: int = 0  # GenAI events in the tables
    logs_dropped: int = 0  # not GenAI events of a call
    log_rejects: int = 0  # rejected (among `rejects`)


@dataclass
class Prepared:
    """Batches turned into column tables, ready to commit (picklable: built in worker processes)."""

    metas: list[BatchMeta]
    span_t: pa.Table | None
    dims_t: pa.Table | None
    call_t: pa.Table | None
    event_t: pa.Table | None = None
    message_t: pa.Table | None = None  # messages of the events
    span_msg_t: pa.Table | None = None  # messages of the calls' spans (hash policy)
    policy: str = "keep"


def prepare(batches: list[Batch], rules, policy: str = "keep") -> Prepared:
    """Build the tables of `batches`. Every span ends up in them or among its batch's rejects
    with a reason: if the tables cannot be built at once (a value Arrow refuses that decoding let
    through), each span is tried alone and the ones that fail are rejected, not the batch."""
    extractor = attribution.Extractor(rules)
    found: dict = {}
    msgs: list = []
    groups = [(b.batch_id, b.decoded.spans) for b in batches]
    try:
        span_t, dims_t, call_t, _ = build_tables(groups, extractor, found, policy, msgs)
    except Exception as exc:
        log.warning("building tables failed (%r); isolating the spans that cause it", exc)
        found, msgs = {}, []
        groups = [(bid, _storable(bid, spans, extractor, found)) for bid, spans in groups]
        span_t, dims_t, call_t, _ = build_tables(groups, extractor, found, policy, msgs)
    log_found: dict = {}
    event_t, message_t, n_events = events.build(
        [(b.batch_id, b.decoded.logs) for b in batches if b.decoded.logs], policy, log_found
    )
    metas = []
    for b in batches:
        d = b.decoded
        extra = found.get(b.batch_id, [])
        log_extra = log_found.get(b.batch_id, [])
        metas.append(
            BatchMeta(
                b.batch_id,
                b.source,
                b.received_at,
                len(d.spans) - len(extra),
                list(d.rejects) + extra + log_extra,
                d.logs_read,
                n_events.get(b.batch_id, 0),
                d.logs_dropped,
                d.log_rejects + len(log_extra),
            )
        )
    span_msg_t = events.table(MESSAGE_COLS, msgs)
    return Prepared(metas, span_t, dims_t, call_t, event_t, message_t, span_msg_t, policy)


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
            first = pc.is_in(
                pa.array(range(t.num_rows)),
                value_set=pa.table({"k": keys, "i": pa.array(range(t.num_rows))})
                .group_by("k")
                .aggregate([("i", "min")])
                .column("i_min"),
            )
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
            policy = "hash" if any(p.policy == "hash" for p in prepared) else prepared[0].policy
            new_by_batch, calls_by_batch, calls_new, events_by_batch = _insert(
                cur,
                _concat([p.span_t for p in prepared], unique=True),
                *(_concat([getattr(p, t) for p in prepared]) for t in ("dims_t", "call_t", "event_t")),
                _concat([events.finish_messages(p.message_t, p.policy) for p in prepared]),
                _concat([events.finish_messages(p.span_msg_t, p.policy) for p in prepared]),
                policy,
            )
            result.calls_new += calls_new
            log_rows = []
            for p in prepared:
                for m in p.metas:
                    n_new = new_by_batch.get(m.batch_id, 0)
                    n_ev = events_by_batch.get(m.batch_id, 0)
                    span_rejects = len(m.rejects) - m.log_rejects
                    result.spans_read += m.n_spans + span_rejects
                    result.spans_new += n_new
                    result.duplicates += m.n_spans - n_new
                    result.rejects.extend(m.rejects)
                    result.logs_read += m.logs_read
                    result.events_new += n_ev
                    result.logs_dropped += m.logs_dropped
                    log_rows.append(
                        [
                            m.batch_id,
                            m.source,
                            m.received_at,
                            m.n_spans + span_rejects,
                            n_new,
                            calls_by_batch.get(m.batch_id, 0),
                            m.n_spans - n_new + (m.n_events - n_ev),
                            len(m.rejects),
                            _dumps(m.rejects[:100]),
                            m.logs_read,
                            n_ev,
                            m.logs_dropped,
                        ]
                    )
            cur.executemany(
                """INSERT INTO ingest_log (batch_id, source, received_at, spans_read, spans_new, calls_new,
                       duplicates, rejects, reject_reasons, logs_read, events_new, logs_dropped)
                   VALUES (?, ?, coalesce(?, now()), ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
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
        known = dict(
            cur.execute(
                "SELECT trace_id, min(first_seq) FROM trace_seqs SEMI JOIN batch_traces USING (trace_id) "
                "GROUP BY trace_id"
            ).fetchall()
        )
    finally:
        cur.unregister("batch_traces")
    fresh = [t for t in trace_ids if t not in known]
    if fresh:
        fresh_traces = pa.table({"trace_id": pa.array(fresh, pa.string())})  # noqa: F841 - read by DuckDB
        cur.execute(f"INSERT INTO trace_seqs SELECT trace_id, {int(seq)} FROM fresh_traces")
    return int(min(min(known.values(), default=seq), seq))


def _insert(cur, span_t, dims_t, call_t, event_t=None, message_t=None, span_msg_t=None, policy="keep"):
    """Inside the caller's transaction: returns (new spans by batch, new calls by batch, calls net,
    new GenAI events by batch)."""
    if span_t is None and event_t is None:
        return {}, {}, 0, {}
    seq = int(cur.execute("SELECT nextval('load_seq')").fetchall()[0][0])
    # Every stored row of the batch's traces carries `since` or a later number: the anti-join
    # and the per-trace work below read only those.
    span_traces = pc.unique(span_t.column("trace_id")).to_pylist() if span_t is not None else []
    event_traces = pc.unique(event_t.column("trace_id")).to_pylist() if event_t is not None else []
    since = _since(cur, sorted(set(span_traces) | set(event_traces)), seq)
    new_by_batch: dict = {}
    calls_by_batch: dict[str, int] = {}
    calls_new = 0
    trace_ids: list[str] = []
    new_t = None
    if span_t is not None:
        cur.register("batch_spans", span_t)
        try:
            # Only the rows actually inserted come back: those are the spans this load owns. As an
            # Arrow table (sql() runs the INSERT once, now), so no Python object per row is made.
            new_t = cur.sql(INSERT_SPANS_SQL.format(seq=seq, since=since)).to_arrow_table()
        finally:
            cur.unregister("batch_spans")
        if not new_t.num_rows:
            new_t = None
    if new_t is not None:
        new_by_batch = {r["values"]: r["counts"] for r in new_t.column("batch_id").value_counts().to_pylist()}
        trace_ids = pc.unique(new_t.column("trace_id")).to_pylist()
        cur.register("batch_new", new_t)
    try:
        if new_t is not None:
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
        events_by_batch = events.insert(cur, event_t, message_t, span_msg_t, new_t is not None, seq, since)
        # The join of events and calls, from whichever side arrived second; then the areas above
        # telemetry attach their per-load work (pricing: estimated usage, default sheet,
        # model-name resolution, so llm_calls.cost_usd is a plain join by the time the batch
        # commits), inside this transaction.
        touched = sorted(set(trace_ids) | (set(event_traces) if events_by_batch else set()))
        events.join_calls(cur, touched, since, policy)
        for hook in AFTER_LOAD:
            if touched:
                hook(cur, touched, since)
        calls_new = max(calls_new, 0)  # a batch may remove a wrapper committed by an earlier one
        if calls_new:
            calls_by_batch = dict(
                cur.execute(
                    f"""SELECT n.batch_id, count(*) FROM calls c JOIN batch_new n
                    ON n.trace_id = c.trace_id AND n.span_id = c.span_id
                    WHERE c.load_seq = {seq} GROUP BY 1"""
                ).fetchall()
            )
    finally:
        if new_t is not None:
            cur.unregister("batch_new")
    return new_by_batch, calls_by_batch, calls_new, events_by_batch


def remove_demo(con: duckdb.DuckDBPyConnection) -> int:
    """Delete every demo span and call; returns the number of calls removed."""
    cur = con.cursor()
    cur.execute("BEGIN")
    try:
        n = cur.execute("SELECT count(*) FROM calls WHERE is_demo").fetchall()[0][0]
        cur.execute(
            "DELETE FROM attribution_dims WHERE (trace_id, span_id) IN (SELECT trace_id, span_id FROM spans WHERE is_demo)"
        )
        cur.execute("DELETE FROM trace_seqs WHERE trace_id IN (SELECT trace_id FROM spans WHERE is_demo)")
        cur.execute(
            "DELETE FROM call_messages WHERE (trace_id, span_id) IN (SELECT trace_id, span_id FROM calls WHERE is_demo)"
        )
        cur.execute("DELETE FROM call_messages WHERE record_key IN (SELECT record_key FROM genai_events WHERE is_demo)")
        cur.execute("DELETE FROM genai_events WHERE is_demo")
        cur.execute("DELETE FROM calls WHERE is_demo")
        cur.execute("DELETE FROM spans WHERE is_demo")
        cur.execute("DELETE FROM ingest_log WHERE source LIKE 'demo%'")
        cur.execute("COMMIT")
    except Exception:
        cur.execute("ROLLBACK")
        raise
    return n
