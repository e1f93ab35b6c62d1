"""The Calls page's reads: volume, tokens, latency and cost over time and by dimension, the top
traces with their span trees, and data quality.

Cost is computed at query time by the `llm_calls` view (pricing joins every call to the active
sheet), which makes a scan of that view several times dearer than a scan of the `calls` table it
reads. So every aggregate takes `with_cost`: False reads `calls` directly (same columns, cost
NULL), True reads `llm_calls`. Pages ask for cost only where they show it. Money is actual cost
(pricing.engine.ACTUAL_COST_RULE), as on every page.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd

from llmledger.errors import StoreError
from llmledger.reads import buckets, spend_cache
from llmledger.reads.filters import DIMENSIONS, OTHER, TOKENS, UNATTRIBUTED, CallFilter, dim_expr

#: Where rows come from: the base table (no cost) or the contract view (cost under the active sheet).
CALLS_TABLE, PRICED_VIEW = "calls", "llm_calls"
#: Buckets of a calls series: its percentiles need a key that is the whole bucket (no months).
SERIES_BUCKETS = ("hour", "day", "week")


def _src(with_cost: bool) -> dict[str, str]:
    """Structure for a query's FROM and cost expressions."""
    if with_cost:
        return {
            "src": PRICED_VIEW,
            "cost": "sum(actual_cost_usd)::DOUBLE",
            "priced": "count(actual_cost_usd)::BIGINT",
            "unpriced": "count_if(cost_usd IS NULL AND (input_tokens IS NOT NULL OR output_tokens IS NOT NULL))::BIGINT",
        }
    return {
        "src": CALLS_TABLE,
        "cost": "CAST(NULL AS DOUBLE)",
        "priced": "CAST(NULL AS BIGINT)",
        "unpriced": "CAST(NULL AS BIGINT)",
    }


