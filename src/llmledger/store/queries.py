"""Every query the Calls and Ingest pages run, behind one narrow interface.

Each function takes a DB-API-like connection (a DuckDB cursor here) and plain values, and returns
a pandas DataFrame or plain Python values. Nothing here knows about Streamlit. A ClickHouse
backend would implement the same functions over the same `llm_calls` columns (DESIGN.md).

Values are always bound as parameters. Only structure the code itself chooses (a dimension's
column expression from `DIMENSIONS`, a time bucket from `BUCKETS`, a ranking from `TRACE_RANKS`)
is formatted into the SQL text.

Cost is computed at query time by the `llm_calls` view (pricing joins every call to the active
sheet), which makes a scan of that view several times dearer than a scan of the `calls` table it
reads. So every aggregate takes `with_cost`: False reads `calls` directly (same columns, cost
NULL), True reads `llm_calls`. Pages ask for cost only where they show it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Iterable

import pandas as pd

from llmledger.errors import StoreError
from llmledger.store.migrations import DIMENSIONS as RULE_DIMENSIONS

#: Shown (and selectable in filters) for a call whose dimension value is NULL.
UNATTRIBUTED = "(unattributed)"
#: Groups beyond the top N of a time series are summed into this one.
OTHER = "(other)"

#: Groupable / filterable dimensions: label -> SQL expression over `llm_calls`.
DIMENSIONS: dict[str, str] = {
    "feature": "feature",
    "team": "team",
    "user": "user_id",
    "service": "service",
    "environment": "environment",
    "model": "coalesce(request_model, response_model)",
    "provider": "provider",
    "convention": "convention",
}

#: Time buckets a series may use, chosen from the date range by `bucket_for`.
BUCKETS = ("hour", "day", "week")

RULE_LEVELS = ("any", "span", "resource")

_TOKENS = "coalesce(input_tokens, 0) + coalesce(output_tokens, 0)"

#: Where rows come from: the base table (no cost) or the contract view (cost under the active sheet).
CALLS_TABLE, PRICED_VIEW = "calls", "llm_calls"


def _src(with_cost: bool) -> dict[str, str]:
    """Structure for a query's FROM and cost expressions."""
    if with_cost:
        # Money is actual cost (pricing.engine.ACTUAL_COST_RULE), as on every page.
        return {"src": PRICED_VIEW, "cost": "sum(actual_cost_usd)::DOUBLE", "priced": "count(actual_cost_usd)::BIGINT",
                "unpriced": "count_if(cost_usd IS NULL AND (input_tokens IS NOT NULL OR output_tokens IS NOT NULL))::BIGINT"}
    return {"src": CALLS_TABLE, "cost": "CAST(NULL AS DOUBLE)", "priced": "CAST(NULL AS BIGINT)",
            "unpriced": "CAST(NULL AS BIGINT)"}


class RuleError(StoreError):
    title = "Invalid attribution rule"


@dataclass(frozen=True)
class CallFilter:
    """Which calls a page looks at. Plain, hashable values only (it keys st.cache_data)."""

    start: date | None = None  # inclusive, UTC day
    end: date | None = None  # inclusive, UTC day
    values: tuple[tuple[str, tuple[str, ...]], ...] = field(default=())  # (dimension, selected values)

    @classmethod
    def build(cls, start: date | None = None, end: date | None = None,
              values: dict[str, Iterable[str]] | None = None) -> "CallFilter":
        picked = tuple(sorted((d, tuple(sorted(v))) for d, v in (values or {}).items() if v))
        for dim, _ in picked:
            _dim_expr(dim)
        return cls(start, end, picked)

    def where(self) -> tuple[str, list[Any]]:
        """SQL predicate over llm_calls columns and its parameters."""
        clauses: list[str] = []
        params: list[Any] = []
        if self.start:
            clauses.append("start_time >= ?")
            params.append(datetime.combine(self.start, time(), UTC))
        if self.end:
            clauses.append("start_time < ?")
            params.append(datetime.combine(self.end + timedelta(days=1), time(), UTC))
        for dim, selected in self.values:
            expr = _dim_expr(dim)
            real = [v for v in selected if v != UNATTRIBUTED]
            parts = []
            if real:
                parts.append(f"{expr} IN ({', '.join('?' * len(real))})")
                params.extend(real)
            if UNATTRIBUTED in selected:
                parts.append(f"{expr} IS NULL")
            clauses.append("(" + " OR ".join(parts) + ")")
        return (" AND ".join(clauses) or "TRUE"), params


def _dim_expr(dim: str) -> str:
    try:
        return DIMENSIONS[dim]
    except KeyError:
        raise StoreError(f"unknown dimension {dim!r}; expected one of {', '.join(DIMENSIONS)}") from None


