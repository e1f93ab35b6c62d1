"""Reads for the caching, compression, memory and batch what-ifs (simulate/levers, issue #18).

- `lever_calls`: a feature's (or every feature's) last N days of calls as the levers' calls
  frame: time, feature, model, session and trace ids, tokens, actual cost under a sheet
  (pricing.engine's one definition), the captured input/output text, and a digest of the input
  messages where the ledger kept only hashes (the `hash` content policy: call_messages).
- `lever_prices`: {model: prices} for the models in those calls, from the sheet's latest
  version (standard and batch tiers).

The window ends just after the latest call in scope, like reads/whatif.feature_window.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pandas as pd

from llmledger.errors import PricingError
from llmledger.pricing.engine import priced_calls_sql, query_frame
from llmledger.pricing.matching import Matcher, refresh_resolutions
from llmledger.pricing.sheets import load_sheet, pricing_sheet

WINDOW_SQL = "SELECT min(start_time), max(start_time), count(*) FROM calls WHERE (? IS NULL OR feature = ?)"
FEATURES_SQL = "SELECT DISTINCT feature FROM calls WHERE feature IS NOT NULL ORDER BY 1 LIMIT 20"
CALLS_SQL = """
WITH p AS ({priced})
SELECT p.trace_id, p.span_id, p.start_time AS time, p.feature, p.session_id, p.status, p.operation,
       coalesce(nullif(p.response_model, ''), p.request_model) AS model,
       p.input_tokens, p.output_tokens, p.cache_read_tokens, p.cache_write_tokens,
       CAST(p.actual_cost_usd AS DOUBLE) AS cost_usd, p.cost_basis,
       c.input_text, c.output_text{digest_cols}
FROM p JOIN calls c ON c.trace_id = p.trace_id AND c.span_id = p.span_id
{digest_join}
ORDER BY p.start_time
"""
# Under the hash policy the ledger keeps a sha256 per message (call_messages, issue #17): the
# digest of a call's input messages in order stands in for its text in exact-match levers.
DIGEST_COLS = ", m.input_hash"
DIGEST_JOIN = """
LEFT JOIN (
    SELECT trace_id, span_id,
           sha256(string_agg(coalesce(role, '') || ':' || coalesce(content_sha256, ''), '|' ORDER BY seq)
               FILTER (WHERE kind <> 'output')) AS input_hash
    FROM call_messages GROUP BY trace_id, span_id
) m ON m.trace_id = p.trace_id AND m.span_id = p.span_id
"""
MESSAGES_COLS_SQL = """
SELECT count(*) FROM information_schema.columns
WHERE table_name = 'call_messages' AND column_name IN ('trace_id', 'span_id', 'seq', 'kind', 'role', 'content_sha256')
"""


@dataclass
class LeverCalls:
    feature: str | None  # None: every feature
    sheet: str
    start: dt.datetime
    end: dt.datetime
    days: float  # the window's length, or from the first call when it started later
    calls: pd.DataFrame
    without_usage: int  # calls with no token counts (left out)
    unpriced: int  # calls the sheet cannot price (cost_usd NaN)
    with_text: int
    with_digest: int
    notes: list[str] = field(default_factory=list)


def known_features(con) -> list[str]:
    return [r[0] for r in con.cursor().execute(FEATURES_SQL).fetchall()]


def lever_calls(con, feature: str | None, days: float, sheet: str | None = None) -> LeverCalls | None:
    """The calls in scope, priced under `sheet` (default: the active one); None when there are none."""
    cur = con.cursor()
    lo, hi, n = cur.execute(WINDOW_SQL, [feature, feature]).fetchall()[0]
    if not n:
        return None
    sheet = pricing_sheet(con, sheet)
    refresh_resolutions(con, sheet)
    end = hi + dt.timedelta(microseconds=1)
    start = end - dt.timedelta(days=days)
    covered = max((end - max(start, lo)).total_seconds() / 86400, 1.0 / 24)
    pred = ("c.feature = ?", [feature]) if feature is not None else None
    priced, params = priced_calls_sql(sheet, None, (start, end), calls_where=pred)
    has_digest = cur.execute(MESSAGES_COLS_SQL).fetchall()[0][0] == 6
    sql = CALLS_SQL.format(
        priced=priced,
        digest_cols=DIGEST_COLS if has_digest else ", CAST(NULL AS VARCHAR) AS input_hash",
        digest_join=DIGEST_JOIN if has_digest else "",
    )
    df = query_frame(cur, sql, params)
    usage = df["input_tokens"].notna() | df["output_tokens"].notna()
    without = int((~usage).sum())
    df = df[usage].reset_index(drop=True)
    for c in ("input_tokens", "output_tokens"):
        df[c] = df[c].fillna(0).astype("int64")
    df["cost_usd"] = df["cost_usd"].astype(float)
    notes = []
    if without:
        notes.append(f"{without:,} calls reported no token usage and are left out")
    if not has_digest:
        notes.append("this ledger keeps no per-message digests (call_messages): calls without text cannot be keyed")
    return LeverCalls(
        feature=feature,
        sheet=sheet,
        start=start,
        end=end,
        days=covered,
        calls=df,
        without_usage=without,
        unpriced=int(df["cost_usd"].isna().sum()),
        with_text=int(df["input_text"].notna().sum()),
        with_digest=int(df["input_hash"].notna().sum()),
        notes=notes,
    )


def lever_prices(con, sheet: str, models) -> dict[str, dict]:
    """{model: {input, output, cache_read, cache_write, cache_write_1h, batch_input, batch_output,
    source}} in USD per 1M tokens, from the sheet's latest version (simulate.levers.ModelPrices'
    fields). Models the sheet cannot price are left out."""
    s = load_sheet(con, pricing_sheet(con, sheet))
    matcher = Matcher(s)
    out = {}
    for m in sorted(set(models)):
        hit = matcher.resolve(m)
        entry = matcher.entry.get(hit.model_id) if hit else None
        row = entry.row("standard") if entry else None
        if row is None or row.input_mtok is None or row.output_mtok is None:
            continue
        b = entry.row("batch")
        out[m] = dict(
            model=m,
            input=float(row.input_mtok),
            output=float(row.output_mtok),
            cache_read=_f(row.cache_read_mtok),
            cache_write=_f(row.cache_write_mtok),
            cache_write_1h=_f(row.cache_write_1h_mtok),
            batch_input=_f(b.input_mtok) if b else None,
            batch_output=_f(b.output_mtok) if b else None,
            source=f"sheet {s.name!r}, entry {hit.model_id!r}",
        )
    if not out and models:
        raise PricingError(f"sheet {s.name!r} prices none of the models {', '.join(sorted(set(models)))}")
    return out


def _f(x):
    return None if x is None else float(x)
