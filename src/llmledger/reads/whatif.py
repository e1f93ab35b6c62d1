"""Reads for applying a router or cascade to a feature's own traffic (simulate/traffic.py).

- `feature_window`: the feature's last N days of calls (ending at its latest call).
- `costs_under_models`: the feature's calls priced as they were (the baseline) and as if every
  call had gone to each candidate model, in one scan of the calls per side. A candidate's tokens
  come from re-counting the captured text with its tokenizer where the call carries text (as a
  Reprice model swap does, pricing/swaps.py), otherwise they carry over one for one.
- `model_latencies`: measured latency per model, from the ledger's calls or the Local lab's runs.

Both cost sides are *actual cost* under one sheet (pricing.engine.ACTUAL_COST_RULE); a candidate
never falls back to a reported cost, since that cost was for another model.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

import duckdb
import pyarrow as pa

from llmledger.errors import PricingError
from llmledger.pricing import swaps
from llmledger.pricing.engine import _render
from llmledger.pricing.matching import refresh_resolutions
from llmledger.pricing.sheets import pricing_sheet

FEATURE_WINDOW_SQL = """
SELECT min(start_time), max(start_time), count(*) FROM calls WHERE feature = ?
"""
FEATURES_SQL = "SELECT feature FROM calls WHERE feature IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC, 1"

_WHERE = (
    "WHERE c.feature = ? AND c.start_time >= ? AND c.start_time < ? "
    "AND (c.input_tokens IS NOT NULL OR c.output_tokens IS NOT NULL)"
)
# Every call of the window crossed with each candidate; the candidate's name travels in
# `token_mapping` (any non-NULL value there marks a swapped call: no reported-cost fallback).
_TARGET_JOIN = """
CROSS JOIN _whatif_targets tg
LEFT JOIN _whatif_tokens st ON st.trace_id = c.trace_id AND st.span_id = c.span_id AND st.target = tg.target
"""
_TARGET_PARTS = dict(
    model_req="tg.target",
    model_resp="''",
    model_prov="''",
    in_expr="coalesce(st.t_in, c.input_tokens)",
    out_expr="coalesce(st.t_out, c.output_tokens)",
    token_mapping="tg.target",
    swap_join=_TARGET_JOIN,
)
TARGETS_SQL = """
SELECT token_mapping AS model, count(*) AS calls, sum(actual_cost_usd) AS cost_usd,
       count_if(cost_basis = 'unpriced') AS unpriced
FROM ({scenario}) q GROUP BY 1
"""
BASELINE_SQL = """
SELECT count(*) AS calls, sum(actual_cost_usd) AS cost_usd,
       count_if(cost_basis = 'computed') AS computed, count_if(cost_basis = 'reported') AS reported_only,
       count_if(cost_basis = 'unpriced') AS unpriced, avg(duration_ms) AS mean_ms,
       string_agg(DISTINCT coalesce(nullif(response_model, ''), request_model), ', ')
           FILTER (WHERE cost_basis = 'unpriced') AS models
FROM ({baseline}) q
"""
TEXT_CALLS_SQL = """
SELECT trace_id, span_id, coalesce(nullif(response_model, ''), request_model) AS model, input_text, output_text,
       input_tokens, output_tokens
FROM calls
WHERE feature = ? AND start_time >= ? AND start_time < ? AND (input_text IS NOT NULL OR output_text IS NOT NULL)
  AND (input_tokens IS NOT NULL OR output_tokens IS NOT NULL)
"""
COVERAGE_SQL = """
SELECT count_if(input_tokens IS NULL AND output_tokens IS NULL) AS without_usage,
       count_if((input_tokens IS NOT NULL OR output_tokens IS NOT NULL)
                AND (input_text IS NOT NULL OR output_text IS NOT NULL)) AS with_text
FROM calls WHERE feature = ? AND start_time >= ? AND start_time < ?
"""
# The latest version's price for a name, as the swap targets resolve it (swaps.resolve_targets).
TARGET_PRICE_SQL = """
SELECT r.model_id, p.input_mtok, p.output_mtok
FROM price_resolution r JOIN price_versions v USING (version_id)
LEFT JOIN model_prices p ON p.version_id = r.version_id AND p.model_id = r.model_id
     AND p.service_tier = 'standard' AND p.above_input_tokens = 0
