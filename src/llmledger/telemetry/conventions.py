"""Convention mapping: one raw span in, at most one model call out.

Understands OTel GenAI (current and deprecated names), OpenInference, OpenLLMetry/Traceloop,
OpenLIT, LiteLLM's callback, the Vercel AI SDK and Langfuse's own attributes (modules conv_*).
Wrapper spans (workflows, agents, tools, HTTP clients, LiteLLM's raw request twin) map to None.

Token semantics follow OTel GenAI: `input_tokens` includes cache reads and writes. A count that
the instrumentation did not report is None, never 0, and `usage_source` says 'missing'.
"""

from __future__ import annotations

from llmledger.telemetry.conv_common import Call
from llmledger.telemetry.conv_genai import TRACELOOP_WRAPPERS, map_genai
from llmledger.telemetry.conv_others import map_langfuse, map_openinference, map_vercel
from llmledger.telemetry.otlp import Span

__all__ = ["Call", "map_span", "drop_nested_duplicates"]

# Any one of these marks a span as a candidate of the gen_ai.* family.
_GENAI_MARKERS = (
    "gen_ai.request.model",
    "gen_ai.response.model",
    "gen_ai.operation.name",
    "gen_ai.system",
    "gen_ai.provider.name",
    "llm.request.type",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.prompt_tokens",
    "llm.request.model",
)


def map_span(span: Span) -> Call | None:
    """Map one span to a call, or None when it is not a model call.

    Runs once per span at ingest: the cheap discriminating keys come first and nothing is parsed
    until a span is known to be a candidate.
    """
    a = span.attributes
    if not a:
        return None
    call = _dispatch(span, a)
    if call is not None and (span.status_code == "ERROR" or "error.type" in a):
        call.status = "error"
    return call


def _dispatch(span: Span, a: dict) -> Call | None:
    kind = a.get("openinference.span.kind")
    if kind is not None:
        return map_openinference(span, a, kind)
    obs_type = a.get("langfuse.observation.type")
    if obs_type is not None:
        return map_langfuse(span, a, obs_type)
    op_id = a.get("ai.operationId")
    if op_id is not None:
        return map_vercel(span, a, str(op_id))
    if span.scope_name == "ai" and span.name.startswith("ai.") and "ai.model.id" in a:
        return map_vercel(span, a, span.name)
    tl_kind = a.get("traceloop.span.kind")
    if tl_kind is not None and tl_kind in TRACELOOP_WRAPPERS:
        return None
    for k in _GENAI_MARKERS:
        if k in a:
            return map_genai(span, a)
    return None


# ---------------------------------------------------------------- nested duplicates

# For every call, walk up its ancestors (through non-call spans too) and pair it with each
# ancestor that is itself a call. A pair describes one request seen by two stacked
# instrumentations when the models agree (or one side names none) and the token counts agree
# wherever both sides report them. The outer call of such a pair goes, unless it alone carries
# usage and it wraps a single call: then the usage-less inner one goes instead (with several
# usage-less inner calls nothing goes: which one it duplicates is unknowable).
NESTED_DUPLICATES_SQL = """
WITH RECURSIVE
c AS (SELECT * FROM calls SEMI JOIN dedup_traces USING (trace_id) WHERE load_seq >= {since}),
tree AS (  -- the touched traces' spans only: the walk never joins the whole table
    SELECT trace_id, span_id, parent_span_id FROM spans SEMI JOIN dedup_traces USING (trace_id)
    WHERE parent_span_id IS NOT NULL AND load_seq >= {since}
),
walk(trace_id, desc_id, cur, depth) AS (
    SELECT trace_id, span_id, parent_span_id, 1 FROM c WHERE parent_span_id IS NOT NULL
    UNION ALL
    SELECT w.trace_id, w.desc_id, s.parent_span_id, w.depth + 1
    FROM walk w JOIN tree s ON s.trace_id = w.trace_id AND s.span_id = w.cur
    WHERE w.depth < 64
),
pairs AS (
    SELECT w.trace_id, w.cur AS anc_id, w.desc_id,
        (a.usage_source = 'reported') AS anc_usage, (d.usage_source = 'reported') AS desc_usage,
        (a.request_model IS NULL AND a.response_model IS NULL)
          OR (d.request_model IS NULL AND d.response_model IS NULL)
          OR {model_match}
          AS same_model,
        (a.input_tokens IS NULL OR d.input_tokens IS NULL OR a.input_tokens = d.input_tokens)
          AND (a.output_tokens IS NULL OR d.output_tokens IS NULL OR a.output_tokens = d.output_tokens)
          AS same_tokens
    FROM walk w
    JOIN c a ON a.trace_id = w.trace_id AND a.span_id = w.cur
    JOIN c d ON d.trace_id = w.trace_id AND d.span_id = w.desc_id
),
fanout AS (SELECT trace_id, anc_id, count(*) AS n FROM pairs GROUP BY ALL),
dup AS (
    SELECT p.*, f.n FROM pairs p JOIN fanout f USING (trace_id, anc_id)
    WHERE p.same_model AND p.same_tokens
)
SELECT DISTINCT trace_id, span_id FROM (
    SELECT trace_id, CASE WHEN NOT anc_usage OR desc_usage THEN anc_id
                          WHEN n = 1 THEN desc_id END AS span_id
    FROM dup
) WHERE span_id IS NOT NULL
"""


def _model_match() -> str:
    """Either side's request/response model names the other's (dated snapshots, 'bedrock/...')."""
    terms = []
    for x in ("a.request_model", "a.response_model"):
        for y in ("d.request_model", "d.response_model"):
            terms.append(
                f"({x} IS NOT NULL AND {y} IS NOT NULL AND "
                f"(contains(lower({x}), lower({y})) OR contains(lower({y}), lower({x}))))"
            )
    return "(" + " OR ".join(terms) + ")"


NESTED_DUPLICATES_SQL = NESTED_DUPLICATES_SQL.replace("{model_match}", _model_match())


def drop_nested_duplicates(cur, trace_ids: list[str], since: int = 0) -> int:
    """Delete calls that merely wrap another call of the same trace (two instrumentations of one
    request, e.g. a framework span around the provider SDK's span). Runs inside the loader's
    transaction on `cur`; returns the number of rows deleted. Order-independent across batches:
    it re-examines whole traces, so it acts once both spans and the path between them are in.
    `since`: no stored row of these traces has a smaller load number (rows below it are skipped
    unread)."""
    ids = sorted(set(trace_ids))
    if not ids:
        return 0
    cur.execute("CREATE OR REPLACE TEMP TABLE dedup_traces AS SELECT unnest(?::VARCHAR[]) AS trace_id", [ids])
    sql = NESTED_DUPLICATES_SQL.replace("{since}", str(int(since)))
    cur.execute(f"CREATE OR REPLACE TEMP TABLE dedup_doomed AS {sql}")
    n = cur.execute("SELECT count(*) FROM dedup_doomed").fetchone()[0]
    if n:
        cur.execute(
            """DELETE FROM calls USING dedup_doomed d
               WHERE calls.trace_id = d.trace_id AND calls.span_id = d.span_id"""
        )
    cur.execute("DROP TABLE IF EXISTS dedup_doomed")
    cur.execute("DROP TABLE IF EXISTS dedup_traces")
    return n
