"""Money under a price sheet: where it went, the month's run rate, the expensive calls, what the
sheet cannot price. The Spend page's reads; budgets and the CLI read the same rule.

Every function takes a DuckDB cursor, a `CallFilter` and the price sheet to price with (`sheet`;
None = the active one), and returns a pandas DataFrame or plain values; nothing here knows about
Streamlit. They read the sheet's memo of the priced calls, kept in step with them
(reads/spend_cache.py: same rows, same cost, refreshed before every query), and only the
contract's columns, so a ClickHouse backend could implement them over `llm_calls` directly.

Money is *actual cost*, one definition for every page (pricing.engine.ACTUAL_COST_RULE): the
computed cost under the sheet, else the reported cost (`cost_basis` 'reported'); calls with
neither are *unpriced*, counted and listed apart and never summed as $0.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pandas as pd

from llmledger.errors import StoreError
from llmledger.reads import buckets, spend_cache
from llmledger.reads.filters import OTHER, TOKENS, UNATTRIBUTED, CallFilter, dim_expr

#: Dimensions the Spend page breaks money down by (labels of filters.DIMENSIONS).
SPEND_DIMENSIONS = ("feature", "team", "user", "model", "provider", "service")

#: A call with no known cost under the sheet (pricing.engine: neither computed nor reported).
UNPRICED = "cost_basis = 'unpriced'"


def _df(con, sheet: str | None, sql: str, params: list[Any], **structure) -> pd.DataFrame:
    table = spend_cache.memo_table(con, sheet)
    return con.execute(sql.format(table=table, **structure), params).df()


# ------------------------------------------------------------------ totals

TOTALS_SQL = f"""
SELECT count(*) AS calls,
       count_if(status = 'ok') AS ok_calls,
       count(actual_cost_usd) AS priced_calls,
       count_if(cost_basis = 'computed') AS computed_calls,
       count_if(cost_basis = 'reported') AS reported_only_calls,
       sum(actual_cost_usd) FILTER (WHERE cost_basis = 'reported')::DOUBLE AS reported_only_usd,
       count_if({UNPRICED}) AS unpriced_calls,
       count_if(input_tokens IS NULL AND output_tokens IS NULL) AS no_usage_calls,
       count_if(usage_source = 'estimated') AS estimated_usage_calls,
       sum(actual_cost_usd)::DOUBLE AS cost_usd,
       sum(actual_cost_usd) FILTER (WHERE status = 'ok')::DOUBLE AS ok_cost_usd,
       count(actual_cost_usd) FILTER (WHERE status = 'ok') AS ok_priced_calls,
       sum(reported_cost_usd)::DOUBLE AS reported_cost_usd,
       count(reported_cost_usd) AS reported_calls
FROM {{table}}
WHERE {{where}}
"""


def spend_totals(con, f: CallFilter, sheet: str | None = None) -> dict[str, Any]:
    """Headline numbers for the filtered calls: `cost_usd` is their actual cost, over
    `priced_calls` = `computed_calls` + `reported_only_calls`; `unpriced_calls` are left out.

    `cost_per_ok_call` is the cost of successful priced calls divided by their number (failed
    calls' cost is money spent on nothing, so it is left out of the unit cost; it is still in
    `cost_usd`). It is None when no successful call has a cost.
    """
    where, params = f.where()
    row = _df(con, sheet, TOTALS_SQL, params, where=where).iloc[0].to_dict()
    out = {k: (None if pd.isna(v) else v) for k, v in row.items()}
    for k in (
        "calls",
        "ok_calls",
        "priced_calls",
        "computed_calls",
        "reported_only_calls",
        "unpriced_calls",
        "no_usage_calls",
        "estimated_usage_calls",
        "ok_priced_calls",
        "reported_calls",
    ):
        out[k] = int(out[k] or 0)
    n = out["ok_priced_calls"]
    out["cost_per_ok_call"] = (out["ok_cost_usd"] / n) if n and out["ok_cost_usd"] is not None else None
    return out


# ------------------------------------------------------------------ over time and by dimension

SERIES_SQL = """
WITH raw AS (
    SELECT {key} AS k,
           coalesce(CAST({expr} AS VARCHAR), ?) AS grp,
           sum(actual_cost_usd)::DOUBLE AS cost_usd, count(*) AS calls, count(actual_cost_usd) AS priced_calls
    FROM {table}
    WHERE {where}
    GROUP BY ALL
),
agg AS (
    SELECT {start} AS bucket, grp, sum(cost_usd) AS cost_usd, sum(calls) AS calls,
           sum(priced_calls) AS priced_calls
    FROM raw GROUP BY ALL
),
top AS (
    SELECT grp FROM agg GROUP BY grp
    ORDER BY sum(cost_usd) DESC NULLS LAST, sum(calls) DESC, grp LIMIT {top_n}
)
SELECT bucket,
       CASE WHEN grp IN (SELECT grp FROM top) THEN grp ELSE ? END AS grp,
       coalesce(sum(cost_usd), 0)::DOUBLE AS cost_usd,
       sum(calls)::BIGINT AS calls,
       sum(priced_calls)::BIGINT AS priced_calls
