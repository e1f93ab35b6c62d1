"""GenAI events and call messages: their tables, their load, and their join to calls.

A GenAI log event carries the (trace_id, span_id) of its call. Events and spans travel separately
(two exporters, two requests, any order), so the join is made at each load from whichever side
arrives second, inside the load's transaction:
- the call's missing text is filled from its event messages (under `keep`), so estimates and
  model swaps can count it;
- usage that an event reports fills a call that has none (or only an estimate); the event is
  marked `gave_usage`, which is how the drill-down says where a call's tokens came from;
- under `hash`, a usage-less call gets an estimate from its messages' token counts.

Loads are idempotent: an event whose record_key is stored already adds nothing (anti-join within
the traces' load numbers, as spans do), and its messages come only with a new event.
"""

from __future__ import annotations

import pyarrow as pa

from llmledger.telemetry import content
from llmledger.telemetry.conv_common import InvalidValue, first_int, first_str
from llmledger.telemetry.rows import DEMO_ATTRIBUTE, MESSAGE_COLS, _dumps, message_row

_TS = pa.timestamp("ns", tz="UTC")

EVENT_COLS = (
    "trace_id",
    "span_id",
    "record_key",
    "event_name",
    "time",
    "service",
    "scope_name",
    "request_model",
    "response_model",
    "input_tokens",
    "output_tokens",
    "attributes",
    "is_demo",
    "batch_id",
)
_TYPES = {
    "time": _TS,
    "seq": pa.int64(),
    "tokens": pa.int64(),
    "input_tokens": pa.int64(),
    "output_tokens": pa.int64(),
    "is_demo": pa.bool_(),
}
_IN_KEYS = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
_OUT_KEYS = ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")


def table(cols: tuple, rows: list) -> pa.Table | None:
    if not rows:
        return None
    return pa.table({k: pa.array(list(v), _TYPES.get(k, pa.string())) for k, v in zip(cols, zip(*rows))})


def build(groups, policy: str, rejects: dict | None = None) -> tuple[pa.Table | None, pa.Table | None, dict]:
    """Tables of genai_events and call_messages for (batch_id, log records) groups; the count of
    events per batch. A record whose usage no call can have is rejected with its reason."""
    ev_rows, msg_rows = [], []
    per_batch: dict = {}
    seen: set = set()
    for batch_id, records in groups:
        for r in records:
            if r.record_key in seen:  # the same record twice in one group
                continue
            a = r.attributes
            try:
                n_in, n_out = first_int(a, _IN_KEYS), first_int(a, _OUT_KEYS)
                if isinstance(r.body, dict):  # some emitters put usage in the body
                    n_in = n_in if n_in is not None else first_int(r.body, _IN_KEYS)
                    n_out = n_out if n_out is not None else first_int(r.body, _OUT_KEYS)
            except InvalidValue as exc:
                if rejects is not None:
                    rejects.setdefault(batch_id, []).append(f"log record {r.record_key[:12]}: {exc}")
                continue
            seen.add(r.record_key)
            per_batch[batch_id] = per_batch.get(batch_id, 0) + 1
            model = first_str(a, ("gen_ai.response.model", "gen_ai.request.model"))
            service = r.resource.get("service.name")
            demo = r.resource.get(DEMO_ATTRIBUTE)
            ev_rows.append(
                (
                    r.trace_id,
                    r.span_id,
                    r.record_key,
                    r.event_name,
                    r.time_ns or None,
                    None if service is None else str(service),
                    r.scope_name,
                    first_str(a, ("gen_ai.request.model",)),
                    first_str(a, ("gen_ai.response.model",)),
                    n_in,
                    n_out,
                    _dumps(content.scrub_attributes(a, policy, content.EVENT_CONTENT_KEYS)),
                    demo is True or str(demo).lower() in ("true", "1"),
                    batch_id,
                )
            )
            # seq orders messages of equal time (DuckDB keeps microseconds): the record's place in
            # its request, then the message's place in the record.
            for i, m in enumerate(content.event_messages(r.event_name, r.body, a)):
                seq = r.ordinal * 1000 + i
                msg_rows.append(
                    message_row(
                        r.trace_id, r.span_id, "event", r.record_key, r.time_ns, seq, m, policy, batch_id, model
                    )
                )
    return table(EVENT_COLS, ev_rows), table(MESSAGE_COLS, msg_rows), per_batch


