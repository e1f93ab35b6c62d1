"""The read side of budgets: grouped spend queries over the priced calls.

Spend counts as on the Spend page: the sum of `actual_cost_usd` (pricing.engine.ACTUAL_COST_RULE)
under the ACTIVE sheet, read from that sheet's memo of the priced calls (reads/spend_cache.py,
the same rows as `llm_calls`, kept in step after every load). Calls whose `cost_basis` is
'unpriced' are counted beside the sum, never added as $0. Token budgets sum input + output tokens.

Few queries, each grouped: every window start of every budget is a boundary between time
segments, so one scan grouped by segment (and by the columns the scopes read) gives every
whole-scope budget's total, calendar or rolling, each scope being one FILTER aggregate over that
small cube; "each" budgets take one scan per dimension grouped by member and segment; forecasts
one per time zone grouped by local day. Never one query per budget or per member. Values are bound parameters; only structure chosen here (column expressions from
budgets.SCOPE_DIMS) is formatted into the SQL.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Sequence

import pandas as pd

from llmledger.alerts.budgets import SCOPE_DIMS

Scope = tuple[tuple[str, tuple[str, ...]], ...]
TOKENS = "(coalesce(input_tokens, 0) + coalesce(output_tokens, 0))"
UNPRICED = "cost_basis = 'unpriced'"
MEASURES = ("usd", "tokens", "calls", "unpriced")


def source(con) -> str:
    """The memo table of the active sheet's priced calls, brought up to date."""
    from llmledger.pricing.sheets import pricing_sheet
    from llmledger.reads import spend_cache

    cur = con.cursor()  # pricing_sheet may import the default sheet on the handle it is given
    try:
        sheet = pricing_sheet(cur, None)
    finally:
        cur.close()
    return spend_cache.refresh(con, sheet)["table"]


#: Active sheets already checked (pricing_sheet: it exists; the default one imported from the
#: installed litellm) by this process, per connection: a check after every load reads only the
#: setting (pricing_sheet reads litellm's package metadata, tens of ms, each time).
_checked: dict[int, tuple] = {}


def memo_of_active(con) -> tuple[str, str]:
    """(memo table, sheet) of the active sheet, without bringing the memo up to date."""
    from llmledger.pricing.sheets import get_active_sheet, pricing_sheet
    from llmledger.reads import spend_cache

    name = get_active_sheet(con)
    if _checked.get(id(con)) != (con, name):
        cur = con.cursor()
        try:
            name = pricing_sheet(cur, name)
        finally:
            cur.close()
        if len(_checked) > 16:
            _checked.clear()
        _checked[id(con)] = (con, name)
    return spend_cache.table_for(name), name


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


def _aggregates(scopes: Sequence[Scope], cube: bool = False) -> tuple[str, list]:
    """Four FILTER aggregates per scope: over raw calls, or (cube=True) over a pre-aggregated cube
    whose rows carry usd, tokens, calls and unpriced sums."""
    cols, params = [], []
    for i, scope in enumerate(scopes):
        pred, p = scope_sql(scope)
        if cube:
            cols += [
                f"sum(usd) FILTER (WHERE {pred}) AS usd_{i}",
                f"sum(tokens) FILTER (WHERE {pred}) AS tokens_{i}",
                f"sum(calls) FILTER (WHERE {pred}) AS calls_{i}",
                f"sum(unpriced) FILTER (WHERE {pred}) AS unpriced_{i}",
            ]
        else:
            cols += [
                f"sum(actual_cost_usd) FILTER (WHERE {pred}) AS usd_{i}",
                f"sum({TOKENS}) FILTER (WHERE {pred}) AS tokens_{i}",
                f"count(*) FILTER (WHERE {pred}) AS calls_{i}",
                f"count(*) FILTER (WHERE {pred} AND {UNPRICED}) AS unpriced_{i}",
            ]
        params += p * 4
    return ", ".join(cols), params


def cube_columns(scopes: Sequence[Scope]) -> list[str]:
    """The call columns the scopes' predicates read (a scope on `model` reads both model columns)."""
    used: set[str] = set()
    for scope in scopes:
        for dim, _ in scope:
            used.update(("request_model", "response_model") if dim == "model" else (SCOPE_DIMS[dim],))
    return sorted(used)


#: Scans are grouped first by the key (a time segment or a local day) and the columns the scopes
#: read, then every scope is one FILTER aggregate over that cube: tens of thousands of cube rows
#: instead of a million calls for each of hundreds of aggregates.
CUBE_SQL = """
WITH cube AS (
    SELECT {key} AS k, {cols} sum(actual_cost_usd) AS usd, sum({tokens}) AS tokens, count(*) AS calls,
           count(*) FILTER (WHERE {unpriced}) AS unpriced
    FROM {table}
    WHERE start_time >= ? AND start_time < ?
    GROUP BY ALL)
SELECT k, {aggs} FROM cube GROUP BY k ORDER BY k
"""