FROM agg
GROUP BY ALL
ORDER BY bucket, grp
"""


def spend_series(
    con, f: CallFilter, group_by: str, bucket: str | None = None, top_n: int = 8, sheet: str | None = None
) -> pd.DataFrame:
    """Actual cost per time bucket and group: the `top_n` groups by cost, the rest as OTHER.

    `cost_usd` here is the sum over calls with a cost (0 for a bucket with only unpriced calls;
    `priced_calls` next to `calls` says how many were priced). `bucket` defaults to one chosen
    from the filter's date range (buckets.bucket_for).
    """
    if bucket is None:
        bucket = buckets.bucket_for(f.start, f.end) if f.start and f.end else "day"
    buckets.check(bucket)
    if int(top_n) < 1:
        raise StoreError("top N must be at least 1")
    where, params = f.where()
    return _df(
        con,
        sheet,
        SERIES_SQL,
        [UNATTRIBUTED, *params, OTHER],
        key=buckets.key_sql(bucket),
        start=buckets.start_sql(bucket),
        expr=dim_expr(group_by),
        where=where,
        top_n=int(top_n),
    )


BREAKDOWN_SQL = f"""
SELECT coalesce(CAST({{expr}} AS VARCHAR), ?) AS grp,
       count(*) AS calls,
       count_if(status = 'ok') AS ok_calls,
       count(actual_cost_usd) AS priced_calls,
       count_if(cost_basis = 'reported') AS reported_only_calls,
       count_if({UNPRICED}) AS unpriced_calls,
       sum(actual_cost_usd)::DOUBLE AS cost_usd,
       sum(actual_cost_usd) FILTER (WHERE status = 'ok')::DOUBLE AS ok_cost_usd,
       count(actual_cost_usd) FILTER (WHERE status = 'ok') AS ok_priced_calls,
       sum({TOKENS})::BIGINT AS tokens