WHERE v.sheet = ? AND r.request_model = ? AND r.response_model = '' AND r.provider = ''
ORDER BY v.effective_from DESC LIMIT 1
"""
CALL_LATENCY_SQL = """
SELECT m.model, count(c.duration_ms) AS n, avg(c.duration_ms) AS mean_ms,
       quantile_cont(c.duration_ms, 0.5) AS p50_ms
FROM (SELECT unnest(?::VARCHAR[]) AS model) m
LEFT JOIN calls c ON (c.request_model = m.model OR c.response_model = m.model)
     AND c.status = 'ok' AND c.duration_ms IS NOT NULL AND c.start_time >= ? AND c.start_time < ?
GROUP BY 1
"""
LAB_LATENCY_SQL = """
SELECT model || '-' || variant AS name, model, count(*) AS n, avg(e2e_ms) AS mean_ms,
       quantile_cont(e2e_ms, 0.5) AS p50_ms
FROM local_runs WHERE e2e_ms IS NOT NULL GROUP BY model, variant
"""


@dataclass(frozen=True)
class Window:
    feature: str
    start: dt.datetime
    end: dt.datetime  # exclusive: just after the feature's latest call
    days: float  # the window's length, or from the feature's first call when it started later
    first_call: dt.datetime
    last_call: dt.datetime


@dataclass
class FeatureCosts:
    """Actual cost of a window's calls as recorded and as if each had gone to each model."""

    sheet: str
    calls: int  # calls with token usage (what both sides price)
    baseline_usd: Decimal
    computed: int
    reported_only: int
    unpriced: int  # calls the sheet cannot price as recorded (left out of the baseline)
    without_usage: int  # calls reporting no tokens at all (left out of both sides)
    with_text: int  # calls whose text is re-counted with each model's tokenizer
    mean_ms: float | None
    models_seen: str
    by_model: dict[str, Decimal] = field(default_factory=dict)
    unpriced_by_model: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Latency:
    model: str
    mean_ms: float | None
    p50_ms: float | None
    n: int
    source: str  # where the figure comes from, for the page and the CLI


def known_features(con, limit: int | None = 12) -> list[str]:
    """Features with calls, most calls first (the first `limit`, or all)."""
    sql = FEATURES_SQL + (f" LIMIT {int(limit)}" if limit else "")
    return [r[0] for r in con.cursor().execute(sql).fetchall()]


def feature_window(con, feature: str, days: float) -> Window | None:
    """The feature's last `days` days of calls, ending just after its latest call; None without calls."""
    lo, hi, n = con.cursor().execute(FEATURE_WINDOW_SQL, [feature]).fetchone()
    if not n:
        return None
    end = hi + dt.timedelta(microseconds=1)
    start = end - dt.timedelta(days=days)
    covered = (end - max(start, lo)).total_seconds() / 86400
    return Window(feature, start, end, max(covered, 1.0 / 24), lo, hi)


def check_models_priced(con, sheet: str, models: list[str]) -> None:
    """Each model must be known to `sheet` and have a standard token price there."""
    sheet = pricing_sheet(con, sheet)
    try:
        swaps.resolve_targets(con, sheet, set(models))
    except PricingError:
        pass  # named precisely below
    cur = con.cursor()
    for m in models:
        row = cur.execute(TARGET_PRICE_SQL, [sheet, m]).fetchone()
        if not row or row[0] is None:
            raise PricingError(f"unknown model {m!r}: price sheet {sheet!r} has no such model")
        if row[1] is None and row[2] is None:
            raise PricingError(f"model {m!r} has no token price in sheet {sheet!r}")


def costs_under_models(con: duckdb.DuckDBPyConnection, window: Window, models: list[str], sheet: str) -> FeatureCosts:
    """The window's calls under `sheet`: as recorded, and as if every one had gone to each model."""
    sheet = pricing_sheet(con, sheet)
    refresh_resolutions(con, sheet)
    check_models_priced(con, sheet, models)
    params = [window.feature, window.start, window.end]
    cur = con.cursor()
    cur.register("_whatif_targets", pa.table({"target": pa.array(models, pa.string())}))
    cur.register("_whatif_tokens", _retokenised(cur, window, models))
    try:
        scenario = _render("?", "CAST(NULL AS TIMESTAMPTZ)", where=_WHERE, **_TARGET_PARTS)
        rows = cur.execute(TARGETS_SQL.format(scenario=scenario), [sheet, *params]).fetchall()
    finally:
        cur.unregister("_whatif_targets")
        cur.unregister("_whatif_tokens")
    baseline = _render("?", "CAST(NULL AS TIMESTAMPTZ)", where=_WHERE)
    b = cur.execute(BASELINE_SQL.format(baseline=baseline), [sheet, *params]).fetchone()
    without, with_text = cur.execute(COVERAGE_SQL, params).fetchone()
    return FeatureCosts(
        sheet=sheet,
        calls=int(b[0] or 0),
        baseline_usd=b[1] if b[1] is not None else Decimal(0),
        computed=int(b[2] or 0),
        reported_only=int(b[3] or 0),
        unpriced=int(b[4] or 0),
        without_usage=int(without or 0),
        with_text=int(with_text or 0),
        mean_ms=float(b[5]) if b[5] is not None else None,
        models_seen=b[6] or "",
        by_model={m: (c if c is not None else Decimal(0)) for m, _, c, _ in rows},
        unpriced_by_model={m: int(u) for m, _, _, u in rows},
    )


