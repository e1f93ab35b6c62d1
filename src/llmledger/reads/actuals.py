"""A feature's recorded calls for plan vs actual: which features have calls and when, and over a
period the calls, tokens and *actual cost* per model and per day under a sheet
(pricing.engine.ACTUAL_COST_RULE, the figure the Spend and Reprice pages show)."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from llmledger.pricing.engine import priced_calls_sql

# {priced}: pricing.engine.priced_calls_sql under the sheet, for the period.
ACTUALS_BY_MODEL_SQL = """
    SELECT coalesce(request_model, response_model, '(unknown)') AS model,
           count(*) AS calls,
           avg(input_tokens) AS input_tokens,
           avg(output_tokens) AS output_tokens,
           sum(actual_cost_usd) AS cost_usd,
           count_if(cost_basis = 'computed') AS computed_calls,
           count_if(cost_basis = 'reported') AS reported_only_calls,
           sum(actual_cost_usd) FILTER (WHERE cost_basis = 'reported') AS reported_only_usd,
           count_if(cost_basis = 'unpriced') AS unpriced_calls,
           count(*) FILTER (WHERE input_tokens IS NULL OR output_tokens IS NULL) AS calls_without_usage
    FROM ({priced}) c
    WHERE feature = ?
    GROUP BY 1 ORDER BY calls DESC, model
"""
ACTUALS_BY_DAY_SQL = """
    SELECT CAST(date_trunc('day', start_time) AS DATE) AS day, count(*) AS calls,
           sum(actual_cost_usd) AS cost_usd
    FROM ({priced}) c
    WHERE feature = ?
    GROUP BY 1 ORDER BY 1
"""
FEATURE_SPAN_SQL = """
    SELECT CAST(min(start_time) AS DATE), CAST(max(start_time) AS DATE) + 1, count(*)
    FROM llm_calls WHERE feature = ?
"""
FEATURES_SQL = """
    SELECT feature, count(*) AS calls FROM llm_calls WHERE feature IS NOT NULL
    GROUP BY 1 ORDER BY 2 DESC, 1
"""


def features(con) -> pd.DataFrame:
    """Every feature with calls, most calls first."""
    return con.cursor().execute(FEATURES_SQL).df()


def feature_span(con, feature: str) -> tuple[dt.date, dt.date, int] | None:
    """First day and the day after the last day with calls for this feature, and the call count."""
    lo, hi, n = con.cursor().execute(FEATURE_SPAN_SQL, [feature]).fetchone()
    return None if not n else (lo, hi, int(n))


def feature_actuals(con, feature: str, sheet: str, start: dt.date, end: dt.date) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The feature's calls in [start, end) under `sheet`: per model (calls, mean tokens, actual
    cost, counts by cost basis, calls without usage) and per day (calls, actual cost)."""
    lo = dt.datetime.combine(start, dt.time(), dt.timezone.utc)
    hi = dt.datetime.combine(end, dt.time(), dt.timezone.utc)
    priced, params = priced_calls_sql(sheet, period=(lo, hi))
    cur = con.cursor()
    by_model = cur.execute(ACTUALS_BY_MODEL_SQL.format(priced=priced), [*params, feature]).df()
    by_day = cur.execute(ACTUALS_BY_DAY_SQL.format(priced=priced), [*params, feature]).df()
    return by_model, by_day
