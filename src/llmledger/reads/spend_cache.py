"""Memos of the priced calls for the money reads (Spend, top traces by cost, budgets): one table per price sheet, holding exactly what
`pricing.engine.priced_calls_sql(sheet)` returns (so under the active sheet, what `llm_calls`
returns), stored.

Pricing a million calls (version ranges, model resolution, DECIMAL maths) takes about a second on
two cores, and the Spend page runs ten queries. So the page reads a memo kept in step with the
priced calls. A viewer picks the sheet per browser session, so each sheet in use has its own
memo (`table_for(sheet)`), refreshed before every query:

- **Full rebuild** when anything that changes a price under that sheet changes: its versions,
  the model-name resolutions, or the attribution rules (a "price token"); or when calls were
  removed (demo removal) or changed without a load.
- **Incremental** after loads: every trace touched by a batch loaded since the last refresh is
  re-read from the earliest start time among them (attribution may update a trace's older calls),
  priced with `priced_calls_sql` restricted to that period, which prunes the scan.
- A check that the memo holds as many rows as `calls` closes every gap: on a mismatch, rebuild.

At most MAX_MEMOS memos are kept; the one unused longest is dropped (never one used in the last
KEEP_S seconds). `refresh(con, sheet)` is cheap when nothing changed: one query (FRESH_SQL) reads
the price token, the data token, the memo's state row and whether its table exists. The Spend page
makes about ten reads per run, each checking first.
"""

from __future__ import annotations

import hashlib
import threading
import time
from datetime import UTC, datetime
from typing import Any

import duckdb

from llmledger.pricing.engine import DEFAULT_SHEET, priced_calls_sql
from llmledger.pricing.matching import refresh_resolutions
from llmledger.pricing.sheets import get_active_sheet, pricing_sheet

COLUMNS = (
    "trace_id",
    "span_id",
    "start_time",
    "duration_ms",
    "service",
    "environment",
    "feature",
    "team",
    "user_id",
    "session_id",
    "provider",
    "operation",
    "request_model",
    "response_model",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "usage_source",
    "convention",
    "status",
    "reported_cost_usd",
    "cost_usd",
    "actual_cost_usd",
    "cost_basis",
    "is_demo",
)
#: Part of every price token, so a memo written with other columns is rebuilt.
SCHEMA = "3"
MAX_MEMOS = 4
KEEP_S = 600
# trace_key: a 64-bit hash of trace_id, computed once here, so ranking 300k traces groups
# integers instead of 32-character strings.
_COLS = ", ".join(COLUMNS) + ", hash(trace_id) AS trace_key"
_lock = threading.Lock()
_last_used: dict[str, float] = {}  # memo table -> time.monotonic() of its last refresh
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
STATE = "spend_memo_state"

STATE_DDL = f"""
CREATE TABLE IF NOT EXISTS {STATE} (
    sheet VARCHAR PRIMARY KEY, memo VARCHAR NOT NULL, price_token VARCHAR, calls BIGINT,
    last_loaded_at TIMESTAMPTZ, built_at TIMESTAMPTZ, action VARCHAR, seconds DOUBLE)
"""
#: Memos of releases that kept one memo for the active sheet only.
LEGACY = ("spend_calls", "spend_cache_state")

PRICE_TOKEN_SQL = """
SELECT concat_ws('|', ?, ?,
    (SELECT count(*) || ':' || coalesce(max(version_id), 0) || ':' || coalesce(max(imported_at)::VARCHAR, '')
     || ':' || coalesce(max(effective_from)::VARCHAR, '') FROM price_versions WHERE sheet = ?),
    (SELECT count(*) || ':' || count(model_id) FROM price_resolution r
     WHERE r.version_id IN (SELECT version_id FROM price_versions WHERE sheet = ?)),
    (SELECT coalesce(md5(string_agg(concat_ws(',', dim, key, json_field, level, priority, enabled), ';'
                                    ORDER BY dim, key, json_field)), '') FROM attribution_rules))
"""

DATA_TOKEN_SQL = "SELECT (SELECT count(*) FROM calls), (SELECT max(loaded_at) FROM ingest_log)"

#: Everything the freshness check needs, in one round trip: the sheet's price token, the data
#: token (calls, last load), what the memo was built from, and whether its table is there.
FRESH_SQL = f"""
SELECT ({PRICE_TOKEN_SQL.strip()}) AS price_token,
       (SELECT count(*) FROM calls) AS calls,
       (SELECT max(loaded_at) FROM ingest_log) AS last_loaded,
       (SELECT price_token FROM {STATE} WHERE sheet = ?) AS memo_price_token,
       (SELECT calls FROM {STATE} WHERE sheet = ?) AS memo_calls,
       (SELECT last_loaded_at FROM {STATE} WHERE sheet = ?) AS memo_last_loaded,
       EXISTS (SELECT 1 FROM duckdb_tables() WHERE table_name = ? AND NOT temporary) AS memo_exists
"""

TOUCHED_SINCE_SQL = """
SELECT min(c.start_time), count(*)
FROM calls c
WHERE c.trace_id IN (SELECT DISTINCT s.trace_id FROM spans s
                     WHERE s.batch_id IN (SELECT batch_id FROM ingest_log WHERE loaded_at > ?))
"""


def table_for(sheet: str) -> str:
    """The memo table of a sheet (a hash: sheet names are user text, table names are SQL)."""
    return "spend_calls_" + hashlib.sha1(sheet.encode()).hexdigest()[:16]


