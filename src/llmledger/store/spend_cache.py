"""A memo of `llm_calls` for the Spend page: the same rows and the same `cost_usd`, stored.

Pricing a million calls through the `llm_calls` view (version ranges, model resolution, DECIMAL
maths) takes about a second on two cores, and the Spend page runs ten queries. So the page reads
`spend_calls`, a table holding exactly what `llm_calls` returns, kept in step with it:

- **Full rebuild** when anything that changes a price changes: the active sheet, its versions,
  the model-name resolutions, or the attribution rules (a "price token"); or when calls were
  removed (demo removal) or changed without a load.
- **Incremental** after loads: every trace touched by a batch loaded since the last refresh is
  re-read from the earliest start time among them (attribution may update a trace's older calls),
  priced with `pricing.engine.priced_calls_sql` restricted to that period, which prunes the scan.
- A check that the memo holds as many rows as `calls` closes every gap: on a mismatch, rebuild.

Cost is still computed at query time from the selected sheet; this only remembers the answer
until one of its inputs changes. `refresh(con)` is cheap (a few tiny queries) when nothing did.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

TABLE = "spend_calls"
COLUMNS = (
    "trace_id", "span_id", "start_time", "duration_ms", "service", "environment", "feature", "team",
    "user_id", "session_id", "provider", "operation", "request_model", "response_model",
    "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens",
    "usage_source", "convention", "status", "reported_cost_usd", "cost_usd", "is_demo",
)
#: Bumped when the memo's columns change, so an old memo is rebuilt.
SCHEMA = "2"
# trace_key: a 64-bit hash of trace_id, computed once here, so ranking 300k traces groups
# integers instead of 32-character strings.
_COLS = ", ".join(COLUMNS) + ", hash(trace_id) AS trace_key"
_lock = threading.Lock()
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

STATE_DDL = """
CREATE TABLE IF NOT EXISTS spend_cache_state (
    id INTEGER PRIMARY KEY, price_token VARCHAR, calls BIGINT, last_loaded_at TIMESTAMPTZ,
    built_at TIMESTAMPTZ, action VARCHAR, seconds DOUBLE)
"""

PRICE_TOKEN_SQL = """
SELECT concat_ws('|', ?, s.sheet,
    (SELECT count(*) || ':' || coalesce(max(version_id), 0) || ':' || coalesce(max(imported_at)::VARCHAR, '')
     || ':' || coalesce(max(effective_from)::VARCHAR, '') FROM price_versions WHERE sheet = s.sheet),
    (SELECT count(*) || ':' || count(model_id) FROM price_resolution r
     WHERE r.version_id IN (SELECT version_id FROM price_versions WHERE sheet = s.sheet)),
    (SELECT coalesce(md5(string_agg(concat_ws(',', dim, key, json_field, level, priority, enabled), ';'
                                    ORDER BY dim, key, json_field)), '') FROM attribution_rules))
FROM (SELECT coalesce(max(value), 'litellm') AS sheet FROM settings WHERE key = 'active_sheet') s
"""

DATA_TOKEN_SQL = "SELECT (SELECT count(*) FROM calls), (SELECT max(loaded_at) FROM ingest_log)"

TOUCHED_SINCE_SQL = """
SELECT min(c.start_time), count(*)
FROM calls c
WHERE c.trace_id IN (SELECT DISTINCT s.trace_id FROM spans s
                     WHERE s.batch_id IN (SELECT batch_id FROM ingest_log WHERE loaded_at > ?))
"""


def _active_sheet(cur) -> str:
    row = cur.execute("SELECT max(value) FROM settings WHERE key = 'active_sheet'").fetchone()
    return row[0] if row and row[0] else "litellm"


def _priced(sheet: str, since=None) -> tuple[str, list]:
    from llmledger.pricing.engine import priced_calls_sql

    sql, params = priced_calls_sql(sheet, period=(since, None) if since is not None else None)
    return f"SELECT {_COLS} FROM ({sql}) p", params


def _exists(cur) -> bool:
    return bool(cur.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND NOT temporary", [TABLE]).fetchone()[0])


def refresh(con) -> dict[str, Any]:
    """Bring `spend_calls` in step with `llm_calls`; returns what it did and how long it took."""
    with _lock:
        cur = con.cursor()
        try:
            return _refresh(cur)
        finally:
            cur.close()


def _refresh(cur) -> dict[str, Any]:
    t0 = time.perf_counter()
    cur.execute(STATE_DDL)
    price_token = cur.execute(PRICE_TOKEN_SQL, [SCHEMA]).fetchone()[0]
    calls, last_loaded = cur.execute(DATA_TOKEN_SQL).fetchone()
    state = cur.execute("SELECT price_token, calls, last_loaded_at FROM spend_cache_state WHERE id = 1").fetchone()
    exists = _exists(cur)
    if exists and state and state[0] == price_token and state[1] == calls and state[2] == last_loaded:
        return {"action": "fresh", "seconds": time.perf_counter() - t0}
    sheet = _active_sheet(cur)
    action = "rebuild"
    cur.execute("BEGIN")
    try:
        if exists and state and state[0] == price_token and calls >= state[1]:
            # No load logged at the last refresh: every logged batch is new.
            since, n = cur.execute(TOUCHED_SINCE_SQL, [state[2] or EPOCH]).fetchone()
            action = "noop"  # batches that added nothing (replays, duplicates)
            if n and since is not None:
                sql, params = _priced(sheet, since)
                cur.execute(f"DELETE FROM {TABLE} WHERE start_time >= ?", [since])
                cur.execute(f"INSERT INTO {TABLE} {sql}", params)
                action = "incremental"
            if cur.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0] != calls:
                action = "rebuild"
        if action == "rebuild":
            sql, params = _priced(sheet)
            cur.execute(f"CREATE OR REPLACE TABLE {TABLE} AS {sql}", params)
        cur.execute("INSERT OR REPLACE INTO spend_cache_state VALUES (1, ?, ?, ?, now(), ?, ?)",
                    [price_token, calls, last_loaded, action, time.perf_counter() - t0])
        cur.execute("COMMIT")
    except BaseException:
        cur.execute("ROLLBACK")
        raise
    return {"action": action, "seconds": time.perf_counter() - t0, "calls": calls}
