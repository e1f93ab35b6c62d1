"""Core schema, as ordered migrations recorded in `_migrations` (areas add their own, see db.py).

`spans` keeps every span as received. `calls` holds one row per model call, produced by the
convention mapping at load time; its attribution columns are resolved across the trace after each
load (see telemetry/attribution.py). `llm_calls` is the contract view; pricing replaces it with one
that computes `cost_usd` at query time under the active sheet.
"""

from __future__ import annotations

import duckdb

DIMENSIONS = ("feature", "team", "user_id", "session_id", "service", "environment")


def m001_spans(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        CREATE TABLE spans (
            trace_id VARCHAR NOT NULL,
            span_id VARCHAR NOT NULL,
            parent_span_id VARCHAR,
            name VARCHAR,
            kind VARCHAR,
            start_time TIMESTAMPTZ,
            end_time TIMESTAMPTZ,
            duration_ms DOUBLE,
            status_code VARCHAR,
            status_message VARCHAR,
            service VARCHAR,
            scope_name VARCHAR,
            scope_version VARCHAR,
            resource JSON,
            attributes JSON,
            events JSON,
            is_demo BOOLEAN DEFAULT false,
            batch_id VARCHAR,
            ingested_at TIMESTAMPTZ DEFAULT now(),
            PRIMARY KEY (trace_id, span_id)
        )
        """
    )
    # Attribution values found on a span itself ('span') or on its resource ('resource').
    con.execute(
        """
        CREATE TABLE span_dims (
            trace_id VARCHAR NOT NULL,
            span_id VARCHAR NOT NULL,
            level VARCHAR NOT NULL,
            dim VARCHAR NOT NULL,
            value VARCHAR NOT NULL,
            PRIMARY KEY (trace_id, span_id, level, dim)
        )
        """
    )


def m002_calls(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        CREATE TABLE calls (
            trace_id VARCHAR NOT NULL,
            span_id VARCHAR NOT NULL,
            parent_span_id VARCHAR,
            start_time TIMESTAMPTZ,
            duration_ms DOUBLE,
            provider VARCHAR,
            operation VARCHAR,
            request_model VARCHAR,
            response_model VARCHAR,
            input_tokens BIGINT,
            output_tokens BIGINT,
            cache_read_tokens BIGINT,
            cache_write_tokens BIGINT,
            reasoning_tokens BIGINT,
            usage_source VARCHAR NOT NULL,
            convention VARCHAR NOT NULL,
            status VARCHAR NOT NULL,
            reported_cost_usd DECIMAL(18, 9),
            input_text VARCHAR,
            output_text VARCHAR,
            service VARCHAR,
            environment VARCHAR,
            feature VARCHAR,
            team VARCHAR,
            user_id VARCHAR,
            session_id VARCHAR,
            is_demo BOOLEAN DEFAULT false,
            PRIMARY KEY (trace_id, span_id)
        )
        """
    )
    con.execute("CREATE INDEX calls_start ON calls (start_time)")