def _df(con, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
    return con.execute(sql, params or []).df()


# ------------------------------------------------------------------ overview


def call_count(con, demo_only: bool = False) -> int:
    sql = f"SELECT count(*) FROM {CALLS_TABLE}" + (" WHERE is_demo" if demo_only else "")
    return int(con.execute(sql).fetchone()[0])


def date_bounds(con) -> tuple[date, date] | None:
    """First and last UTC day that has a call, or None on an empty ledger."""
    lo, hi = con.execute(f"SELECT min(start_time)::DATE, max(start_time)::DATE FROM {CALLS_TABLE}").fetchone()
    return (lo, hi) if lo else None


def dimension_values(con) -> dict[str, list[str]]:
    """Every value of every dimension (most calls first), UNATTRIBUTED last where NULLs exist."""
    parts = [
        f"SELECT {i} AS dim, CAST({expr} AS VARCHAR) AS value, count(*)::BIGINT AS calls FROM {CALLS_TABLE} GROUP BY ALL"
        for i, expr in enumerate(DIMENSIONS.values())
    ]
    rows = con.execute(" UNION ALL ".join(parts) + " ORDER BY dim, calls DESC, value").fetchall()
    out: dict[str, list[str]] = {d: [] for d in DIMENSIONS}
    names = list(DIMENSIONS)
    nulls = set()
    for i, value, _ in rows:
        if value is None:
            nulls.add(i)
        else:
            out[names[i]].append(value)
    for i in nulls:
        out[names[i]].append(UNATTRIBUTED)
    return out


SUMMARY_SQL = """
SELECT count(*)::BIGINT AS calls,
       sum(input_tokens)::BIGINT AS input_tokens,
       sum(output_tokens)::BIGINT AS output_tokens,
       {cost} AS cost_usd,
       {priced} AS priced_calls,
       quantile_cont(duration_ms, 0.5) AS p50_ms,
       quantile_cont(duration_ms, 0.95) AS p95_ms,
       count_if(status = 'error')::BIGINT AS errors,
       count_if(usage_source = 'missing')::BIGINT AS missing_usage,
       count_if(is_demo)::BIGINT AS demo_calls
FROM {src}
WHERE {where}
"""


def summary(con, f: CallFilter, with_cost: bool = False) -> dict[str, Any]:
    where, params = f.where()
    cur = con.execute(SUMMARY_SQL.format(where=where, **_src(with_cost)), params)
    names = [d[0] for d in cur.description]
    return dict(zip(names, cur.fetchone()))


TOP_GROUPS_SQL = """
SELECT coalesce(CAST({expr} AS VARCHAR), ?) AS grp
FROM {src}
WHERE {where}
GROUP BY grp
ORDER BY count(*) DESC, grp
LIMIT {top_n}
"""

# The top groups come from a first, cheap query and are bound back in: a CTE read twice would be
# materialised (a million rows copied) before the percentiles even start.
TIMESERIES_SQL = """
SELECT {start} AS bucket, grp, calls, input_tokens, output_tokens, tokens, cost_usd, p95_ms, errors
FROM (
    SELECT {key} AS k,
           CASE WHEN coalesce(CAST({expr} AS VARCHAR), ?) IN ({marks})
                THEN coalesce(CAST({expr} AS VARCHAR), ?) ELSE ? END AS grp,
           count(*)::BIGINT AS calls,
           coalesce(sum(input_tokens), 0)::BIGINT AS input_tokens,
           coalesce(sum(output_tokens), 0)::BIGINT AS output_tokens,
           (coalesce(sum(input_tokens), 0) + coalesce(sum(output_tokens), 0))::BIGINT AS tokens,
           {cost} AS cost_usd,
           quantile_cont(duration_ms, 0.95) AS p95_ms,
           count_if(status = 'error')::BIGINT AS errors
    FROM {src}
    WHERE {where}
    GROUP BY ALL
)
ORDER BY bucket, grp
"""


def timeseries(
    con, f: CallFilter, group_by: str, bucket: str = "day", top_n: int = 8, with_cost: bool = False
) -> pd.DataFrame:
    """Calls, tokens, cost, p95 latency and errors per time bucket and group (top N groups, the
    rest summed as OTHER)."""
    buckets.check(bucket, SERIES_BUCKETS)
    where, params = f.where()
    src, expr = _src(with_cost), dim_expr(group_by)
    # Ranking groups by call count needs no prices: the plain table (the priced view keeps every
    # call, so the counts are the same) spares a pass through the pricing joins.
    top = [
        r[0]
        for r in con.execute(
            TOP_GROUPS_SQL.format(expr=expr, src=CALLS_TABLE, where=where, top_n=int(top_n)), [UNATTRIBUTED, *params]
        ).fetchall()
    ]
    if not top:
        top = [UNATTRIBUTED]  # no rows: the query below returns none either
    sql = TIMESERIES_SQL.format(
        key=buckets.key_sql(bucket),
        start=buckets.start_sql(bucket),
        expr=expr,
        marks=", ".join("?" * len(top)),
        where=where,
        **src,
    )
    return _df(con, sql, [UNATTRIBUTED, *top, UNATTRIBUTED, OTHER, *params])


BREAKDOWN_SQL = """
SELECT coalesce(CAST({expr} AS VARCHAR), ?) AS grp,
       count(*)::BIGINT AS calls,
       count(*)::DOUBLE / sum(count(*)) OVER () AS share,
       coalesce(sum(input_tokens), 0)::BIGINT AS input_tokens,
       coalesce(sum(output_tokens), 0)::BIGINT AS output_tokens,
       {cost} AS cost_usd,
       quantile_cont(duration_ms, 0.5) AS p50_ms,
       quantile_cont(duration_ms, 0.95) AS p95_ms,
       count_if(status = 'error')::DOUBLE / count(*) AS error_rate,
       count_if(usage_source = 'missing')::BIGINT AS missing_usage
FROM {src}
WHERE {where}
GROUP BY ALL
ORDER BY calls DESC, grp
LIMIT {limit}
"""


def breakdown(con, f: CallFilter, group_by: str, limit: int = 200, with_cost: bool = False) -> pd.DataFrame:
    """Traffic per group: calls, share of calls, tokens, cost, latency percentiles, error rate,
    no-usage calls. (Money per group, with the unpriced calls apart: spend.spend_breakdown.)"""
    where, params = f.where()
    sql = BREAKDOWN_SQL.format(expr=dim_expr(group_by), where=where, limit=int(limit), **_src(with_cost))
    return _df(con, sql, [UNATTRIBUTED, *params])


# ------------------------------------------------------------------ traces

#: How top traces can be ranked: name -> (per-trace score over its calls, column it fills).
TRACE_RANKS = {
    "tokens": (f"sum({TOKENS})", "tokens"),
    "cost": ("sum(actual_cost_usd::DOUBLE)", "cost_usd"),
    "latency": ("max(epoch_ms(start_time) + duration_ms) - min(epoch_ms(start_time))", "llm_window_ms"),
}

# Two passes: rank traces on one cheap aggregate, then describe only the winners (3x faster than
# computing every column for every trace over a million calls). Ranked by cost, the rows are the
# sheet's memo of the priced calls, whose 64-bit `trace_key` groups far cheaper than VARCHAR ids.
RANK_TRACES_SQL = """
SELECT {key} FROM {src}
WHERE {where} {ranked}
GROUP BY {key}
ORDER BY {score} DESC NULLS LAST, {key}
LIMIT {limit}
"""

TOP_TRACES_SQL = """
SELECT trace_id,
       count(*)::BIGINT AS calls,
       sum({tokens})::BIGINT AS tokens,
       {cost} AS cost_usd,
       {unpriced} AS unpriced_calls,
       min(start_time) AS started,
       max(epoch_ms(start_time) + duration_ms) - min(epoch_ms(start_time)) AS llm_window_ms,
       coalesce(arg_min(feature, start_time), ?) AS feature,
       coalesce(arg_min(service, start_time), ?) AS service,
       count_if(status = 'error')::BIGINT AS errors
FROM {src}
WHERE {key} IN ({marks}) AND {where}
GROUP BY trace_id
"""

TRACE_ROOTS_SQL = """
SELECT trace_id, arg_min(name, start_time) AS root_name,
       epoch_ms(max(end_time)) - epoch_ms(min(start_time)) AS trace_ms
FROM spans
WHERE trace_id IN ({marks})
GROUP BY trace_id
"""

TRACE_COLUMNS = [
    "trace_id",
    "root_name",
    "started",
    "calls",
    "tokens",
    "cost_usd",
    "unpriced_calls",
    "llm_window_ms",
    "trace_ms",
    "feature",
    "service",
    "errors",
]


def top_traces(con, f: CallFilter, by: str = "tokens", limit: int = 20, sheet: str | None = None) -> pd.DataFrame:
    """The traces with the most tokens, actual cost (under `sheet`, None = the active one) or LLM
    latency (first call start to last call end), with each trace's root span name and whole
    duration. Cost and `unpriced_calls` (calls left out of it) are filled when ranking by cost;
    traces with no known cost are not ranked by it."""
    if by not in TRACE_RANKS:
        raise StoreError(f"cannot rank traces by {by!r}; expected one of {', '.join(TRACE_RANKS)}")
    score, column = TRACE_RANKS[by]
    where, params = f.where()
    if by == "cost":
        src = {
            "src": spend_cache.memo_table(con, sheet),
            "key": "trace_key",
            "cost": "sum(actual_cost_usd)::DOUBLE",
            "unpriced": "count_if(cost_basis = 'unpriced')::BIGINT",
            "ranked": "AND actual_cost_usd IS NOT NULL",
        }
    else:
        src = {
            "src": CALLS_TABLE,
            "key": "trace_id",
            "cost": "CAST(NULL AS DOUBLE)",
            "unpriced": "CAST(NULL AS BIGINT)",
            "ranked": "",
        }
    keys = [
        r[0]
        for r in con.execute(
            RANK_TRACES_SQL.format(where=where, score=score, limit=int(limit), **src), params
        ).fetchall()
    ]
    if not keys:
        return pd.DataFrame(columns=TRACE_COLUMNS)
    top = _df(
        con,
        TOP_TRACES_SQL.format(tokens=TOKENS, where=where, marks=", ".join("?" * len(keys)), **src),
        [UNATTRIBUTED, UNATTRIBUTED, *keys, *params],
    )
    # Root names come from a second small query, and the order is restored here: joining and
    # sorting again in SQL hit a DuckDB 2.0.0 bug (compressed materialization truncated the sums).
    ids = list(top["trace_id"])
    roots = _df(con, TRACE_ROOTS_SQL.format(marks=", ".join("?" * len(ids))), ids)
    out = top.merge(roots, on="trace_id", how="left")
    out["root_name"] = out["root_name"].fillna("")
    out = out.sort_values([column, "trace_id"], ascending=[False, True], na_position="last")
    return out.head(int(limit)).reset_index(drop=True)[TRACE_COLUMNS]


TRACE_SPANS_SQL = """
WITH RECURSIVE
t AS (SELECT * FROM spans WHERE trace_id = ?),
tree(span_id, depth, path) AS (
    SELECT span_id, 0, [lpad(CAST(epoch_ns(start_time) AS VARCHAR), 20, '0') || span_id]
    FROM t
    WHERE parent_span_id IS NULL OR parent_span_id NOT IN (SELECT span_id FROM t)
    UNION ALL
    SELECT c.span_id, p.depth + 1,
           list_append(p.path, lpad(CAST(epoch_ns(c.start_time) AS VARCHAR), 20, '0') || c.span_id)
    FROM t c JOIN tree p ON c.parent_span_id = p.span_id
    WHERE p.depth < 64
),
c AS (SELECT * FROM {src} WHERE trace_id = ?)
SELECT t.span_id, t.parent_span_id, t.name, t.kind, t.service, t.status_code,
       t.start_time, t.end_time, t.duration_ms, tree.depth,
       (epoch_us(t.start_time) - min(epoch_us(t.start_time)) OVER ()) / 1000.0 AS offset_ms,
       c.span_id IS NOT NULL AS is_llm,
       coalesce(c.response_model, c.request_model) AS model, c.provider, c.convention,
       c.input_tokens, c.output_tokens, c.usage_source, c.actual_cost_usd::DOUBLE AS cost_usd
FROM tree JOIN t USING (span_id) LEFT JOIN c USING (span_id)
ORDER BY tree.path
"""


def trace_spans(con, trace_id: str) -> pd.DataFrame:
    """One trace's spans in tree order (parents before children, siblings by start), with depth,
    offset from the trace start, and the model call each span is (if any)."""
    return _df(con, TRACE_SPANS_SQL.format(src=PRICED_VIEW), [trace_id, trace_id])


# ------------------------------------------------------------------ data quality

DATA_QUALITY_SQL = """
SELECT convention, coalesce(service, ?) AS service,
       count(*)::BIGINT AS calls,
       count_if(usage_source = 'missing')::BIGINT AS missing_usage,
       {unpriced} AS unpriced,
       count_if(feature IS NULL)::BIGINT AS unattributed_feature,
       count_if(status = 'error')::BIGINT AS errors
FROM {src}
WHERE {where}
GROUP BY ALL
ORDER BY calls DESC, convention, service
"""


def data_quality(con, f: CallFilter, with_cost: bool = True) -> pd.DataFrame:
    """Per convention and service: calls with missing usage, no price (tokens but no cost_usd:
    unknown model), or no feature."""
    where, params = f.where()
    return _df(con, DATA_QUALITY_SQL.format(where=where, **_src(with_cost)), [UNATTRIBUTED, *params])


UNPRICED_MODELS_SQL = """
SELECT coalesce(response_model, request_model, ?) AS model, coalesce(provider, ?) AS provider,
       count(*)::BIGINT AS calls, coalesce(sum(input_tokens), 0)::BIGINT AS input_tokens,
       coalesce(sum(output_tokens), 0)::BIGINT AS output_tokens
FROM {src}
WHERE cost_usd IS NULL AND (input_tokens IS NOT NULL OR output_tokens IS NOT NULL) AND {where}
GROUP BY ALL
ORDER BY calls DESC, model
LIMIT {limit}
"""


def unpriced_models(con, f: CallFilter, limit: int = 50) -> pd.DataFrame:
    where, params = f.where()
    return _df(
        con,
        UNPRICED_MODELS_SQL.format(where=where, limit=int(limit), src=PRICED_VIEW),
        [UNATTRIBUTED, UNATTRIBUTED, *params],
    )
