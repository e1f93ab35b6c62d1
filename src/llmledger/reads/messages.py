"""The messages of one call, its tools, and where its token counts came from (the Calls page's
trace drill-down).

Messages come from the call's GenAI log events when it has any (call_messages, origin 'event');
otherwise from its span: the stored per-message hashes under the hash policy (origin 'span'), or
the span's own attributes, read with the same per-dialect rules the ingest uses
(telemetry.content.span_messages). Under hash and drop there is no text to show, and the rows say so.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from llmledger.telemetry import content

TRACE_CALLS_SQL = """
SELECT c.span_id, c.start_time, coalesce(nullif(c.response_model, ''), c.request_model) AS model,
       c.operation, c.input_tokens, c.output_tokens, c.usage_source, c.convention,
       CASE WHEN c.usage_source = 'estimated' THEN 'tokenizer estimate'
            WHEN c.usage_source = 'missing' THEN 'none reported'
            WHEN EXISTS (SELECT 1 FROM genai_events e
                         WHERE e.trace_id = c.trace_id AND e.span_id = c.span_id AND e.gave_usage)
                 THEN 'GenAI event'
            ELSE 'span attribute' END AS token_source,
       (SELECT count(*) FROM genai_events e WHERE e.trace_id = c.trace_id AND e.span_id = c.span_id) AS events
FROM calls c WHERE c.trace_id = ? ORDER BY c.start_time, c.span_id
"""
MESSAGES_SQL = """
SELECT origin, kind, role, content, content_sha256, tokens, tool_calls, finish_reason
FROM call_messages WHERE trace_id = ? AND span_id = ? AND origin = ?
ORDER BY time, seq, record_key
"""
ORIGINS_SQL = "SELECT DISTINCT origin FROM call_messages WHERE trace_id = ? AND span_id = ?"
SPAN_SQL = "SELECT attributes, events FROM spans WHERE trace_id = ? AND span_id = ? LIMIT 1"
#: Span attributes that list the tools a call was offered.
TOOL_DEFINITION_KEYS = ("gen_ai.tool.definitions", "gen_ai.request.tools", "llm.tools", "ai.prompt.tools")


def trace_calls(con, trace_id: str) -> pd.DataFrame:
    """The model calls of a trace, with the source of their token counts."""
    return con.execute(TRACE_CALLS_SQL, [trace_id]).df()


def call_messages(con, trace_id: str, span_id: str) -> dict[str, Any]:
    """{"source": 'GenAI events' | 'span (hashed)' | 'span attributes' | None, "messages": [...],
    "tool_calls": [...], "tools_offered": [...], "policy": the content policy in force}.
    Each message: kind, role, text (None when not kept), sha256, tokens, tool_calls, finish_reason."""
    origins = {r[0] for r in con.execute(ORIGINS_SQL, [trace_id, span_id]).fetchall()}
    span = con.execute(SPAN_SQL, [trace_id, span_id]).fetchone()
    attrs = _json(span[0]) if span else {}
    events = _json(span[1]) if span and span[1] else []
    messages: list[dict] = []
    source = None
    if "event" in origins or "span" in origins:
        origin = "event" if "event" in origins else "span"
        source = "GenAI events" if origin == "event" else "span (hashed)"
        for kind, role, text, sha, tokens, tools, finish in (
            r[1:] for r in con.execute(MESSAGES_SQL, [trace_id, span_id, origin]).fetchall()
        ):
            messages.append(_msg(kind, role, text, sha, tokens, _json(tools) or [], finish))
    elif attrs:
        found = content.span_messages(
            attrs if isinstance(attrs, dict) else {}, events if isinstance(events, list) else []
        )
        found = [m for m in found if not (m.text or "").startswith(tuple(content.MARKERS.values()))]
        if found:
            source = "span attributes"
            messages = [_msg(m.kind, m.role, m.text, None, None, m.tool_calls, m.finish_reason) for m in found]
    tool_calls = [dict(t, role=m["role"]) for m in messages for t in m["tool_calls"]]
    return {
        "source": source,
        "messages": messages,
        "tool_calls": tool_calls,
        "tools_offered": tools_offered(attrs if isinstance(attrs, dict) else {}),
        "policy": content.policy(con),
    }


def tools_offered(attrs: dict) -> list[str]:
    """Names of the tools a call's span says it offered the model."""
    names: list[str] = []
    for key in TOOL_DEFINITION_KEYS:
        v = content.maybe_json(attrs.get(key))
        if isinstance(v, list):
            for t in v:
                if isinstance(t, dict):
                    fn = t.get("function") if isinstance(t.get("function"), dict) else t
                    if fn.get("name"):
                        names.append(str(fn["name"]))
    for k, v in attrs.items():  # OpenInference: llm.tools.N.tool.json_schema
        if k.startswith("llm.tools.") and k.endswith(".json_schema"):
            schema = content.maybe_json(v)
            if isinstance(schema, dict):
                fn = schema.get("function") if isinstance(schema.get("function"), dict) else schema
                if fn.get("name"):
                    names.append(str(fn["name"]))
    return list(dict.fromkeys(names))


def _msg(kind, role, text, sha, tokens, tools, finish) -> dict:
    return {
        "kind": kind,
        "role": role,
        "text": text,
        "sha256": sha,
        "tokens": None if tokens is None or pd.isna(tokens) else int(tokens),
        "tool_calls": tools if isinstance(tools, list) else [],
        "finish_reason": finish,
    }


def _json(v: Any) -> Any:
    if v is None or isinstance(v, (dict, list)):
        return v
    try:
        return json.loads(v)
    except (TypeError, ValueError):
        return None
