"""The read side of budgets: grouped spend queries over the priced calls.

Spend counts as on the Spend page: the sum of `actual_cost_usd` (pricing.engine.ACTUAL_COST_RULE)
under the ACTIVE sheet, read from that sheet's memo of the priced calls (store/spend_cache.py,
the same rows as `llm_calls`, kept in step after every load). Calls whose `cost_basis` is
'unpriced' are counted beside the sum, never added as $0. Token budgets sum input + output tokens.

Few queries, each grouped: every scope of every budget becomes one FILTER aggregate of a single
scan, so 200 budgets cost a handful of scans (one per time zone for calendar budgets, one per
window for rolling ones, one per window and dimension for "each" budgets), never one per budget
or per member. Values are bound parameters; only structure chosen here (column expressions from
budgets.SCOPE_DIMS) is formatted into the SQL.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Sequence

import pandas as pd

from llmledger.alerts.budgets import SCOPE_DIMS

Scope = tuple[tuple[str, tuple[str, ...]], ...]
TOKENS = "(coalesce(input_tokens, 0) + coalesce(output_tokens, 0))"
UNPRICED = "cost_basis = 'unpriced'"
MEASURES = ("usd", "tokens", "calls", "unpriced")


def source(con) -> str:
    """The memo table of the active sheet's priced calls, brought up to date."""
    from llmledger.pricing.sheets import pricing_sheet
    from llmledger.store import spend_cache

    cur = con.cursor()  # pricing_sheet may import the default sheet on the handle it is given
    try:
        sheet = pricing_sheet(cur, None)
    finally:
        cur.close()
    return spend_cache.refresh(con, sheet)["table"]


def active_sheet(con) -> str:
    from llmledger.pricing.sheets import get_active_sheet

    return get_active_sheet(con)


def scope_sql(scope: Scope, extra: Sequence[tuple[str, str]] = ()) -> tuple[str, list]:
    """Predicate of a scope (dimensions AND, values of one dimension OR). `model` matches the
    requested or the responding model. `extra`: (dim, value) pairs that must equal (a member)."""
    clauses, params = [], []
    for dim, values in scope:
        if dim == "model":
            marks = ", ".join("?" * len(values))
            clauses.append(f"(request_model IN ({marks}) OR response_model IN ({marks}))")
            params += list(values) + list(values)
        else:
            clauses.append(f"{SCOPE_DIMS[dim]} IN ({', '.join('?' * len(values))})")
            params += list(values)
    for dim, value in extra:
        clauses.append(f"{SCOPE_DIMS[dim]} = ?")
        params.append(value)
    return (" AND ".join(clauses) or "TRUE"), params


def _aggregates(scopes: Sequence[Scope]) -> tuple[str, list]:
    cols, params = [], []
    for i, scope in enumerate(scopes):
        pred, p = scope_sql(scope)
        cols += [f"sum(actual_cost_usd) FILTER (WHERE {pred}) AS usd_{i}",
                 f"sum({TOKENS}) FILTER (WHERE {pred}) AS tokens_{i}",
                 f"count(*) FILTER (WHERE {pred}) AS calls_{i}",
                 f"count(*) FILTER (WHERE {pred} AND {UNPRICED}) AS unpriced_{i}"]
        params += p * 4
    return ", ".join(cols), params


DAILY_SQL = """
SELECT CAST(timezone(?, start_time) AS DATE) AS day, {aggs}
FROM {table}
WHERE start_time >= ? AND start_time < ?
GROUP BY 1 ORDER BY 1
"""


def daily(cur, table: str, tz: str, start: datetime, end: datetime, scopes: Sequence[Scope]) -> pd.DataFrame:
    """One row per local day in `tz` with calls in [start, end); columns usd_i, tokens_i,
    calls_i, unpriced_i per scope i (one scan for all scopes)."""
    aggs, params = _aggregates(scopes)
    return cur.execute(DAILY_SQL.format(aggs=aggs, table=table), [tz] + params + [start, end]).df()


WINDOW_SQL = "SELECT {aggs} FROM {table} WHERE start_time >= ? AND start_time < ?"


def window_totals(cur, table: str, start: datetime, end: datetime, scopes: Sequence[Scope]) -> list[dict[str, Any]]:
    """Totals of each scope in [start, end), one scan."""
    aggs, params = _aggregates(scopes)
    row = cur.execute(WINDOW_SQL.format(aggs=aggs, table=table), params + [start, end]).fetchone()
    return [{m: row[4 * i + k] for k, m in enumerate(MEASURES)} for i in range(len(scopes))]


MEMBERS_SQL = """
SELECT {member} AS member, {aggs}
FROM {table}
WHERE start_time >= ? AND start_time < ? AND {member} IS NOT NULL
GROUP BY 1
"""