FROM {{table}}
WHERE {{where}}
GROUP BY 1
ORDER BY cost_usd DESC NULLS LAST, calls DESC, grp
"""

_SUMMED = [
    "calls",
    "ok_calls",
    "priced_calls",
    "reported_only_calls",
    "unpriced_calls",
    "cost_usd",
    "ok_cost_usd",
    "ok_priced_calls",
    "tokens",
]
_COUNTS = ("calls", "ok_calls", "priced_calls", "reported_only_calls", "unpriced_calls", "ok_priced_calls", "tokens")


def spend_breakdown(con, f: CallFilter, group_by: str, top_n: int = 10, sheet: str | None = None) -> pd.DataFrame:
    """Actual cost per group, most expensive first; groups past `top_n` are one OTHER row.

    Columns: grp, calls, ok_calls, priced_calls, reported_only_calls, unpriced_calls, cost_usd
    (NULL when no call has a cost), cost_per_ok_call, tokens, share (of the cost).
    The fold into OTHER happens here rather than in SQL: the result has one row per group
    (small), and DuckDB 2.0.0 mis-sums BIGINTs grouped by a CASE over a window rank.
    """
    if int(top_n) < 1:
        raise StoreError("top N must be at least 1")
    where, params = f.where()
    df = _df(con, sheet, BREAKDOWN_SQL, [UNATTRIBUTED, *params], expr=dim_expr(group_by), where=where)
    if len(df) > top_n:
        rest = df.iloc[int(top_n) :]
        other = {c: rest[c].sum(min_count=1) for c in _SUMMED}
        other["grp"] = OTHER
        df = pd.concat([df.iloc[: int(top_n)], pd.DataFrame([other])], ignore_index=True)
    for c in _COUNTS:
        df[c] = df[c].fillna(0).astype("int64")
    df["cost_per_ok_call"] = df["ok_cost_usd"] / df["ok_priced_calls"].where(df["ok_priced_calls"] > 0)
    total = df["cost_usd"].sum(skipna=True)
    df["share"] = df["cost_usd"] / total if total else float("nan")
    return df.drop(columns=["ok_cost_usd", "ok_priced_calls"])


# ------------------------------------------------------------------ month to date


@dataclass(frozen=True)
class RunRate:
    month_start: date
    days_in_month: int
    as_of: datetime
    days_elapsed: float  # since the month began, to `as_of` (fractional)
    mtd_cost_usd: float  # actual cost (unpriced calls left out)
    mtd_calls: int
    mtd_unpriced_calls: int
    projected_cost_usd: float | None  # None when too little of the month has passed
    complete: bool  # the month is over: the projection is the actual

    @property
    def method(self) -> str:
        if self.complete:
            return f"{self.month_start:%B %Y} is over: the month's total is its actual spend (unpriced calls left out)."
        if self.projected_cost_usd is None:
            return "Less than an hour of the month has passed: too early to project."
        return (
            f"Run rate = month-to-date spend ÷ {self.days_elapsed:.2f} days elapsed "
            f"(since {self.month_start:%b} 1, 00:00 UTC, to {self.as_of:%b %d %H:%M} UTC) "
            f"× {self.days_in_month} days in {self.month_start:%B}. It assumes the rest of the "
            "month runs at the average daily rate so far; unpriced calls are left out."
        )


MTD_SQL = f"""
SELECT coalesce(sum(actual_cost_usd), 0)::DOUBLE, count(*), count_if({UNPRICED})
FROM {{table}}
WHERE start_time >= ? AND start_time < ? AND {{where}}
"""


def month_to_date(con, f: CallFilter, as_of: datetime | None = None, sheet: str | None = None) -> RunRate:
    """Spend of the month containing `as_of` (default now, UTC) up to `as_of`, and its
    projection to the whole month at the same daily rate.

    The filter's dimension values apply; its date range does not (the month defines it).
    """
    as_of = as_of or datetime.now(UTC)
    if as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=UTC)
    as_of = as_of.astimezone(UTC)
    start = datetime(as_of.year, as_of.month, 1, tzinfo=UTC)
    days = calendar.monthrange(as_of.year, as_of.month)[1]
    month_end = start + timedelta(days=days)
    upto = min(as_of, month_end)
    where, params = CallFilter(values=f.values).where()
    table = spend_cache.memo_table(con, sheet)
    cost, calls, unpriced = con.execute(MTD_SQL.format(table=table, where=where), [start, upto, *params]).fetchone()
    elapsed = (upto - start).total_seconds() / 86400
    complete = upto >= month_end
    if complete:
        projected = float(cost or 0)
    elif elapsed < 1 / 24:
        projected = None
    else:
        projected = float(cost or 0) / elapsed * days
    return RunRate(
        start.date(), days, upto, elapsed, float(cost or 0), int(calls or 0), int(unpriced or 0), projected, complete
    )


def default_as_of(con, now: datetime | None = None, sheet: str | None = None) -> datetime:
    """`now`, unless the ledger has no call this month: then the end of the last call's day
    (so a ledger of old traces still shows a month). Returns `now` on an empty ledger."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    table = spend_cache.memo_table(con, sheet)
    last = con.execute(f"SELECT max(start_time) FROM {table}").fetchone()[0]
    if last is None:
        return now
    last = pd.Timestamp(last).tz_convert(UTC).to_pydatetime()
    if (last.year, last.month) == (now.year, now.month) or last > now:
        return now
    return datetime.combine(last.date() + timedelta(days=1), time(), UTC)


# ------------------------------------------------------------------ the expensive ones

