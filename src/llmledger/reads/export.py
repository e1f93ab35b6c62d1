"""The filtered calls as files: the `llm_calls` contract columns with cost under a sheet, as CSV or
Parquet, read from the sheet's memo of the priced calls (reads/spend_cache.py)."""

from __future__ import annotations

import io
from typing import Any

from llmledger.errors import StoreError
from llmledger.reads import spend_cache
from llmledger.reads.filters import CallFilter

#: Columns written by the CSV / Parquet export (the contract columns of `llm_calls`).
EXPORT_COLUMNS = tuple(c for c in spend_cache.COLUMNS if c != "is_demo")

EXPORT_SQL = """
SELECT {cols}
FROM {table}
WHERE {where}
ORDER BY start_time, trace_id, span_id
"""


def _export_sql(con, f: CallFilter, sheet: str | None) -> tuple[str, list[Any]]:
    where, params = f.where()
    cols = ", ".join(f"{c}::DOUBLE AS {c}" if c.endswith("cost_usd") else c for c in EXPORT_COLUMNS)
    return EXPORT_SQL.format(cols=cols, table=spend_cache.memo_table(con, sheet), where=where), params


def export_count(con, f: CallFilter, sheet: str | None = None) -> int:
    table = spend_cache.memo_table(con, sheet)
    where, params = f.where()
    return int(con.execute(f"SELECT count(*) FROM {table} WHERE {where}", params).fetchone()[0])


def export_csv(con, f: CallFilter, sheet: str | None = None) -> bytes:
    """The filtered calls as CSV (UTF-8, header row, ISO timestamps; empty cells for NULL)."""
    sql, params = _export_sql(con, f, sheet)
    table = _arrow(con, sql, params)
    import pyarrow.csv as pacsv

    buf = io.BytesIO()
    pacsv.write_csv(_as_table(table), buf)
    return buf.getvalue()


def export_parquet(con, f: CallFilter, sheet: str | None = None) -> bytes:
    """The filtered calls as Parquet (types kept: TIMESTAMPTZ, BIGINT tokens, DOUBLE cost)."""
    sql, params = _export_sql(con, f, sheet)
    table = _arrow(con, sql, params)
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(_as_table(table), buf, compression="zstd")
    return buf.getvalue()


def _arrow(con, sql: str, params: list[Any]):
    """A pyarrow Table of a query, read from a relation (`con.sql`): Arrow from an executed DB-API
    result makes DuckDB copy every row once more, and warns that it does."""
    rel = con.cursor().sql(sql, params=params)  # its own cursor: `con` may hold a pending result
    for name in ("to_arrow_table", "fetch_arrow_table", "arrow"):  # the name moved in DuckDB 2.0
        fn = getattr(rel, name, None)
        if fn is not None:
            return fn()
    raise StoreError("this DuckDB build cannot return Arrow tables")


def _as_table(obj):
    """DuckDB returns a RecordBatchReader from `.arrow()` in newer releases, a Table in older."""
    import pyarrow as pa

    if isinstance(obj, pa.Table):
        return obj
    return obj.read_all()