def _cube(
    cur, table: str, key: str, key_params: list, start: datetime, end: datetime, scopes: Sequence[Scope]
) -> pd.DataFrame:
    aggs, params = _aggregates(scopes, cube=True)
    cols = "".join(f"{c}, " for c in cube_columns(scopes))
    sql = CUBE_SQL.format(key=key, cols=cols, tokens=TOKENS, unpriced=UNPRICED, table=table, aggs=aggs)
    return cur.execute(sql, key_params + [start, end] + params).df()


def segment_case(boundaries: Sequence[datetime]) -> tuple[str, list]:
    """SQL giving each call the index of the last boundary at or before it (boundaries sorted)."""
    if len(boundaries) == 1:
        return "0", []
    whens = " ".join(f"WHEN start_time >= ? THEN {i}" for i in range(len(boundaries) - 1, 0, -1))
    return f"CASE {whens} ELSE 0 END", list(boundaries[:0:-1])


def segment_totals(
    cur, table: str, boundaries: Sequence[datetime], end: datetime, scopes: Sequence[Scope]
) -> pd.DataFrame:
    """Totals of each scope per time segment [boundary_k, boundary_k+1) up to `end` (column k):
    a window starting at boundary k sums the segments from k on. One scan for every window."""
    key, params = segment_case(boundaries)
    return _cube(cur, table, key, params, boundaries[0], end, scopes)


def daily(cur, table: str, tz: str, start: datetime, end: datetime, scopes: Sequence[Scope]) -> pd.DataFrame:
    """One row per local day in `tz` (column `day`) with calls in [start, end); columns usd_i,
    tokens_i, calls_i, unpriced_i per scope i (one scan for all scopes)."""
    df = _cube(cur, table, "CAST(timezone(?, start_time) AS DATE)", [tz], start, end, scopes)
    return df.rename(columns={"k": "day"})


MEMBERS_SQL = """
WITH cube AS MATERIALIZED (
    SELECT {member} AS member, {seg} AS k, {cols} sum(actual_cost_usd) AS usd, sum({tokens}) AS tokens,
           count(*) AS calls, count(*) FILTER (WHERE {unpriced}) AS unpriced
    FROM {table}
    WHERE start_time >= ? AND start_time < ? AND {member} IS NOT NULL
    GROUP BY ALL)
SELECT w.b, p.member, sum(p.usd)::DOUBLE AS usd, sum(p.tokens)::DOUBLE AS tokens, sum(p.calls) AS calls,
       sum(p.unpriced) AS unpriced
FROM ({parts}) p
JOIN (SELECT unnest(?) AS b, unnest(?) AS scope, unnest(?) AS first) w ON p.scope = w.scope AND p.k >= w.first
GROUP BY ALL
ORDER BY w.b
"""


def member_totals(
    cur,
    table: str,
    boundaries: Sequence[datetime],
    end: datetime,
    each: str,
    scopes: Sequence[Scope],
    wanted: Sequence[tuple[int, int]],
) -> pd.DataFrame:
    """Per wanted budget b = (scope index, first segment) and value of `each` (calls without one
    belong to no member): usd, tokens, calls, unpriced, ordered by b. One scan of the calls for
    every "each" budget on this dimension, into a cube by member and segment; each scope then
    selects its rows of the cube (a FILTER aggregate per scope over thousands of members would be
    far slower) and each budget sums its segments."""
    seg, seg_params = segment_case(boundaries)
    parts, params = [], []
    for i, scope in enumerate(scopes):
        pred, p = scope_sql(scope)
        parts.append(f"SELECT {i} AS scope, member, k, usd, tokens, calls, unpriced FROM cube WHERE {pred}")
        params += p
    cols = "".join(f"{c}, " for c in cube_columns(scopes))
    sql = MEMBERS_SQL.format(
        member=SCOPE_DIMS[each],
        seg=seg,
        cols=cols,
        tokens=TOKENS,
        unpriced=UNPRICED,
        table=table,
        parts=" UNION ALL ".join(parts),
    )
    w = [list(range(len(wanted))), [int(x[0]) for x in wanted], [int(x[1]) for x in wanted]]
    return cur.execute(sql, seg_params + [boundaries[0], end] + params + w).df()


MEMBER_DAILY_SQL = """
SELECT {member} AS member, CAST(timezone(?, start_time) AS DATE) AS day, sum({measure})::DOUBLE AS v
FROM {table}
WHERE start_time >= ? AND start_time < ? AND {pred} AND {member} IN (SELECT unnest(?))
GROUP BY 1, 2
"""