def _df(con, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
    return con.execute(sql, params or []).df()


# ------------------------------------------------------------------ overview

def call_count(con, demo_only: bool = False) -> int:
    sql = f"SELECT count(*) FROM {CALLS_TABLE}" + (" WHERE is_demo" if demo_only else "")
    return int(con.execute(sql).fetchone()[0])


def date_bounds(con) -> tuple[date, date] | None:
    """First and last UTC day that has a call, or None on an empty ledger."""
    lo, hi = con.execute(
        f"SELECT min(start_time)::DATE, max(start_time)::DATE FROM {CALLS_TABLE}"
    ).fetchone()
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


def bucket_for(start: date, end: date) -> str:
    """Hourly up to 3 days, daily up to ~6 months, weekly beyond."""
    days = (end - start).days + 1
    return "hour" if days <= 3 else "day" if days <= 190 else "week"


TOP_GROUPS_SQL = """
SELECT coalesce(CAST({expr} AS VARCHAR), ?) AS grp
FROM {src}
WHERE {where}
GROUP BY grp
ORDER BY count(*) DESC, grp
LIMIT {top_n}
"""

# The top groups come from a first, cheap query and are bound back in: a CTE read twice would be
# materialised (a million rows copied) before the percentiles even start. Buckets are integer
# arithmetic on epoch microseconds (UTC), ~6x cheaper than date_trunc on a TIMESTAMPTZ.
TIMESERIES_SQL = """
SELECT to_timestamp(bk * {bucket_s}) AS bucket, grp, calls, input_tokens, output_tokens, tokens, cost_usd,
       p95_ms, errors
FROM (
    SELECT {bucket_key} AS bk,
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

_DAY = "(epoch_us(start_time) // 86400000000)"
#: bucket -> (integer key per call, seconds per key unit). Weeks start on Monday (1970-01-01 was a
#: Thursday, three days after one).
BUCKET_KEYS = {
    "hour": ("epoch_us(start_time) // 3600000000", 3600),
    "day": (_DAY, 86400),
    "week": (f"{_DAY} - ({_DAY} + 3) % 7", 86400),
}


def timeseries(con, f: CallFilter, group_by: str, bucket: str = "day", top_n: int = 8,
               with_cost: bool = False) -> pd.DataFrame:
    """Calls, tokens, cost, p95 latency and errors per time bucket and group (top N groups, the
    rest summed as OTHER)."""
    if bucket not in BUCKETS:
        raise StoreError(f"unknown time bucket {bucket!r}")
    where, params = f.where()
    src, expr = _src(with_cost), _dim_expr(group_by)
    # Ranking groups by call count needs no prices: the plain table (the priced view keeps every
    # call, so the counts are the same) spares a pass through the pricing joins.
    top = [r[0] for r in con.execute(
        TOP_GROUPS_SQL.format(expr=expr, src=CALLS_TABLE, where=where, top_n=int(top_n)),
        [UNATTRIBUTED, *params]).fetchall()]
    if not top:
        top = [UNATTRIBUTED]  # no rows: the query below returns none either
    key, seconds = BUCKET_KEYS[bucket]
    sql = TIMESERIES_SQL.format(bucket_key=key, bucket_s=seconds, expr=expr, marks=", ".join("?" * len(top)),
                                where=where, **src)
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
    """One row per group: calls, share, tokens, cost, latency percentiles, error rate, no-usage calls."""
    where, params = f.where()
    sql = BREAKDOWN_SQL.format(expr=_dim_expr(group_by), where=where, limit=int(limit), **_src(with_cost))
    return _df(con, sql, [UNATTRIBUTED, *params])


# ------------------------------------------------------------------ traces

#: How top traces can be ranked: name -> (per-trace score over its calls, column it fills).
TRACE_RANKS = {
    "tokens": ("sum({tokens})", "tokens"),
    "cost": ("sum(actual_cost_usd)", "cost_usd"),
    "latency": ("max(epoch_ms(start_time) + duration_ms) - min(epoch_ms(start_time))", "llm_window_ms"),
}

# Two passes: rank traces on one cheap aggregate, then describe only the winners (3x faster than
# computing every column for every trace over a million calls).
RANK_TRACES_SQL = """
SELECT trace_id FROM {src}
WHERE {where}
GROUP BY trace_id
ORDER BY {score} DESC NULLS LAST, trace_id
LIMIT {limit}
"""

TOP_TRACES_SQL = """
SELECT trace_id,
       count(*)::BIGINT AS calls,
       sum({tokens})::BIGINT AS tokens,
       {cost} AS cost_usd,
       min(start_time) AS started,
       max(epoch_ms(start_time) + duration_ms) - min(epoch_ms(start_time)) AS llm_window_ms,
       coalesce(arg_min(feature, start_time), ?) AS feature,
       coalesce(arg_min(service, start_time), ?) AS service,
       count_if(status = 'error')::BIGINT AS errors
FROM {src}
WHERE trace_id IN ({marks}) AND {where}
GROUP BY trace_id
"""

TRACE_ROOTS_SQL = """
SELECT trace_id, arg_min(name, start_time) AS root_name,
       epoch_ms(max(end_time)) - epoch_ms(min(start_time)) AS trace_ms
FROM spans
WHERE trace_id IN ({marks})
GROUP BY trace_id
"""

_TOP_TRACE_COLUMNS = ["trace_id", "root_name", "started", "calls", "tokens", "cost_usd", "llm_window_ms",
                      "trace_ms", "feature", "service", "errors"]


def top_traces(con, f: CallFilter, by: str = "tokens", limit: int = 20) -> pd.DataFrame:
    """The traces with the most tokens, cost or LLM latency (first call start to last call end),
    with each trace's root span name and whole duration. Cost is filled when ranking by cost."""
    if by not in TRACE_RANKS:
        raise StoreError(f"cannot rank traces by {by!r}; expected one of {', '.join(TRACE_RANKS)}")
    score, column = TRACE_RANKS[by]
    where, params = f.where()
    src = _src(by == "cost")
    ranked = con.execute(RANK_TRACES_SQL.format(src=src["src"], where=where, score=score.format(tokens=_TOKENS),
                                                limit=int(limit)), params).fetchall()
    ids = [r[0] for r in ranked]
    if not ids:
        return pd.DataFrame(columns=_TOP_TRACE_COLUMNS)
    marks = ", ".join("?" * len(ids))
    top = _df(con, TOP_TRACES_SQL.format(tokens=_TOKENS, where=where, marks=marks, **src),
              [UNATTRIBUTED, UNATTRIBUTED, *ids, *params])
    # Root names come from a second small query, and the order is restored here: joining and
    # sorting again in SQL hit a DuckDB 2.0.0 bug (compressed materialization truncated the sums).
    roots = _df(con, TRACE_ROOTS_SQL.format(marks=marks), ids)
    out = top.merge(roots, on="trace_id", how="left")
    out["root_name"] = out["root_name"].fillna("")
    out["_rank"] = out["trace_id"].map({t: i for i, t in enumerate(ids)})
    return out.sort_values("_rank").reset_index(drop=True)[_TOP_TRACE_COLUMNS]


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
    return _df(con, UNPRICED_MODELS_SQL.format(where=where, limit=int(limit), src=PRICED_VIEW), [UNATTRIBUTED, UNATTRIBUTED, *params])


# ------------------------------------------------------------------ ingest

def recent_ingests(con, limit: int = 20) -> pd.DataFrame:
    return _df(
        con,
        """SELECT loaded_at, source, spans_read, spans_new, calls_new, duplicates, rejects
           FROM ingest_log ORDER BY loaded_at DESC LIMIT ?""",
        [int(limit)],
    )


RULE_COLUMNS = ["dim", "key", "json_field", "level", "priority", "enabled"]


def attribution_rules(con) -> pd.DataFrame:
    return _df(con, f"SELECT {', '.join(RULE_COLUMNS)} FROM attribution_rules ORDER BY dim, priority, key")


def validate_rules(rows: Iterable[dict[str, Any]]) -> list[tuple]:
    """Normalise editor rows to tuples; raise RuleError naming the first bad row (1-based)."""
    out: list[tuple] = []
    seen: set[tuple[str, str, str]] = set()
    for n, r in enumerate(rows, 1):
        dim = str(r.get("dim") or "").strip()
        key = str(r.get("key") or "").strip()
        if not dim and not key:
            continue  # an empty row the editor added
        field_ = r.get("json_field")
        field_ = "" if field_ is None or (isinstance(field_, float) and pd.isna(field_)) else str(field_).strip()
        level = str(r.get("level") or "any").strip()
        prio = r.get("priority")
        enabled = r.get("enabled")
        if dim not in RULE_DIMENSIONS:
            raise RuleError(f"row {n}: dimension {dim!r} is not one of {', '.join(RULE_DIMENSIONS)}")
        if not key:
            raise RuleError(f"row {n}: the attribute key is empty")
        if level not in RULE_LEVELS:
            raise RuleError(f"row {n}: level {level!r} is not one of {', '.join(RULE_LEVELS)}")
        try:
            prio = 100 if prio is None or pd.isna(prio) else int(prio)
        except (TypeError, ValueError):
            raise RuleError(f"row {n}: priority {prio!r} is not a whole number") from None
        if (dim, key, field_) in seen:
            raise RuleError(f"row {n}: duplicate rule for {dim} / {key} / {field_ or '-'}")
        seen.add((dim, key, field_))
        out.append((dim, key, field_, level, prio, True if enabled is None or pd.isna(enabled) else bool(enabled)))
    if not out:
        raise RuleError("at least one attribution rule is needed")
    return out


def save_attribution_rules(con, rows: Iterable[dict[str, Any]]) -> int:
    """Replace all rules in one transaction; returns the number saved. Callers re-apply them
    (telemetry.attribution.reextract_all)."""
    rules = validate_rules(rows)
    con.execute("BEGIN")
    try:
        con.execute("DELETE FROM attribution_rules")
        con.executemany(
            f"INSERT INTO attribution_rules ({', '.join(RULE_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?)",
            [list(r) for r in rules],
        )
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return len(rules)


def default_attribution_rules() -> list[dict[str, Any]]:
    from llmledger.telemetry.attribution import DEFAULT_RULES

    return [dict(zip(RULE_COLUMNS, (*r, True))) for r in DEFAULT_RULES]

