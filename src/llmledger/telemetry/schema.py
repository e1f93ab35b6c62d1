"""Telemetry's own migrations: the default attribution rules (kept next to the rules themselves,
in attribution.py; the tables are the store's, m003).

Inserted with ON CONFLICT DO NOTHING, so a rule added to DEFAULT_RULES later reaches older
ledgers too, and a rule the user edited keeps the user's version.
"""

from __future__ import annotations

import duckdb

from llmledger.telemetry.attribution import DEFAULT_RULES

INSERT_DEFAULT_RULES_SQL = (
    "INSERT INTO attribution_rules (dim, key, json_field, level, priority) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT DO NOTHING"
)


def t001_default_attribution_rules(con: duckdb.DuckDBPyConnection) -> None:
    # One statement for all the rules: executemany ran one per rule (0.5 s on a new ledger, on
    # the way to `make run`'s first page).
    rows = ", ".join(["(?, ?, ?, ?, ?)"] * len(DEFAULT_RULES))
    sql = INSERT_DEFAULT_RULES_SQL.replace("VALUES (?, ?, ?, ?, ?)", f"VALUES {rows}")
    con.execute(sql, [v for rule in DEFAULT_RULES for v in rule])


def t002_genai_events(con: duckdb.DuckDBPyConnection) -> None:
    # GenAI log events (one row per record, keyed by a hash of the record) and the messages they
    # and, under the hash policy, call spans give (one row per message). Both join to `calls` on
    # (trace_id, span_id) at load time, whichever arrives first (see events.py). No key, like
    # spans: loads anti-join on record_key within the traces' load numbers (m007).
    con.execute(
        """
        CREATE TABLE genai_events (
            trace_id VARCHAR NOT NULL,
            span_id VARCHAR NOT NULL,
            record_key VARCHAR NOT NULL,
            event_name VARCHAR NOT NULL,
            time TIMESTAMPTZ,
            service VARCHAR,
            scope_name VARCHAR,
            request_model VARCHAR,
            response_model VARCHAR,
            input_tokens BIGINT,
            output_tokens BIGINT,
            gave_usage BOOLEAN DEFAULT false,
            attributes JSON,
            is_demo BOOLEAN DEFAULT false,
            batch_id VARCHAR,
            load_seq BIGINT DEFAULT 0
        )
        """
    )
    con.execute(
        """
        CREATE TABLE call_messages (
            trace_id VARCHAR NOT NULL,
            span_id VARCHAR NOT NULL,
            origin VARCHAR NOT NULL,
            record_key VARCHAR NOT NULL,
            time TIMESTAMPTZ,
            seq BIGINT NOT NULL,
            kind VARCHAR NOT NULL,
            role VARCHAR,
            content VARCHAR,
            content_sha256 VARCHAR,
            tokens BIGINT,
            tool_calls JSON,
            finish_reason VARCHAR,
            batch_id VARCHAR,
            load_seq BIGINT DEFAULT 0
        )
        """
    )
    for col in ("logs_read", "events_new", "logs_dropped"):
        con.execute(f"ALTER TABLE ingest_log ADD COLUMN IF NOT EXISTS {col} BIGINT DEFAULT 0")


MIGRATIONS = [
    ("t001_default_attribution_rules", t001_default_attribution_rules),
    ("t002_genai_events", t002_genai_events),
]