def member_daily(
    cur, table: str, tz: str, start: datetime, end: datetime, scope: Scope, each: str, unit: str, members: list[str]
) -> pd.DataFrame:
    """Spend (or tokens) per member of `each` and local day in `tz`, for the listed members only."""
    pred, params = scope_sql(scope)
    measure = "actual_cost_usd" if unit == "usd" else TOKENS
    sql = MEMBER_DAILY_SQL.format(member=SCOPE_DIMS[each], measure=measure, table=table, pred=pred)
    return cur.execute(sql, [tz, start, end, *params, list(members)]).df()


CONTRIB_DIMS = {"feature": "feature", "user": "user_id", "model": "coalesce(request_model, response_model)"}
#: One scan of both windows, grouped three ways (feature, user, model); the `top` values with the
#: largest change per dimension.
CONTRIB_SQL = """
WITH base AS (
    SELECT {exprs},
           CASE WHEN start_time >= ? AND start_time < ? THEN {measure} END AS now_v,
           CASE WHEN start_time >= ? AND start_time < ? THEN {measure} END AS before_v
    FROM {table}
    WHERE ((start_time >= ? AND start_time < ?) OR (start_time >= ? AND start_time < ?)) AND {pred}),
grouped AS (
    {groups})
SELECT dim, value, now, before, now - before AS delta FROM grouped
QUALIFY row_number() OVER (PARTITION BY dim ORDER BY abs(now - before) DESC) <= ?
"""
CONTRIB_GROUP = (
    "SELECT '{label}' AS dim, d_{label} AS value, coalesce(sum(now_v), 0)::DOUBLE AS now, "
    "coalesce(sum(before_v), 0)::DOUBLE AS before FROM base GROUP BY d_{label}"
)


def contributors(
    cur,
    table: str,
    scope: Scope,
    member: tuple[str, str] | None,
    unit: str,
    current: tuple[datetime, datetime],
    before: tuple[datetime, datetime],
    top: int = 5,
) -> list[dict]:
    """The feature, user and model values that changed spend most between `before` and `current`
    (the same elapsed part of the previous period), with their deltas: one query."""
    pred, params = scope_sql(scope, [member] if member else [])
    measure = "actual_cost_usd" if unit == "usd" else TOKENS
    sql = CONTRIB_SQL.format(
        exprs=", ".join(f"{expr} AS d_{label}" for label, expr in CONTRIB_DIMS.items()),
        measure=measure,
        table=table,
        pred=pred,
        groups="\n    UNION ALL ".join(CONTRIB_GROUP.format(label=label) for label in CONTRIB_DIMS),
    )
    rows = cur.execute(sql, [*current, *before, *current, *before, *params, top]).fetchall()
    out = [
        {"dim": label, "value": v if v is not None else "(unattributed)", "now": n, "before": b, "delta": d}
        for label, v, n, b, d in rows
        if d
    ]
    order = {label: i for i, label in enumerate(CONTRIB_DIMS)}
    return sorted(out, key=lambda c: (-abs(c["delta"]), order[c["dim"]]))


HISTORY_SQL = """
SELECT b.i, sum(p.{measure})::DOUBLE AS spent, count(p.start_time) AS calls,
       count(*) FILTER (WHERE p.cost_basis = 'unpriced') AS unpriced
FROM (SELECT unnest(?) AS i, unnest(?) AS s, unnest(?) AS e) b
LEFT JOIN (SELECT start_time, actual_cost_usd, cost_basis, {tokens} AS tokens FROM {table}
           WHERE start_time >= ? AND start_time < ? AND {pred}) p
       ON p.start_time >= b.s AND p.start_time < b.e
GROUP BY b.i ORDER BY b.i
"""


def period_totals(
    cur,
    table: str,
    scope: Scope,
    unit: str,
    windows: Sequence[tuple[datetime, datetime]],
    member: tuple[str, str] | None = None,
) -> list[dict]:
    """Spend of one scope in each of several windows (past periods), one query."""
    if not windows:
        return []
    pred, params = scope_sql(scope, [member] if member else [])
    measure = "actual_cost_usd" if unit == "usd" else "tokens"
    sql = HISTORY_SQL.format(measure=measure, tokens=TOKENS, table=table, pred=pred)
    idx = list(range(len(windows)))
    rows = cur.execute(
        sql,
        [
            idx,
            [w[0] for w in windows],
            [w[1] for w in windows],
            min(w[0] for w in windows),
            max(w[1] for w in windows),
            *params,
        ],
    ).fetchall()
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