def finish_messages(t: pa.Table | None, policy: str) -> pa.Table | None:
    """Before insert (in the committing process): under hash, count each message's tokens and
    drop its text; the transient model column goes in every case."""
    if t is None:
        return None
    if policy == "hash":
        texts, models = t.column("content").to_pylist(), t.column("model").to_pylist()
        tokens = [content.count_tokens(x, m) if x else None for x, m in zip(texts, models)]
        t = t.set_column(t.schema.get_field_index("tokens"), "tokens", pa.array(tokens, pa.int64()))
        t = t.set_column(t.schema.get_field_index("content"), "content", pa.nulls(t.num_rows, pa.string()))
    elif policy == "drop":
        t = t.set_column(t.schema.get_field_index("content"), "content", pa.nulls(t.num_rows, pa.string()))
    return t.drop_columns(["model"])


INSERT_EVENTS_SQL = """
INSERT INTO genai_events (trace_id, span_id, record_key, event_name, time, service, scope_name,
    request_model, response_model, input_tokens, output_tokens, attributes, is_demo, batch_id, load_seq)
SELECT b.trace_id, b.span_id, b.record_key, b.event_name, b.time, b.service, b.scope_name,
    b.request_model, b.response_model, b.input_tokens, b.output_tokens, b.attributes, b.is_demo, b.batch_id, {seq}
FROM batch_events b ANTI JOIN (SELECT record_key FROM genai_events WHERE load_seq >= {since}) s
    ON s.record_key = b.record_key
RETURNING record_key, batch_id
"""
INSERT_MESSAGES_SQL = """
INSERT INTO call_messages (trace_id, span_id, origin, record_key, time, seq, kind, role, content,
    content_sha256, tokens, tool_calls, finish_reason, batch_id, load_seq)
SELECT m.trace_id, m.span_id, m.origin, m.record_key, m.time, m.seq, m.kind, m.role, m.content,
    m.content_sha256, m.tokens, m.tool_calls, m.finish_reason, m.batch_id, {seq}
FROM batch_messages m SEMI JOIN {new} n ON {on}
"""

#: The event side of the join, for the traces a load touched (`join_traces`): text from the
#: events' messages into calls that have none; reported usage into calls that have none or only
#: an estimate; under hash, estimates from message token counts (event messages when a call has
#: them, else its span's).
_TOUCHED = "SEMI JOIN join_traces USING (trace_id) WHERE load_seq >= {since}"
JOIN_TEXT_SQL = f"""
UPDATE calls SET input_text = coalesce(calls.input_text, m.input_text),
                 output_text = coalesce(calls.output_text, m.output_text)
FROM (
    SELECT trace_id, span_id,
        left(string_agg(content, chr(10) ORDER BY time, seq, record_key) FILTER (WHERE kind <> 'output'), 65536)
            AS input_text,
        left(string_agg(content, chr(10) ORDER BY time, seq, record_key) FILTER (WHERE kind = 'output'), 65536)
            AS output_text
    FROM call_messages {_TOUCHED} AND origin = 'event' AND content IS NOT NULL
    GROUP BY trace_id, span_id
) m
WHERE calls.trace_id = m.trace_id AND calls.span_id = m.span_id AND calls.load_seq >= {{since}}
  AND ((calls.input_text IS NULL AND m.input_text IS NOT NULL)
       OR (calls.output_text IS NULL AND m.output_text IS NOT NULL))
"""
ANY_EVENTS_SQL = f"SELECT 1 FROM genai_events {_TOUCHED} LIMIT 1"
EVENT_USAGE_SQL = f"""
SELECT trace_id, span_id, max(input_tokens) AS n_in, max(output_tokens) AS n_out
FROM genai_events {_TOUCHED} AND (input_tokens IS NOT NULL OR output_tokens IS NOT NULL)
GROUP BY trace_id, span_id
"""
JOIN_USAGE_SQL = """
UPDATE calls SET input_tokens = u.n_in, output_tokens = u.n_out, usage_source = 'reported'
FROM join_usage u
WHERE calls.trace_id = u.trace_id AND calls.span_id = u.span_id AND calls.load_seq >= {since}
  AND calls.usage_source IN ('missing', 'estimated')
RETURNING calls.trace_id, calls.span_id
"""
MARK_USAGE_SQL = """
UPDATE genai_events SET gave_usage = true FROM usage_given g
WHERE genai_events.trace_id = g.trace_id AND genai_events.span_id = g.span_id
  AND genai_events.load_seq >= {since} AND (input_tokens IS NOT NULL OR output_tokens IS NOT NULL)
"""
HASH_ESTIMATE_SQL = f"""
UPDATE calls SET input_tokens = m.n_in, output_tokens = m.n_out, usage_source = 'estimated'
FROM (
    SELECT trace_id, span_id,
        sum(tokens) FILTER (WHERE kind <> 'output') AS n_in, sum(tokens) FILTER (WHERE kind = 'output') AS n_out
    FROM call_messages {_TOUCHED} AND tokens IS NOT NULL
    GROUP BY trace_id, span_id, origin
    QUALIFY origin = min(origin) OVER (PARTITION BY trace_id, span_id)  -- 'event' before 'span'
) m
WHERE calls.trace_id = m.trace_id AND calls.span_id = m.span_id AND calls.load_seq >= {{since}}
  AND calls.usage_source = 'missing' AND calls.input_tokens IS NULL AND calls.output_tokens IS NULL
"""