TOP_CALLS_SQL = """
SELECT start_time, trace_id, span_id,
       coalesce(response_model, request_model, ?) AS model,
       coalesce(provider, ?) AS provider,
       coalesce(feature, ?) AS feature, coalesce(team, ?) AS team,
       coalesce(user_id, ?) AS user_id,
       input_tokens, output_tokens, usage_source, status,
       actual_cost_usd::DOUBLE AS cost_usd, cost_basis, reported_cost_usd::DOUBLE AS reported_cost_usd
FROM {table}
WHERE actual_cost_usd IS NOT NULL AND {where}
ORDER BY actual_cost_usd DESC, start_time DESC
LIMIT {limit}
"""


def top_calls(con, f: CallFilter, limit: int = 20, sheet: str | None = None) -> pd.DataFrame:
    """The calls with the highest actual cost (`cost_basis` says computed or reported)."""
    where, params = f.where()
    u = UNATTRIBUTED
    return _df(con, sheet, TOP_CALLS_SQL, [u, u, u, u, u, *params], where=where, limit=int(limit))


REPORTED_SQL = """
SELECT coalesce(response_model, request_model, ?) AS model,
       count(*) AS calls,
       sum(reported_cost_usd)::DOUBLE AS reported_usd,
       sum(cost_usd)::DOUBLE AS computed_usd,
       (sum(cost_usd) - sum(reported_cost_usd))::DOUBLE AS difference_usd
FROM {table}
WHERE reported_cost_usd IS NOT NULL AND cost_usd IS NOT NULL AND {where}
GROUP BY 1
ORDER BY abs(sum(cost_usd) - sum(reported_cost_usd)) DESC, model
LIMIT {limit}
"""

REPORTED_ONLY_SQL = """
SELECT count_if(reported_cost_usd IS NOT NULL AND cost_usd IS NOT NULL),
       count_if(cost_basis = 'reported'),
       sum(actual_cost_usd) FILTER (WHERE cost_basis = 'reported')::DOUBLE
FROM {table} WHERE {where}
"""


def reported_vs_computed(
    con, f: CallFilter, limit: int = 50, sheet: str | None = None
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Per model, over calls that carry both a reported and a computed cost: both sums and the
    difference (computed − reported; positive = the sheet charges more than the
    instrumentation said). The dict counts calls compared and calls whose actual cost is their
    reported one (the sheet cannot price them)."""
    where, params = f.where()
    df = _df(con, sheet, REPORTED_SQL, [UNATTRIBUTED, *params], where=where, limit=int(limit))
    df["difference_pct"] = df["difference_usd"] / df["reported_usd"].where(df["reported_usd"] != 0)
    table = spend_cache.memo_table(con, sheet)
    both, only, only_usd = con.execute(REPORTED_ONLY_SQL.format(table=table, where=where), params).fetchone()
    return df, {
        "compared_calls": int(both or 0),
        "reported_only_calls": int(only or 0),
        "reported_only_usd": float(only_usd) if only_usd is not None else None,
    }


UNPRICED_SQL = f"""
SELECT coalesce(request_model, response_model, ?) AS request_model,
       coalesce(response_model, ?) AS response_model,
       coalesce(provider, ?) AS provider,
       CASE WHEN input_tokens IS NULL AND output_tokens IS NULL THEN 'no token usage reported'
            ELSE 'no price on the sheet' END AS reason,
       count(*) AS calls,
       coalesce(sum(input_tokens), 0) AS input_tokens,
       coalesce(sum(output_tokens), 0) AS output_tokens,
       min(start_time) AS first_seen, max(start_time) AS last_seen
FROM {{table}}
WHERE {UNPRICED} AND {{where}}
GROUP BY ALL
ORDER BY calls DESC, request_model
LIMIT {{limit}}
"""


def unpriced_calls(con, f: CallFilter, limit: int = 50, sheet: str | None = None) -> pd.DataFrame:
    """Unpriced calls per model and reason (no price on the sheet, or no usage to price) that
    carry no reported cost either: left out of every total, never counted as $0."""
    where, params = f.where()
    u = UNATTRIBUTED
    return _df(con, sheet, UNPRICED_SQL, [u, u, u, *params], where=where, limit=int(limit))
