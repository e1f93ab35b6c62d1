"""The rows running totals are made of: the priced calls of some loads (running.py), as integer
columns (microseconds, nano-dollars, tokens) with the scope dimensions as categories, and the
vector helpers that add them up per scope and per member.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from llmledger.alerts.budgets import SCOPE_DIMS

NANO = 1_000_000_000
#: Columns of the priced calls an update reads (scope dimensions, time, money, tokens, basis).
ROW_COLUMNS = (
    "feature",
    "team",
    "user_id",
    "service",
    "environment",
    "request_model",
    "response_model",
    "provider",
)
ROWS_SQL = """
SELECT {cols}, coalesce(epoch_us(start_time), 0) AS ts,
       coalesce(CAST(round(actual_cost_usd * 1000000000) AS BIGINT), 0) AS nano,
       coalesce(input_tokens, 0) + coalesce(output_tokens, 0) AS tokens,
       coalesce(CAST(cost_basis = 'unpriced' AS BIGINT), 0) AS unpriced
FROM ({priced}) p
"""


def frame(rows: pd.DataFrame | None) -> pd.DataFrame:
    return pd.DataFrame(columns=["nano", "tokens", "calls", "unpriced"], dtype=np.int64) if rows is None else rows


def _rows(cur, sheet: str, pred: str, params: list, trace: bool = False) -> pd.DataFrame:
    """The priced calls matching `pred`: integer ts (microseconds), nano, tokens, unpriced (NULL
    as 0, in SQL), the scope dimensions as categories (dictionary-encoded by Arrow: scope tests
    and member grouping compare small integer codes), trace_id when `trace`."""
    from llmledger.pricing.engine import priced_calls_sql, query_arrow

    priced, p = priced_calls_sql(sheet, calls_where=(pred, params))
    cols = ", ".join(("trace_id",) * trace + ROW_COLUMNS)
    t = query_arrow(cur, ROWS_SQL.format(cols=cols, priced=priced), p)
    out = {}
    for name in t.column_names:
        col = t.column(name)
        if name in ROW_COLUMNS:
            out[name] = col.combine_chunks().dictionary_encode().to_pandas()
        elif name == "trace_id":
            out[name] = col.to_pandas()
        else:
            out[name] = col.to_numpy().astype(np.int64, copy=False)
    return pd.DataFrame(out, index=pd.RangeIndex(t.num_rows))


def _us(t: datetime) -> int:
    """A datetime as integer microseconds since the epoch (DuckDB's TIMESTAMPTZ resolution)."""
    return int(t.timestamp()) * 1_000_000 + t.microsecond


def _dt(us: int) -> datetime:
    from datetime import UTC, timedelta

    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(us))


def _trace_rows(cur, sheet: str, firsts: pd.DataFrame, since: int) -> pd.DataFrame:
    """The priced rows of the traces in `firsts` (trace_id, first), every one of whose rows was
    loaded after `since`, with each trace's first load as column `first`."""
    if not len(firsts):
        return _rows(cur, sheet, "FALSE", [], trace=True).assign(first=pd.Series(dtype=np.int64))
    cur.register("wanted_traces", firsts[["trace_id"]])
    try:
        rows = _rows(
            cur, sheet, "c.load_seq > ? AND c.trace_id IN (SELECT trace_id FROM wanted_traces)", [since], trace=True
        )
    finally:
        cur.unregister("wanted_traces")
    return rows.merge(firsts, on="trace_id", how="left")


def _take_out(chunks: list, traces: set) -> tuple[list, pd.DataFrame]:
    """(the chunks without the rows of `traces`, those rows)."""
    if not traces:
        return chunks, chunks[0].iloc[:0] if chunks else pd.DataFrame(columns=["ts", "nano", "tokens", "unpriced"])
    kept, out = [], []
    for c in chunks:
        hit = c["trace_id"].isin(traces).to_numpy()
        if hit.any():
            out.append(c[hit])
            c = c[~hit]
        if len(c):
            kept.append(c)
    empty = chunks[0].iloc[:0] if chunks else None
    return kept, pd.concat(out, ignore_index=True) if out else empty