def member_totals(cur, table: str, start: datetime, end: datetime, each: str,
                  scopes: Sequence[Scope]) -> pd.DataFrame:
    """Per value of `each` (calls without one belong to no member), the totals of each scope."""
    aggs, params = _aggregates(scopes)
    sql = MEMBERS_SQL.format(member=SCOPE_DIMS[each], aggs=aggs, table=table)
    return cur.execute(sql, params + [start, end]).df()


CONTRIB_DIMS = {"feature": "feature", "user": "user_id", "model": "coalesce(request_model, response_model)"}
CONTRIB_SQL = """
WITH cur AS (
    SELECT {expr} AS value, sum({measure}) AS now FROM {table}
    WHERE start_time >= ? AND start_time < ? AND {pred} GROUP BY 1),
prev AS (
    SELECT {expr} AS value, sum({measure}) AS before FROM {table}
    WHERE start_time >= ? AND start_time < ? AND {pred} GROUP BY 1)
SELECT value, coalesce(now, 0)::DOUBLE AS now, coalesce(before, 0)::DOUBLE AS before,
       (coalesce(now, 0) - coalesce(before, 0))::DOUBLE AS delta
FROM cur FULL OUTER JOIN prev USING (value)
ORDER BY abs(coalesce(now, 0) - coalesce(before, 0)) DESC
LIMIT ?
"""


def contributors(cur, table: str, scope: Scope, member: tuple[str, str] | None, unit: str,
                 current: tuple[datetime, datetime], before: tuple[datetime, datetime], top: int = 5) -> list[dict]:
    """The feature, user and model values that changed spend most between `before` and `current`
    (the same elapsed part of the previous period), with their deltas."""
    pred, params = scope_sql(scope, [member] if member else [])
    measure = "actual_cost_usd" if unit == "usd" else TOKENS
    out = []
    for label, expr in CONTRIB_DIMS.items():
        sql = CONTRIB_SQL.format(expr=expr, measure=measure, table=table, pred=pred)
        rows = cur.execute(sql, [*current, *params, *before, *params, top]).fetchall()
        out += [{"dim": label, "value": v if v is not None else "(unattributed)", "now": n, "before": b, "delta": d}
                for v, n, b, d in rows if d]
    return sorted(out, key=lambda c: -abs(c["delta"]))


HISTORY_SQL = """
SELECT b.i, sum(p.{measure})::DOUBLE AS spent, count(p.start_time) AS calls,
       count(*) FILTER (WHERE p.cost_basis = 'unpriced') AS unpriced
FROM (SELECT unnest(?) AS i, unnest(?) AS s, unnest(?) AS e) b
LEFT JOIN (SELECT start_time, actual_cost_usd, cost_basis, {tokens} AS tokens FROM {table}
           WHERE start_time >= ? AND start_time < ? AND {pred}) p
       ON p.start_time >= b.s AND p.start_time < b.e
GROUP BY b.i ORDER BY b.i
"""


def period_totals(cur, table: str, scope: Scope, unit: str, windows: Sequence[tuple[datetime, datetime]],
                  member: tuple[str, str] | None = None) -> list[dict]:
    """Spend of one scope in each of several windows (past periods), one query."""
    if not windows:
        return []
    pred, params = scope_sql(scope, [member] if member else [])
    measure = "actual_cost_usd" if unit == "usd" else "tokens"
    sql = HISTORY_SQL.format(measure=measure, tokens=TOKENS, table=table, pred=pred)
    idx = list(range(len(windows)))
    rows = cur.execute(sql, [idx, [w[0] for w in windows], [w[1] for w in windows],
                             min(w[0] for w in windows), max(w[1] for w in windows), *params]).fetchall()
    by = {i: (s, c, u) for i, s, c, u in rows}
    return [{"spent": by[i][0] or 0.0, "calls": int(by[i][1]), "unpriced": int(by[i][2])} for i in idx]


def day_series(df: pd.DataFrame, i: int, unit: str, start: date, end: date) -> pd.Series:
    """Scope i's spend per local day in [start, end] from a `daily` frame (missing days = 0)."""
    col = f"usd_{i}" if unit == "usd" else f"tokens_{i}"
    idx = pd.date_range(start, end, freq="D").date
    if df.empty:
        return pd.Series(0.0, index=idx)
    s = pd.Series(df[col].astype(float).fillna(0.0).to_numpy(), index=df["day"].map(_as_date))
    return s.reindex(idx, fill_value=0.0)


def _as_date(v) -> date:
    return v.date() if hasattr(v, "date") and callable(v.date) else v
