"""What would a period have cost under another sheet, another model for a feature, or a discount?

Repricing is a query, never a rewrite: the same calls are priced again at query time, so running
A, then B, then A gives identical totals. Both sides are *actual cost* (engine.ACTUAL_COST_RULE):
the baseline under the viewer's sheet (default: the active one) is what the Spend page shows.
How a swap maps tokens: pricing/swaps.py.
"""

from __future__ import annotations

from decimal import Decimal

import duckdb
import pandas as pd
import pyarrow as pa

from llmledger.errors import PricingError, StoreError
from llmledger.pricing import swaps
from llmledger.pricing.engine import _period_where, _render, query_frame
from llmledger.pricing.matching import refresh_resolutions
from llmledger.pricing.sheets import pricing_sheet

GROUPABLE = (
    "feature",
    "team",
    "user_id",
    "session_id",
    "service",
    "environment",
    "provider",
    "request_model",
    "response_model",
    "operation",
    "status",
)

# Each pass is aggregated per group first; only the small per-group results are joined.
SUMMARY_SQL = """
WITH s AS (
    SELECT {sel_s} count(*) AS calls, sum(actual_cost_usd) AS cost,
           count_if(cost_basis = 'reported') AS reported_only, count_if(cost_basis = 'unpriced') AS unpriced,
           string_agg(DISTINCT priced_model, ', ') FILTER (WHERE token_mapping IS NOT NULL) AS swapped_to,
           string_agg(DISTINCT token_mapping, ', ') AS token_mapping
    FROM ({scenario}) q {group_by}
), b AS (
    SELECT {sel_s} sum(actual_cost_usd) AS cost, count_if(cost_basis = 'computed') AS computed,
           count_if(cost_basis = 'reported') AS reported_only, count_if(cost_basis = 'unpriced') AS unpriced,
           sum(actual_cost_usd) FILTER (WHERE cost_basis = 'reported') AS reported_only_usd
    FROM ({baseline}) q {group_by}
)
SELECT {sel_out} s.calls, b.cost AS baseline_usd, CAST(s.cost * ? AS DECIMAL(38, 9)) AS scenario_usd,
       CAST(s.cost * ? AS DECIMAL(38, 9)) - b.cost AS delta_usd,
       b.unpriced AS unpriced_baseline, s.unpriced AS unpriced_scenario,
       b.reported_only AS reported_only_baseline, s.reported_only AS reported_only_scenario,
       b.computed AS computed_baseline, b.reported_only_usd AS reported_only_usd_baseline,
       s.swapped_to, s.token_mapping
FROM s JOIN b ON {on}
ORDER BY {order}
"""


