"""The Home page's reads: this month's spend and run rate against last month, the top features,
daily spend, and data quality, in three queries over the active sheet's memo of priced calls
(reads/spend_cache). Money is actual cost (pricing.engine.ACTUAL_COST_RULE); unpriced calls are
counted, never summed as $0."""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pandas as pd

from llmledger.reads import spend_cache
from llmledger.reads.filters import UNATTRIBUTED
from llmledger.reads.spend import UNPRICED

# One scan of last month and this month up to `as_of`. Params: this month's start, as_of, last
# month's start, the same point of last month (for a like-for-like comparison).
MONTHS_SQL = f"""
SELECT
    coalesce(sum(actual_cost_usd) FILTER (WHERE start_time >= $1), 0)::DOUBLE AS mtd_usd,
    count(*) FILTER (WHERE start_time >= $1) AS mtd_calls,
    count_if({UNPRICED} AND start_time >= $1) AS mtd_unpriced,
    count_if(input_tokens IS NULL AND output_tokens IS NULL AND start_time >= $1) AS mtd_no_usage,
    count_if(usage_source = 'estimated' AND start_time >= $1) AS mtd_estimated_usage,
    count_if(cost_basis = 'reported' AND start_time >= $1) AS mtd_reported_only,
    coalesce(sum(actual_cost_usd) FILTER (WHERE cost_basis = 'reported' AND start_time >= $1), 0)::DOUBLE
        AS mtd_reported_only_usd,
    count_if(status = 'error' AND start_time >= $1) AS mtd_errors,
    coalesce(sum(actual_cost_usd) FILTER (WHERE start_time < $1), 0)::DOUBLE AS last_month_usd,
    count(*) FILTER (WHERE start_time < $1) AS last_month_calls,
    coalesce(sum(actual_cost_usd) FILTER (WHERE start_time < $4), 0)::DOUBLE AS last_month_to_date_usd
FROM {{table}}
WHERE start_time >= $3 AND start_time < $2
"""
TOP_FEATURES_SQL = """
SELECT coalesce(feature, ?) AS feature, sum(actual_cost_usd)::DOUBLE AS cost_usd, count(*) AS calls,
       count_if({unpriced})::BIGINT AS unpriced_calls
FROM {table}
WHERE start_time >= ? AND start_time < ?
GROUP BY ALL ORDER BY cost_usd DESC NULLS LAST, calls DESC LIMIT ?
"""
DAILY_SQL = """
SELECT date_trunc('day', start_time AT TIME ZONE 'UTC') AS day, sum(actual_cost_usd)::DOUBLE AS cost_usd,
       count(*) AS calls
FROM {table}
WHERE start_time >= ? AND start_time < ?
GROUP BY ALL ORDER BY day
"""


@dataclass
class Overview:
    as_of: datetime
    month_start: datetime
    days_in_month: int
    mtd_usd: float
    mtd_calls: int
    projected_usd: float | None  # this month at the average daily rate so far (None: under an hour in)
    last_month_usd: float
    last_month_to_date_usd: float  # last month up to the same day and hour
    last_month_calls: int
    quality: dict[str, int]  # this month: calls, unpriced, no_usage, estimated_usage, reported_only, errors
    reported_only_usd: float  # this month's cost taken from reported costs (no price in the sheet)
    top_features: pd.DataFrame
    daily: pd.DataFrame  # last month and this month, one row per UTC day
    notes: list[str] = field(default_factory=list)

    @property
    def elapsed_days(self) -> float:
        return (self.as_of - self.month_start).total_seconds() / 86400


def _month_start(d: datetime) -> datetime:
    return datetime(d.year, d.month, 1, tzinfo=UTC)


def overview(con, as_of: datetime | None = None, sheet: str | None = None, top_n: int = 5) -> Overview:
    """This month to `as_of` (default now, UTC) against last month, under `sheet` (None: active)."""
    as_of = (as_of or datetime.now(UTC)).astimezone(UTC)
    start = _month_start(as_of)
    last_start = _month_start(start - timedelta(days=1))
    elapsed = as_of - start
    last_same_point = min(last_start + elapsed, start)
    days = calendar.monthrange(as_of.year, as_of.month)[1]
    table = spend_cache.memo_table(con, sheet)
    cur = con.cursor()
    row = cur.execute(MONTHS_SQL.format(table=table), [start, as_of, last_start, last_same_point]).fetchone()
    mtd, calls, unpriced, no_usage, estimated, reported_only, reported_usd, errors, last, last_calls, last_mtd = row
    top = cur.execute(
        TOP_FEATURES_SQL.format(table=table, unpriced=UNPRICED), [UNATTRIBUTED, start, as_of, int(top_n)]
    ).df()
    daily = cur.execute(DAILY_SQL.format(table=table), [last_start, as_of]).df()
    if not daily.empty:
        daily["month"] = ["this month" if d >= start.replace(tzinfo=None) else "last month" for d in daily["day"]]
    days_in = elapsed.total_seconds() / 86400
    projected = float(mtd) / days_in * days if days_in >= 1 / 24 else None
    notes = []
    if unpriced:
        notes.append(f"{unpriced:,} calls this month have no price and no reported cost: they are not in the totals.")
    return Overview(
        as_of,
        start,
        days,
        float(mtd),
        int(calls),
        projected,
        float(last),
        float(last_mtd),
        int(last_calls),
        {
            "calls": int(calls),
            "unpriced": int(unpriced),
            "no_usage": int(no_usage),
            "estimated_usage": int(estimated),
            "reported_only": int(reported_only),
            "errors": int(errors),
        },
        float(reported_usd),
        top,
        daily,
        notes,
    )
