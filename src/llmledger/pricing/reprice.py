"""What would a period have cost under another sheet, another model for a feature, or a discount?

Repricing is a query, never a rewrite: the same calls are priced again at query time, so running
A, then B, then A gives identical totals. Both sides are *actual cost* (engine.ACTUAL_COST_RULE):
the baseline under the viewer's sheet (default: the active one) is what the Spend page shows.

Model swaps map tokens through the target model's tokenizer when the call carries its text: the
reported counts are scaled by count(text, target) / count(text, original) (token_mapping =
'tokenizer'); otherwise tokens carry over one for one ('token-for-token').
"""

from __future__ import annotations

from decimal import Decimal

import duckdb
import pandas as pd
import pyarrow as pa

from llmledger.errors import PricingError
from llmledger.pricing.engine import _period_where, _render, query_frame
from llmledger.pricing.matching import matcher_for_version
from llmledger.pricing.matching import refresh_resolutions
from llmledger.pricing.sheets import pricing_sheet

GROUPABLE = ("feature", "team", "user_id", "session_id", "service", "environment", "provider",
             "request_model", "response_model", "operation", "status")

SWAP_JOIN = """
LEFT JOIN _swaps sf ON sf.kind = 'feature' AND sf.key = c.feature
LEFT JOIN _swaps sm ON sm.kind = 'model' AND sm.key = c.request_model
LEFT JOIN _swaps sr ON sr.kind = 'model' AND sr.key = c.response_model
LEFT JOIN _swap_tokens st ON st.trace_id = c.trace_id AND st.span_id = c.span_id
"""
_TARGET = "coalesce(sf.target, sm.target, sr.target)"
SWAP_PARTS = dict(
    model_req=f"CASE WHEN {_TARGET} IS NULL THEN coalesce(c.request_model, '') ELSE {_TARGET} END",
    model_resp=f"CASE WHEN {_TARGET} IS NULL THEN coalesce(c.response_model, '') ELSE '' END",
    model_prov=f"CASE WHEN {_TARGET} IS NULL THEN coalesce(c.provider, '') ELSE '' END",
    in_expr="coalesce(st.t_in, c.input_tokens)", out_expr="coalesce(st.t_out, c.output_tokens)",
    token_mapping=f"CASE WHEN {_TARGET} IS NULL THEN NULL WHEN st.trace_id IS NOT NULL THEN 'tokenizer' "
                  "ELSE 'token-for-token' END",
    swap_join=SWAP_JOIN,
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
SWAP_CANDIDATES_SQL = """
SELECT trace_id, span_id, coalesce(nullif(response_model, ''), request_model) AS model, input_text, output_text,
       input_tokens, output_tokens, {target} AS target
FROM calls c {swap_join}
WHERE {target} IS NOT NULL AND (input_text IS NOT NULL OR output_text IS NOT NULL) {period}
"""
KIND_SQL = """
SELECT count(*) FILTER (WHERE feature = ?) AS f, count(*) FILTER (WHERE request_model = ? OR response_model = ?) AS m
FROM calls
"""
RESOLVE_NAME_SQL = """
INSERT OR REPLACE INTO price_resolution (version_id, request_model, response_model, provider, model_id, match_kind, matched_name)
VALUES (?, ?, '', '', ?, ?, ?)
"""


def _swap_table(con, model_swap: dict[str, str]) -> pa.Table:
    kinds, keys, targets = [], [], []
    for key, target in model_swap.items():
        if not target:
            raise PricingError(f"model swap for {key!r} has no target model")
        if ":" in key and key.split(":", 1)[0] in ("feature", "model"):
            kind, key = key.split(":", 1)
        else:
            f, m = con.cursor().execute(KIND_SQL, [key, key, key]).fetchone()
            if f and m:
                raise PricingError(f"{key!r} is both a feature and a model: write 'feature:{key}' or 'model:{key}'")
            if not f and not m:
                raise PricingError(f"{key!r} is neither a feature nor a model seen in calls")
            kind = "feature" if f else "model"
        kinds.append(kind), keys.append(key), targets.append(target)
    return pa.table({"kind": kinds, "key": keys, "target": targets})


def _resolve_targets(con, sheet: str, targets: set[str]) -> None:
    """Resolution rows for the swap targets (keyed as request_model only) in every version."""
    for vid, in con.execute("SELECT version_id FROM price_versions WHERE sheet = ?", [sheet]).fetchall():
        matcher = matcher_for_version(con, vid, sheet)
        for t in targets:
            hit = matcher.resolve(t)
            con.execute(RESOLVE_NAME_SQL, [vid, t, hit.model_id if hit else None,
                                           hit.kind if hit else "unknown", hit.name if hit else None])
    for t in targets:
        latest = con.execute(
            """SELECT r.model_id FROM price_resolution r JOIN price_versions v USING (version_id)
               WHERE v.sheet = ? AND r.request_model = ? AND r.response_model = '' AND r.provider = ''
               ORDER BY v.effective_from DESC LIMIT 1""", [sheet, t]).fetchone()
        if not latest or latest[0] is None:
            raise PricingError(f"swap target {t!r} has no price in sheet {sheet!r}")


def _swap_tokens(con, period_sql: str, period_params: list) -> pa.Table:
    rows = con.execute(SWAP_CANDIDATES_SQL.format(target=_TARGET, swap_join=SWAP_JOIN.replace(
        "LEFT JOIN _swap_tokens st ON st.trace_id = c.trace_id AND st.span_id = c.span_id", ""),
        period=period_sql.replace("WHERE", "AND", 1)), period_params).fetchall()
    cols = {"trace_id": [], "span_id": [], "t_in": [], "t_out": []}
    if rows:
        from llmledger.tokens import count_text

        for trace_id, span_id, model, in_text, out_text, n_in, n_out, target in rows:
            cols["trace_id"].append(trace_id)
            cols["span_id"].append(span_id)
            cols["t_in"].append(_mapped(count_text, in_text, model, target, n_in))
            cols["t_out"].append(_mapped(count_text, out_text, model, target, n_out))
    return pa.table({"trace_id": pa.array(cols["trace_id"], pa.string()), "span_id": pa.array(cols["span_id"], pa.string()),
                     "t_in": pa.array(cols["t_in"], pa.int64()), "t_out": pa.array(cols["t_out"], pa.int64())})


def _mapped(count_text, text, model, target, reported):
    if not text:
        return reported
    new = count_text(text, model=target).tokens
    if reported is None:
        return new
    old = count_text(text, model=model).tokens if model else 0
    return round(reported * new / old) if old else reported


def reprice(con: duckdb.DuckDBPyConnection, sheet: str | None = None, model_swap: dict[str, str] | None = None,
            discount_pct=None, period: tuple | None = None, as_of=None,
            group_by: tuple[str, ...] | list[str] = ("feature",), baseline_sheet: str | None = None) -> pd.DataFrame:
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
        swaps = _swap_table(cur, model_swap)
        cur.register("_swaps", swaps)
        cur.register("_swap_tokens", pa.table({"trace_id": pa.array([], pa.string()), "span_id": pa.array([], pa.string()),
                                               "t_in": pa.array([], pa.int64()), "t_out": pa.array([], pa.int64())}))
        _resolve_targets(con, sheet, set(swaps.column("target").to_pylist()))
        cur.register("_swap_tokens", _swap_tokens(cur, where, wparams))
        scenario = _render("?", "?", where=where, **SWAP_PARTS)
    else:
        scenario = _render("?", "?", where=where)
    baseline = _render("?", "CAST(NULL AS TIMESTAMPTZ)", where=where)
    sql = SUMMARY_SQL.format(
        scenario=scenario, baseline=baseline,
        sel_s="".join(f"q.{g}, " for g in groups), sel_out="".join(f"s.{g}, " for g in groups),
        group_by=f"GROUP BY {', '.join(f'q.{g}' for g in groups)}" if groups else "",
        on=" AND ".join(f"s.{g} IS NOT DISTINCT FROM b.{g}" for g in groups) or "true",
        order=", ".join(f"s.{g} NULLS LAST" for g in groups) or "s.calls")
    params = [sheet, as_of, *wparams, active, *wparams, factor, factor]
    try:
        df = query_frame(cur, sql, params)
    finally:
        if model_swap:
            cur.unregister("_swaps")
            cur.unregister("_swap_tokens")
    df.attrs.update(
        sheet=sheet, baseline_sheet=active, discount_pct=discount_pct, model_swap=dict(model_swap or {}),
        period=period, as_of=as_of,
        total_baseline_usd=sum((v for v in df["baseline_usd"] if v is not None and v == v), Decimal(0)),
        total_scenario_usd=sum((v for v in df["scenario_usd"] if v is not None and v == v), Decimal(0)),
        total_reported_only_usd_baseline=sum((v for v in df["reported_only_usd_baseline"] if v is not None and v == v),
                                             Decimal(0)),
        **{f"total_{c}": int(df[c].sum()) for c in ("unpriced_baseline", "unpriced_scenario", "computed_baseline",
                                                    "reported_only_baseline", "reported_only_scenario")},
    )
    return df