def reprice(
    con: duckdb.DuckDBPyConnection,
    sheet: str | None = None,
    model_swap: dict[str, str] | None = None,
    discount_pct=None,
    period: tuple | None = None,
    as_of=None,
    group_by: tuple[str, ...] | list[str] = ("feature",),
    baseline_sheet: str | None = None,
) -> pd.DataFrame:
    """Summary per group of the period's actual cost under `baseline_sheet` (default: the active
    one) and under the scenario: `sheet` (default: the baseline's), `model_swap` {feature or
    model: target model}, `discount_pct` off the scenario, prices in effect at `as_of` instead
    of each call's time. Money columns are Decimal; unpriced_* and reported_only_* count calls by
    cost basis; df.attrs holds the totals and the scenario."""
    active = pricing_sheet(con, baseline_sheet)
    sheet = pricing_sheet(con, sheet or active)
    for s in {sheet, active}:
        refresh_resolutions(con, s)
    groups = [g for g in group_by]
    bad = [g for g in groups if g not in GROUPABLE]
    if bad:
        raise PricingError(f"cannot group by {', '.join(bad)}; choose from {', '.join(GROUPABLE)}")
    factor = Decimal(1)
    if discount_pct not in (None, ""):
        pct = Decimal(str(discount_pct))
        if not pct.is_finite() or pct < 0 or pct > 100:
            raise PricingError(f"discount_pct must be between 0 and 100 (got {discount_pct})")
        factor = (Decimal(100) - pct) / Decimal(100)
    where, wparams = _period_where(period)
    cur = con.cursor()
    if model_swap:
        swap_rows = swaps.swap_table(cur, model_swap)
        cur.register("_swaps", swap_rows)
        cur.register(
            "_swap_tokens",
            pa.table(
                {
                    "trace_id": pa.array([], pa.string()),
                    "span_id": pa.array([], pa.string()),
                    "t_in": pa.array([], pa.int64()),
                    "t_out": pa.array([], pa.int64()),
                }
            ),
        )
        swaps.resolve_targets(con, sheet, set(swap_rows.column("target").to_pylist()))
        cur.register("_swap_tokens", swaps.swap_tokens(cur, where, wparams))
        scenario = _render("?", "?", where=where, **swaps.SWAP_PARTS)
    else:
        scenario = _render("?", "?", where=where)
    baseline = _render("?", "CAST(NULL AS TIMESTAMPTZ)", where=where)
    sql = SUMMARY_SQL.format(
        scenario=scenario,
        baseline=baseline,
        sel_s="".join(f"q.{g}, " for g in groups),
        sel_out="".join(f"s.{g}, " for g in groups),
        group_by=f"GROUP BY {', '.join(f'q.{g}' for g in groups)}" if groups else "",
        on=" AND ".join(f"s.{g} IS NOT DISTINCT FROM b.{g}" for g in groups) or "true",
        order=", ".join(f"s.{g} NULLS LAST" for g in groups) or "s.calls",
    )
    params = [sheet, as_of, *wparams, active, *wparams, factor, factor]
    try:
        df = query_frame(cur, sql, params)
    finally:
        if model_swap:
            cur.unregister("_swaps")
            cur.unregister("_swap_tokens")
    df.attrs.update(
        sheet=sheet,
        baseline_sheet=active,
        discount_pct=discount_pct,
        model_swap=dict(model_swap or {}),
        period=period,
        as_of=as_of,
        total_baseline_usd=sum((v for v in df["baseline_usd"] if v is not None and v == v), Decimal(0)),
        total_scenario_usd=sum((v for v in df["scenario_usd"] if v is not None and v == v), Decimal(0)),
        total_reported_only_usd_baseline=sum(
            (v for v in df["reported_only_usd_baseline"] if v is not None and v == v), Decimal(0)
        ),
        **{
            f"total_{c}": int(df[c].sum())
            for c in (
                "unpriced_baseline",
                "unpriced_scenario",
                "computed_baseline",
                "reported_only_baseline",
                "reported_only_scenario",
            )
        },
    )
    return df


SWAP_MAPPING_SQL = """
SELECT count_if(input_text IS NOT NULL OR output_text IS NOT NULL) AS by_tokenizer,
       count_if(input_text IS NULL AND output_text IS NULL) AS token_for_token
FROM calls
WHERE {match} AND (CAST(? AS TIMESTAMPTZ) IS NULL OR start_time >= ?)
  AND (CAST(? AS TIMESTAMPTZ) IS NULL OR start_time < ?)
"""
_SWAP_MATCH = {"feature": "feature = ?", "model": "(request_model = ? OR response_model = ?)"}


def swap_mapping_counts(con, kind: str, key: str, period: tuple | None = None) -> dict[str, int]:
    """How a model swap of `kind` ('feature' | 'model') `key` maps tokens, in calls counts:
    `by_tokenizer` calls carry their text (re-counted with the target model's tokenizer),
    `token_for_token` calls do not (their token counts carry over unchanged), as `reprice` does."""
    if kind not in _SWAP_MATCH:
        raise StoreError(f"swap kind must be feature or model, not {kind!r}")
    start, end = period or (None, None)
    keys = [key] * _SWAP_MATCH[kind].count("?")
    a, b = con.execute(SWAP_MAPPING_SQL.format(match=_SWAP_MATCH[kind]), [*keys, start, start, end, end]).fetchone()
    return {"by_tokenizer": int(a or 0), "token_for_token": int(b or 0)}
