"""What pricing needs after each load, and the estimated-usage fill.

`after_load(cur, trace_ids)` is meant to run inside the loader's transaction, right after
attribution: it fills estimated usage for the new calls that carry text but no usage, makes sure
the default sheet exists, and resolves the new model names against every stored sheet (so
`llm_calls.cost_usd` is a pure join afterwards).
"""

from __future__ import annotations

import duckdb

from llmledger.pricing.matching import refresh_resolutions

MISSING_WITH_TEXT_SQL = """
SELECT trace_id, span_id, coalesce(nullif(response_model, ''), request_model) AS model, input_text, output_text
FROM calls
WHERE usage_source = 'missing' AND input_tokens IS NULL AND output_tokens IS NULL
  AND (input_text IS NOT NULL OR output_text IS NOT NULL)
  {trace_filter}
"""
UPDATE_ESTIMATE_SQL = """
UPDATE calls SET input_tokens = ?, output_tokens = ?, usage_source = 'estimated'
WHERE trace_id = ? AND span_id = ?
"""


def fill_estimated_usage(con: duckdb.DuckDBPyConnection, trace_ids: list[str] | None = None, since: int = 0) -> int:
    """Where a call has no usage but carries its input/output text, count the text with the
    model's tokenizer (tokens.count_text) and store the counts with usage_source='estimated'.
    A side without text stays NULL. Returns the number of calls updated."""
    cur = con  # inside the loader's transaction when called from after_load
    if trace_ids is not None and not trace_ids:
        return 0
    flt, params = (
        ("", [])
        if trace_ids is None
        else (f"AND trace_id IN (SELECT unnest(?)) AND load_seq >= {int(since)}", [trace_ids])
    )
    rows = cur.execute(MISSING_WITH_TEXT_SQL.format(trace_filter=flt), params).fetchall()
    if not rows:
        return 0
    from llmledger.tokens import count_text  # the tokenizer registry (tokens/)

    updates = []
    for trace_id, span_id, model, input_text, output_text in rows:
        n_in = count_text(input_text, model=model).tokens if input_text else None
        n_out = count_text(output_text, model=model).tokens if output_text else None
        updates.append([n_in, n_out, trace_id, span_id])
    cur.executemany(UPDATE_ESTIMATE_SQL, updates)
    return len(updates)


def after_load(cur: duckdb.DuckDBPyConnection, trace_ids: list[str], since: int = 0) -> None:
    """Loader hook (inside its transaction): estimated usage, then model resolution. `since`:
    the calls of these traces all carry this load number or a later one (see m007_load_seq)."""
    fill_estimated_usage(cur, trace_ids, since)
    from llmledger.pricing.sheets import ensure_default_sheet

    ensure_default_sheet(cur, in_transaction=True)
    refresh_resolutions(cur, since=since)