def _retokenised(cur, window: Window, models: list[str]) -> pa.Table:
    """Token counts of the calls that carry text, re-counted with each model's tokenizer, one
    row per call and model: the Reprice model swap's mapping (pricing/swaps._mapped: reported
    counts scaled by count(text, model) / count(text, the call's model)). Each distinct text is
    counted once per tokenizer, in batches on threads, rather than once per call and model."""
    from llmledger.pricing.swaps import _mapped
    from llmledger.tokens import TokenCount, count_many, tokenizer_for_model

    rows = cur.execute(TEXT_CALLS_SQL, [window.feature, window.start, window.end]).fetchall()
    cols: dict[str, list] = {"trace_id": [], "span_id": [], "t_in": [], "t_out": [], "target": []}
    if rows:
        tokenizer = {m: tokenizer_for_model(m).name for m in {r[2] for r in rows if r[2]} | set(models)}
        texts = list({t for r in rows for t in (r[3], r[4]) if t})
        counted = {name: dict(zip(texts, count_many(texts, name))) for name in set(tokenizer.values())}

        def count(text, model):
            name = tokenizer[model]
            return TokenCount(counted[name][text], name, True, "")

        for m in models:
            for trace_id, span_id, model, in_text, out_text, n_in, n_out in rows:
                cols["trace_id"].append(trace_id)
                cols["span_id"].append(span_id)
                cols["t_in"].append(_mapped(count, in_text, model, m, n_in))
                cols["t_out"].append(_mapped(count, out_text, model, m, n_out))
                cols["target"].append(m)
    return pa.table(
        {
            "trace_id": pa.array(cols["trace_id"], pa.string()),
            "span_id": pa.array(cols["span_id"], pa.string()),
            "t_in": pa.array(cols["t_in"], pa.int64()),
            "t_out": pa.array(cols["t_out"], pa.int64()),
            "target": pa.array(cols["target"], pa.string()),
        }
    )


def model_latencies(con, models: list[str], start: dt.datetime, end: dt.datetime) -> dict[str, Latency]:
    """Mean and median latency per model: its successful calls in the ledger over [start, end)
    (all features), else the Local lab's timed runs of a variant of that name, else unknown."""
    cur = con.cursor()
    out: dict[str, Latency] = {}
    for m, n, mean, p50 in cur.execute(CALL_LATENCY_SQL, [list(models), start, end]).fetchall():
        if n:
            out[m] = Latency(m, float(mean), float(p50), int(n), f"measured in your traffic: {int(n):,} calls of {m}")
    missing = [m for m in models if m not in out]
    if missing:
        try:
            lab = cur.execute(LAB_LATENCY_SQL).fetchall()
        except duckdb.CatalogException:  # no Local lab tables in this ledger
            lab = []
        for m in missing:
            hit = next((r for r in lab if m in (r[0], r[1])), None)
            if hit:
                out[m] = Latency(
                    m, float(hit[3]), float(hit[4]), int(hit[2]), f"measured in the Local lab: {hit[2]} runs"
                )
            else:
                out[m] = Latency(m, None, None, 0, "no measurement (no calls of this model, no Local lab runs)")
    return out


FEATURE_MODELS_SQL = """
SELECT coalesce(nullif(response_model, ''), request_model) AS model, count(*) AS calls
FROM calls WHERE feature = ? GROUP BY 1 HAVING model IS NOT NULL ORDER BY 2 DESC, 1
"""


def feature_models(con, feature: str) -> list[str]:
    """The models a feature's calls went to, most calls first."""
    return [r[0] for r in con.cursor().execute(FEATURE_MODELS_SQL, [feature]).fetchall()]