def m003_rules_settings_log(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        CREATE TABLE attribution_rules (
            dim VARCHAR NOT NULL,
            key VARCHAR NOT NULL,
            json_field VARCHAR NOT NULL DEFAULT '',
            level VARCHAR NOT NULL DEFAULT 'any',
            priority INTEGER NOT NULL DEFAULT 100,
            enabled BOOLEAN NOT NULL DEFAULT true,
            PRIMARY KEY (dim, key, json_field)
        )
        """
    )
    con.execute("CREATE TABLE settings (key VARCHAR PRIMARY KEY, value VARCHAR)")
    con.execute(
        """
        CREATE TABLE ingest_log (
            batch_id VARCHAR PRIMARY KEY,
            source VARCHAR,
            received_at TIMESTAMPTZ,
            loaded_at TIMESTAMPTZ DEFAULT now(),
            spans_read BIGINT,
            spans_new BIGINT,
            calls_new BIGINT,
            duplicates BIGINT,
            rejects BIGINT,
            reject_reasons JSON
        )
        """
    )
    # The default rules are telemetry's (telemetry/schema.py inserts them).


def m004_llm_calls_view(con: duckdb.DuckDBPyConnection) -> None:
    # Placeholder cost column; pricing's migration replaces this view with one that prices calls.
    con.execute(
        """
        CREATE OR REPLACE VIEW llm_calls AS
        SELECT trace_id, span_id, parent_span_id, start_time, duration_ms,
               service, environment, feature, team, user_id, session_id,
               provider, operation, request_model, response_model,
               input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens,
               usage_source, convention, status, reported_cost_usd,
               CAST(NULL AS DECIMAL(18, 9)) AS cost_usd, is_demo
        FROM calls
        """
    )


def m005_default_rules_refresh(con: duckdb.DuckDBPyConnection) -> None:
    # Kept by name for ledgers that recorded it; telemetry/schema.py's t001 now inserts the
    # default rules (for new and old ledgers alike).
    pass


def m006_wide_attribution_dims(con: duckdb.DuckDBPyConnection) -> None:
    # One row per span and level with a column per dimension, instead of one row per value:
    # about a fifth of the rows to write per batch, and no index to maintain. Resource-level
    # values are only ever read for the call span itself, so only calls keep them.
    cols = ", ".join(f"{d} VARCHAR" for d in DIMENSIONS)
    con.execute(f"""CREATE TABLE attribution_dims (
        trace_id VARCHAR NOT NULL, span_id VARCHAR NOT NULL, level VARCHAR NOT NULL, {cols})""")
    picks = ", ".join(f"max(value) FILTER (WHERE dim = '{d}') AS {d}" for d in DIMENSIONS)
    con.execute(f"""
        INSERT INTO attribution_dims
        SELECT trace_id, span_id, level, {picks}
        FROM span_dims d
        WHERE level = 'span' OR EXISTS (SELECT 1 FROM calls c WHERE c.trace_id = d.trace_id AND c.span_id = d.span_id)
        GROUP BY trace_id, span_id, level""")
    con.execute("DROP TABLE span_dims")


def m007_load_seq(con: duckdb.DuckDBPyConnection) -> None:
    # Each load stamps its rows with a number from `load_seq`, and `trace_seqs` keeps the first
    # number of every trace. A load's per-trace work (nested duplicates, attribution, pricing)
    # then reads only rows stamped at or after the earliest first number of the traces it
    # touched: rows are appended in load order, so DuckDB's zone maps skip the older row groups
    # and the work stops growing with the ledger. Rows from before this migration carry 0,
    # as do their traces, so they are always read.
    for table in ("spans", "calls", "attribution_dims"):
        con.execute(f"ALTER TABLE {table} ADD COLUMN load_seq BIGINT DEFAULT 0")
    con.execute("CREATE SEQUENCE load_seq START 1")
    # No key: concurrent loads may both register a new trace, and the minimum is what is read.
    con.execute("CREATE TABLE trace_seqs (trace_id VARCHAR NOT NULL, first_seq BIGINT NOT NULL)")
    con.execute("""INSERT INTO trace_seqs
                   SELECT trace_id, 0 FROM (SELECT trace_id FROM spans UNION SELECT trace_id FROM calls)""")


def m008_keyless_spans_calls(con: duckdb.DuckDBPyConnection) -> None:
    # Keyed inserts got slower as the ledger grew (DuckDB checks a new row against the whole
    # primary-key index, and commits write it): 790 ms for a 20k-span load into an empty ledger,
    # 2.4 s at 2.4 M spans. Idempotency does not need the key: the loader skips logged batches
    # (ingest_log) and anti-joins new spans against the stored rows of the traces they belong to,
    # from those traces' first load number on (m007), which zone maps narrow to recent row groups.
    # Loads are serialised in-process (loader.COMMIT_LOCK), and DuckDB allows one writing process.
    # The ART index on calls.start_time goes too: it made every insert and checkpoint slower
    # (4 x 20k-row loads plus a checkpoint on 1M rows: 1.1-1.5 s with it, 0.22 s without) and
    # time-range reads use zone maps, since calls are appended roughly in time order.
    import re

    for table in ("spans", "calls"):
        ddl = con.execute(
            "SELECT sql FROM duckdb_tables() WHERE table_name = ? AND schema_name = 'main'", [table]
        ).fetchall()[0][0]
        indexes = [
            r[0]
            for r in con.execute(
                "SELECT sql FROM duckdb_indexes() WHERE table_name = ? AND sql IS NOT NULL", [table]
            ).fetchall()
            if "calls_start" not in r[0]
        ]
        ddl = re.sub(r",\s*PRIMARY KEY\s*\([^)]*\)", "", ddl)
        ddl = re.sub(r"^CREATE TABLE\s+[^(]+\(", f"CREATE TABLE {table}__keyless(", ddl)
        ddl = ddl.replace("(trace_id VARCHAR,", "(trace_id VARCHAR NOT NULL,").replace(
            " span_id VARCHAR,", " span_id VARCHAR NOT NULL,"
        )
        con.execute(ddl)
        con.execute(f"INSERT INTO {table}__keyless SELECT * FROM {table} ORDER BY load_seq")
        con.execute(f"DROP TABLE {table}")
        con.execute(f"ALTER TABLE {table}__keyless RENAME TO {table}")
        for sql in indexes:
            con.execute(sql)


MIGRATIONS = [
    ("m001_spans", m001_spans),
    ("m002_calls", m002_calls),
    ("m003_rules_settings_log", m003_rules_settings_log),
    ("m004_llm_calls_view", m004_llm_calls_view),
    ("m005_default_rules_refresh", m005_default_rules_refresh),
    ("m006_wide_attribution_dims", m006_wide_attribution_dims),
    ("m007_load_seq", m007_load_seq),
    ("m008_keyless_spans_calls", m008_keyless_spans_calls),
]