_in_cache: dict = {}


def _isin(df: pd.DataFrame, col: str, values: tuple) -> np.ndarray:
    """df[col] in `values`, through the column's category codes: the categories (a few dozen) are
    tested, and each row looks its code up (no string comparison per row)."""
    key = (id(df), col)
    got = _in_cache.get(key)
    if got is None or got[0] is not df:
        cat = df[col].cat
        got = (df, cat.categories.to_numpy(dtype=object).tolist(), cat.codes.to_numpy(), {})
        _in_cache[key] = got
    _, categories, codes, hits = got
    hit = hits.get(values)
    if hit is None:
        wanted = set(values)
        hit = hits[values] = np.array([c in wanted for c in categories] + [False], dtype=bool)  # code -1 (NULL)
    return hit[codes]


def _mask(df: pd.DataFrame, scope: tuple) -> np.ndarray:
    m = np.ones(len(df), dtype=bool)
    for dim, values in scope:
        if dim == "model":
            m &= _isin(df, "request_model", values) | _isin(df, "response_model", values)
        else:
            m &= _isin(df, SCOPE_DIMS[dim], values)
    return m


def clear_caches() -> None:
    """Forget the per-frame codes (after an update: the frames may be gone and their ids reused)."""
    _codes.clear()
    _in_cache.clear()


def _member_col(df: pd.DataFrame, each: str) -> pd.Series:
    if each == "model":
        req, resp = df["request_model"].astype(object), df["response_model"].astype(object)
        return req.where(req.notna(), resp)
    return df[SCOPE_DIMS[each]]


_codes: dict = {}


def _by_member(df: pd.DataFrame, m: np.ndarray, each: str) -> pd.DataFrame:
    """Per member (value of `each`; calls without one belong to none) of the rows in mask `m`."""
    key = (id(df), each)
    if key not in _codes:
        codes, uniques = pd.factorize(_member_col(df, each))
        _codes[key] = (df, codes, np.asarray(uniques, dtype=object))
    _, codes, uniques = _codes[key]
    m = m & (codes >= 0)
    if not m.any():
        return frame(None)
    c = codes[m]
    n = len(uniques)
    out = {
        "nano": np.bincount(c, weights=df["nano"].to_numpy()[m], minlength=n),
        "tokens": np.bincount(c, weights=df["tokens"].to_numpy()[m], minlength=n),
        "calls": np.bincount(c, minlength=n).astype(float),
        "unpriced": np.bincount(c, weights=df["unpriced"].to_numpy()[m], minlength=n),
    }
    used = out["calls"] > 0
    return pd.DataFrame(
        {k: np.round(v[used]).astype(np.int64) for k, v in out.items()},
        index=pd.Index(uniques[used].astype(str).astype(object), dtype=object, name="member"),
    )


def add_members(current: pd.DataFrame | None, delta: pd.DataFrame, sign: int) -> pd.DataFrame:
    """Member totals `current` plus `sign` x `delta` (both indexed by member; columns nano, tokens,
    calls, unpriced), members left with no call dropped. Aligned through the index's hash table
    (kept when no member is new) rather than a DataFrame join."""
    d = delta.to_numpy(dtype=np.int64) * sign
    if current is None or not len(current):
        out = pd.DataFrame(d, index=delta.index, columns=delta.columns)
        return out[out["calls"].to_numpy() != 0]
    idx = current.index.get_indexer(delta.index)
    vals = current.to_numpy(dtype=np.int64, copy=True)
    found = idx >= 0
    vals[idx[found]] += d[found]  # members are unique in `delta`: no repeated positions
    out = pd.DataFrame(vals, index=current.index, columns=current.columns)
    if not found.all():
        out = pd.concat([out, pd.DataFrame(d[~found], index=delta.index[~found], columns=delta.columns)])
    calls = out["calls"].to_numpy()
    return out if (calls != 0).all() else out[calls != 0]