def _priced(sheet: str, since=None) -> tuple[str, list]:
    sql, params = priced_calls_sql(sheet, period=(since, None) if since is not None else None)
    return f"SELECT {_COLS} FROM ({sql}) p", params


#: Set once this process has checked the default sheet against the installed litellm (a newer
#: litellm is only seen by a new process).
_default_checked = False


def memo_table(con, sheet: str | None = None) -> str:
    """The memo table of `sheet` (None = the active sheet), brought up to date first. Every money
    read scans this instead of pricing the calls again. store/db.connect turns off the DuckDB
    optimizer that mis-typed sums over the priced calls.

    A fresh memo answers after one query: its price token counts the sheet's versions, so a memo
    in step with it proves the sheet exists. Otherwise (and once per process for the default
    sheet, which follows the installed litellm) `pricing_sheet` checks the sheet first."""
    global _default_checked
    name = sheet or get_active_sheet(con)
    if name != DEFAULT_SHEET or _default_checked:
        with _lock:
            cur = con.cursor()
            try:
                fresh, _row = _check(cur, name)
            finally:
                cur.close()
        if fresh:
            _last_used[table_for(name)] = time.monotonic()
            return table_for(name)
    name = pricing_sheet(con, name)
    if name == DEFAULT_SHEET:
        _default_checked = True
    return refresh(con, name)["table"]


def refresh(con, sheet: str) -> dict[str, Any]:
    """Bring the memo of `sheet` in step with the priced calls; returns what it did, how long it
    took and the memo's table name (`table`)."""
    with _lock:
        cur = con.cursor()
        try:
            out = _refresh(cur, sheet)
            _last_used[out["table"]] = time.monotonic()
            if out["action"] != "fresh":  # only a new memo can take the count past MAX_MEMOS
                _evict(cur, keep=out["table"])
            return out
        finally:
            cur.close()


def _check(cur, sheet: str) -> tuple[bool, tuple]:
    """One query: is the memo of `sheet` in step with the priced calls? Also returns the row
    (price token, calls, last load, the memo's three, memo table exists). Creates the state
    table on a ledger that has none yet."""
    params = [SCHEMA, sheet, sheet, sheet, sheet, sheet, sheet, table_for(sheet)]
    try:
        row = cur.execute(FRESH_SQL, params).fetchone()
    except duckdb.CatalogException:
        cur.execute(STATE_DDL)
        row = cur.execute(FRESH_SQL, params).fetchone()
    price_token, calls, last_loaded, memo_token, memo_calls, memo_loaded, exists = row
    fresh = bool(exists) and memo_token == price_token and memo_calls == calls and memo_loaded == last_loaded
    return fresh, row


def _refresh(cur, sheet: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    table = table_for(sheet)
    fresh, row = _check(cur, sheet)
    if fresh:
        return {"action": "fresh", "seconds": time.perf_counter() - t0, "table": table}
    price_token, calls, last_loaded, *memo, exists = row
    state = tuple(memo) if memo[0] is not None else None
    action = "rebuild"
    cur.execute("BEGIN")
    try:
        for legacy in LEGACY:
            cur.execute(f"DROP TABLE IF EXISTS {legacy}")
        if exists and state and state[0] == price_token and calls >= state[1]:
            # No load logged at the last refresh: every logged batch is new.
            since, n = cur.execute(TOUCHED_SINCE_SQL, [state[2] or EPOCH]).fetchone()
            action = "noop"  # batches that added nothing (replays, duplicates)
            if n and since is not None:
                sql, params = _priced(sheet, since)
                cur.execute(f"DELETE FROM {table} WHERE start_time >= ?", [since])
                cur.execute(f"INSERT INTO {table} {sql}", params)
                action = "incremental"
            if cur.execute(f"SELECT count(*) FROM {table}").fetchone()[0] != calls:
                action = "rebuild"
        if action == "rebuild":
            if refresh_resolutions(cur, sheet):  # names no load resolved under this sheet yet
                price_token = cur.execute(PRICE_TOKEN_SQL, [SCHEMA, sheet, sheet, sheet]).fetchone()[0]
            sql, params = _priced(sheet)
            cur.execute(f"CREATE OR REPLACE TABLE {table} AS {sql}", params)
        cur.execute(
            f"INSERT OR REPLACE INTO {STATE} VALUES (?, ?, ?, ?, ?, now(), ?, ?)",
            [sheet, table, price_token, calls, last_loaded, action, time.perf_counter() - t0],
        )
        cur.execute("COMMIT")
    except BaseException:
        cur.execute("ROLLBACK")
        raise
    return {"action": action, "seconds": time.perf_counter() - t0, "calls": calls, "table": table}


def _evict(cur, keep: str) -> None:
    """Past MAX_MEMOS memos, drop those unused longest (memos of another process count as unused)."""
    memos = cur.execute(f"SELECT sheet, memo FROM {STATE}").fetchall()
    if len(memos) <= MAX_MEMOS:
        return
    now = time.monotonic()
    idle = sorted(
        (_last_used.get(memo, 0.0), sheet, memo)
        for sheet, memo in memos
        if memo != keep and now - _last_used.get(memo, -KEEP_S) >= KEEP_S
    )
    for _, sheet, memo in idle[: len(memos) - MAX_MEMOS]:
        cur.execute("BEGIN")
        cur.execute(f"DROP TABLE IF EXISTS {memo}")
        cur.execute(f"DELETE FROM {STATE} WHERE sheet = ?", [sheet])
        cur.execute("COMMIT")
        _last_used.pop(memo, None)