def insert(cur, event_t, message_t, span_messages_t, new_spans_registered: bool, seq: int, since: int) -> dict:
    """Inside the load's transaction: new events and their messages, and the span messages of the
    new spans (`batch_new` is registered when new_spans_registered). Returns new events by batch."""
    by_batch: dict = {}
    if event_t is not None:
        cur.register("batch_events", event_t)
        try:
            new_t = cur.sql(INSERT_EVENTS_SQL.format(seq=seq, since=since)).to_arrow_table()
        finally:
            cur.unregister("batch_events")
        if new_t.num_rows:
            by_batch = {r["values"]: r["counts"] for r in new_t.column("batch_id").value_counts().to_pylist()}
            if message_t is not None:
                cur.register("batch_messages", message_t)
                cur.register("new_events", new_t)
                try:
                    cur.execute(
                        INSERT_MESSAGES_SQL.format(
                            seq=seq, new="new_events", on="n.record_key = m.record_key AND n.batch_id = m.batch_id"
                        )
                    )
                finally:
                    cur.unregister("new_events")
                    cur.unregister("batch_messages")
    if span_messages_t is not None and new_spans_registered:
        cur.register("batch_messages", span_messages_t)
        try:
            cur.execute(
                INSERT_MESSAGES_SQL.format(
                    seq=seq,
                    new="batch_new",
                    on="n.trace_id = m.trace_id AND n.span_id = m.span_id "
                    "AND n.batch_id IS NOT DISTINCT FROM m.batch_id",
                )
            )
        finally:
            cur.unregister("batch_messages")
    return by_batch


def join_calls(cur, trace_ids: list[str], since: int, policy: str) -> int:
    """The event side of the join for these traces (see the module doc); returns the number of
    calls whose usage an event gave."""
    if not trace_ids:
        return 0
    cur.register("join_traces", pa.table({"trace_id": pa.array(sorted(set(trace_ids)), pa.string())}))
    try:
        s = int(since)
        if policy == "hash":
            cur.execute(HASH_ESTIMATE_SQL.format(since=s))
        # Most loads touch no trace with events (spans without log events): one small probe,
        # and the joins below are skipped.
        if not cur.execute(ANY_EVENTS_SQL.format(since=s)).fetchall():
            return 0
        cur.execute(JOIN_TEXT_SQL.format(since=s))
        usage = cur.sql(EVENT_USAGE_SQL.format(since=s)).to_arrow_table()
        given = 0
        if usage.num_rows:
            cur.register("join_usage", usage)
            try:
                done = cur.sql(JOIN_USAGE_SQL.format(since=s)).to_arrow_table()
            finally:
                cur.unregister("join_usage")
            given = done.num_rows
            if given:
                cur.register("usage_given", done)
                try:
                    cur.execute(MARK_USAGE_SQL.format(since=s))
                finally:
                    cur.unregister("usage_given")
        return given
    finally:
        cur.unregister("join_traces")
