"""Model swaps for repricing: which calls a swap touches, the target model's price resolution, and
their tokens mapped through the target's tokenizer.

Model swaps map tokens through the target model's tokenizer when the call carries its text: the
reported counts are scaled by count(text, target) / count(text, original) (token_mapping =
'tokenizer'); otherwise tokens carry over one for one ('token-for-token'). `SWAP_PARTS` are the
pieces engine._render takes to price the swapped calls (reads/reprice.py runs the query).
"""

from __future__ import annotations

import pyarrow as pa

from llmledger.errors import PricingError
from llmledger.pricing.matching import matcher_for_version

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
    in_expr="coalesce(st.t_in, c.input_tokens)",
    out_expr="coalesce(st.t_out, c.output_tokens)",
    token_mapping=f"CASE WHEN {_TARGET} IS NULL THEN NULL WHEN st.trace_id IS NOT NULL THEN 'tokenizer' "
    "ELSE 'token-for-token' END",
    swap_join=SWAP_JOIN,
)
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


def swap_table(con, model_swap: dict[str, str]) -> pa.Table:
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


def resolve_targets(con, sheet: str, targets: set[str]) -> None:
    """Resolution rows for the swap targets (keyed as request_model only) in every version."""
    for (vid,) in con.execute("SELECT version_id FROM price_versions WHERE sheet = ?", [sheet]).fetchall():
        matcher = matcher_for_version(con, vid, sheet)
        for t in targets:
            hit = matcher.resolve(t)
            con.execute(
                RESOLVE_NAME_SQL,
                [vid, t, hit.model_id if hit else None, hit.kind if hit else "unknown", hit.name if hit else None],
            )
    for t in targets:
        latest = con.execute(
            """SELECT r.model_id FROM price_resolution r JOIN price_versions v USING (version_id)
               WHERE v.sheet = ? AND r.request_model = ? AND r.response_model = '' AND r.provider = ''
               ORDER BY v.effective_from DESC LIMIT 1""",
            [sheet, t],
        ).fetchone()
        if not latest or latest[0] is None:
            raise PricingError(f"swap target {t!r} has no price in sheet {sheet!r}")


def swap_tokens(con, period_sql: str, period_params: list) -> pa.Table:
    rows = con.execute(
        SWAP_CANDIDATES_SQL.format(
            target=_TARGET,
            swap_join=SWAP_JOIN.replace(
                "LEFT JOIN _swap_tokens st ON st.trace_id = c.trace_id AND st.span_id = c.span_id", ""
            ),
            period=period_sql.replace("WHERE", "AND", 1),
        ),
        period_params,
    ).fetchall()
    cols = {"trace_id": [], "span_id": [], "t_in": [], "t_out": []}
    if rows:
        from llmledger.tokens import count_text

        for trace_id, span_id, model, in_text, out_text, n_in, n_out, target in rows:
            cols["trace_id"].append(trace_id)
            cols["span_id"].append(span_id)
            cols["t_in"].append(_mapped(count_text, in_text, model, target, n_in))
            cols["t_out"].append(_mapped(count_text, out_text, model, target, n_out))
    return pa.table(
        {
            "trace_id": pa.array(cols["trace_id"], pa.string()),
            "span_id": pa.array(cols["span_id"], pa.string()),
            "t_in": pa.array(cols["t_in"], pa.int64()),
            "t_out": pa.array(cols["t_out"], pa.int64()),
        }
    )


def _mapped(count_text, text, model, target, reported):
    if not text:
        return reported
    new = count_text(text, model=target).tokens
    if reported is None:
        return new
    old = count_text(text, model=model).tokens if model else 0
    return round(reported * new / old) if old else reported
