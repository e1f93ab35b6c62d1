"""Move decoded spans into DuckDB: one transaction per batch, idempotent on (trace_id, span_id).

A batch that was already committed (same batch_id, e.g. a spool file replayed after a crash
between commit and unlink) adds nothing; so does any span already stored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa

from llmledger.telemetry import attribution, conventions
from llmledger.telemetry.otlp import Decoded, Span

DEMO_ATTRIBUTE = "llmledger.demo"


@dataclass
class LoadResult:
    spans_read: int = 0
    spans_new: int = 0
    duplicates: int = 0
    calls_new: int = 0
    rejects: list[str] = field(default_factory=list)
    already_loaded: bool = False

    def add(self, other: "LoadResult") -> None:
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
        }


_TS = pa.timestamp("ns", tz="UTC")


def _is_demo(resource: dict) -> bool:
    v = resource.get(DEMO_ATTRIBUTE)
    return v is True or str(v).lower() in ("true", "1")


def _dumps(obj) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, default=str)


def build_tables(spans: list[Span], extractor: attribution.Extractor):
    """Column tables for spans, span_dims and calls (unique keys, first occurrence wins)."""
    seen: set[tuple[str, str]] = set()
    sc = {k: [] for k in (
        "trace_id", "span_id", "parent_span_id", "name", "kind", "start_ns", "end_ns", "duration_ms",
        "status_code", "status_message", "service", "scope_name", "scope_version", "resource",
        "attributes", "events", "is_demo")}
    dims = {k: [] for k in ("trace_id", "span_id", "level", "dim", "value")}
    cc = {k: [] for k in (
        "trace_id", "span_id", "parent_span_id", "start_ns", "duration_ms", "provider", "operation",
        "request_model", "response_model", "input_tokens", "output_tokens", "cache_read_tokens",
        "cache_write_tokens", "reasoning_tokens", "usage_source", "convention", "status",
        "reported_cost_usd", "input_text", "output_text", "is_demo")}
    res_cache: dict[int, tuple[str, dict, bool]] = {}
    dup_in_batch = 0
    for s in spans:
        key = (s.trace_id, s.span_id)
        if key in seen:
            dup_in_batch += 1
            continue
        seen.add(key)
        rid = id(s.resource)
        if rid not in res_cache:
            res_cache[rid] = (_dumps(s.resource), extractor.resource(s.resource), _is_demo(s.resource))
        res_json, res_dims, demo = res_cache[rid]
        dur = (s.end_ns - s.start_ns) / 1e6 if s.end_ns and s.start_ns else None
        sc["trace_id"].append(s.trace_id)
        sc["span_id"].append(s.span_id)
        sc["parent_span_id"].append(s.parent_span_id)
        sc["name"].append(s.name)
        sc["kind"].append(s.kind)
        sc["start_ns"].append(s.start_ns or None)
        sc["end_ns"].append(s.end_ns or None)
        sc["duration_ms"].append(dur)
        sc["status_code"].append(s.status_code)
        sc["status_message"].append(s.status_message)
        sc["service"].append(s.resource.get("service.name"))
        sc["scope_name"].append(s.scope_name)
        sc["scope_version"].append(s.scope_version)
        sc["resource"].append(res_json)
        sc["attributes"].append(_dumps(s.attributes))
        sc["events"].append(_dumps(s.events) if s.events else None)
        sc["is_demo"].append(demo)
        for level, found in (("span", extractor.span(s.attributes)), ("resource", res_dims)):
            for dim, value in found.items():
                dims["trace_id"].append(s.trace_id)
                dims["span_id"].append(s.span_id)
                dims["level"].append(level)
                dims["dim"].append(dim)
                dims["value"].append(value)
        call = conventions.map_span(s)
        if call is None:
            continue
        cc["trace_id"].append(s.trace_id)
        cc["span_id"].append(s.span_id)
        cc["parent_span_id"].append(s.parent_span_id)
        cc["start_ns"].append(s.start_ns or None)
        cc["duration_ms"].append(dur)
        for k in ("provider", "operation", "request_model", "response_model", "input_tokens",
                  "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens",
                  "usage_source", "convention", "status", "input_text", "output_text"):
            cc[k].append(getattr(call, k))
        cc["reported_cost_usd"].append(str(call.reported_cost_usd) if call.reported_cost_usd is not None else None)
        cc["is_demo"].append(demo)
    int_cols = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")
    span_t = pa.table({k: (pa.array(v, _TS) if k in ("start_ns", "end_ns") else pa.array(v)) for k, v in sc.items()}) if sc["trace_id"] else None
    dims_t = pa.table(dims) if dims["trace_id"] else None
    call_t = pa.table({
        k: (pa.array(v, _TS) if k == "start_ns" else pa.array(v, pa.int64()) if k in int_cols
            else pa.array(v, pa.string()) if k in ("reported_cost_usd", "input_text", "output_text", "provider",
                                                   "operation", "request_model", "response_model", "parent_span_id")
            else pa.array(v))
        for k, v in cc.items()
    }) if cc["trace_id"] else None
    return span_t, dims_t, call_t, dup_in_batch


def load(con: duckdb.DuckDBPyConnection, decoded: Decoded, batch_id: str, source: str,
         received_at=None) -> LoadResult:
    """Load one batch in one transaction. Safe to call again with the same batch_id."""
    result = LoadResult(spans_read=len(decoded.spans) + len(decoded.rejects), rejects=list(decoded.rejects))
    cur = con.cursor()
    if cur.execute("SELECT 1 FROM ingest_log WHERE batch_id = ?", [batch_id]).fetchone():
        result.duplicates = len(decoded.spans)
        result.already_loaded = True
        return result
    extractor = attribution.Extractor(attribution.load_rules(cur))
    span_t, dims_t, call_t, dup_in_batch = build_tables(decoded.spans, extractor)
    cur.execute("BEGIN")
    try:
        new = 0
        calls_new = 0
        if span_t is not None:
            cur.register("batch_spans", span_t)
            cur.execute(
                """CREATE OR REPLACE TEMP TABLE batch_new AS
                   SELECT b.trace_id, b.span_id FROM batch_spans b
                   ANTI JOIN spans s ON s.trace_id = b.trace_id AND s.span_id = b.span_id"""
            )
            new = cur.execute("SELECT count(*) FROM batch_new").fetchone()[0]
            if new:
                cur.execute(
                    """INSERT INTO spans (trace_id, span_id, parent_span_id, name, kind, start_time, end_time,
                           duration_ms, status_code, status_message, service, scope_name, scope_version,
                           resource, attributes, events, is_demo, batch_id)
                       SELECT b.trace_id, b.span_id, b.parent_span_id, b.name, b.kind, b.start_ns, b.end_ns,
                           b.duration_ms, b.status_code, b.status_message, b.service, b.scope_name,
                           b.scope_version, b.resource, b.attributes, b.events, b.is_demo, ?
                       FROM batch_spans b SEMI JOIN batch_new n ON n.trace_id = b.trace_id AND n.span_id = b.span_id""",
                    [batch_id],
                )
                if dims_t is not None:
                    cur.register("batch_dims", dims_t)
                    cur.execute(
                        """INSERT INTO span_dims SELECT d.trace_id, d.span_id, d.level, d.dim, d.value
                           FROM batch_dims d SEMI JOIN batch_new n ON n.trace_id = d.trace_id AND n.span_id = d.span_id"""
                    )
                    cur.unregister("batch_dims")
                if call_t is not None:
                    cur.register("batch_calls", call_t)
                    calls_new = cur.execute(
                        """INSERT INTO calls (trace_id, span_id, parent_span_id, start_time, duration_ms, provider,
                               operation, request_model, response_model, input_tokens, output_tokens,
                               cache_read_tokens, cache_write_tokens, reasoning_tokens, usage_source, convention,
                               status, reported_cost_usd, input_text, output_text, is_demo)
                           SELECT c.trace_id, c.span_id, c.parent_span_id, c.start_ns, c.duration_ms, c.provider,
                               c.operation, c.request_model, c.response_model, c.input_tokens, c.output_tokens,
                               c.cache_read_tokens, c.cache_write_tokens, c.reasoning_tokens, c.usage_source,
                               c.convention, c.status, CAST(c.reported_cost_usd AS DECIMAL(18, 9)),
                               c.input_text, c.output_text, c.is_demo
                           FROM batch_calls c SEMI JOIN batch_new n ON n.trace_id = c.trace_id AND n.span_id = c.span_id"""
                    ).fetchone()[0]
                    cur.unregister("batch_calls")
                touched = cur.execute("SELECT DISTINCT trace_id FROM batch_new").fetchall()
                trace_ids = [r[0] for r in touched]
                calls_new -= conventions.drop_nested_duplicates(cur, trace_ids)
                attribution.resolve(cur, trace_ids)
            cur.unregister("batch_spans")
            cur.execute("DROP TABLE IF EXISTS batch_new")
        result.spans_new = new
        result.calls_new = calls_new
        result.duplicates = len(decoded.spans) - new
        cur.execute(
            """INSERT INTO ingest_log (batch_id, source, received_at, spans_read, spans_new, calls_new,
                   duplicates, rejects, reject_reasons) VALUES (?, ?, coalesce(?, now()), ?, ?, ?, ?, ?, ?)""",
            [batch_id, source, received_at, result.spans_read, new, calls_new, result.duplicates,
             len(result.rejects), _dumps(result.rejects[:100])],
        )
        cur.execute("COMMIT")
    except Exception:
        cur.execute("ROLLBACK")
        raise
    finally:
        cur.close()
    del dup_in_batch
    return result


def remove_demo(con: duckdb.DuckDBPyConnection) -> int:
    """Delete every demo span and call; returns the number of calls removed."""
    cur = con.cursor()
    cur.execute("BEGIN")
    try:
        n = cur.execute("SELECT count(*) FROM calls WHERE is_demo").fetchone()[0]
        cur.execute("DELETE FROM span_dims WHERE (trace_id, span_id) IN (SELECT trace_id, span_id FROM spans WHERE is_demo)")
        cur.execute("DELETE FROM calls WHERE is_demo")
        cur.execute("DELETE FROM spans WHERE is_demo")
        cur.execute("DELETE FROM ingest_log WHERE source LIKE 'demo%'")
        cur.execute("COMMIT")
    except Exception:
        cur.execute("ROLLBACK")
        raise
    return n
