"""OTLP payloads of GenAI calls whose messages travel as log events (the shape that
opentelemetry-instrumentation-openai-v2 exports): a span per call with its usage, and the
gen_ai.system/user/choice events of that call in a separate logs request. Texts are unique per
call (`secret_text`), so a test can search the whole database for them."""

from __future__ import annotations

import random

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

T0 = 1_700_000_000_000_000_000


def call_ids(n: int, seed: int) -> list[tuple[str, str]]:
    rnd = random.Random(seed)
    return [(f"{rnd.getrandbits(128) | 1:032x}", f"{rnd.getrandbits(64) | 1:016x}") for _ in range(n)]


def secret_text(tid: str, role: str) -> str:
    return f"SECRET-{role}-{tid[:12]} the quick brown fox"


def _attr(attrs, key, value) -> None:
    a = attrs.add()
    a.key = key
    if isinstance(value, int):
        a.value.int_value = value
    else:
        a.value.string_value = value


def spans_request(keys, usage: bool = True, text_on_span: bool = False) -> bytes:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    _attr(rs.resource.attributes, "service.name", "chatbot")
    ss = rs.scope_spans.add()
    ss.scope.name = "opentelemetry.instrumentation.openai_v2"
    for i, (tid, sid) in enumerate(keys):
        s = ss.spans.add()
        s.trace_id, s.span_id = bytes.fromhex(tid), bytes.fromhex(sid)
        s.name, s.kind = "chat gpt-4o-mini", 3
        s.start_time_unix_nano, s.end_time_unix_nano = T0 + i * 1000, T0 + i * 1000 + 500_000_000
        for k, v in (
            ("gen_ai.operation.name", "chat"),
            ("gen_ai.system", "openai"),
            ("gen_ai.request.model", "gpt-4o-mini"),
        ):
            _attr(s.attributes, k, v)
        if usage:
            _attr(s.attributes, "gen_ai.usage.input_tokens", 21 + i)
            _attr(s.attributes, "gen_ai.usage.output_tokens", 9)
        if text_on_span:  # the deprecated flattened attributes (OpenLLMetry), for the policy tests
            _attr(s.attributes, "gen_ai.prompt.0.role", "user")
            _attr(s.attributes, "gen_ai.prompt.0.content", secret_text(tid, "span-user"))
            _attr(s.attributes, "gen_ai.completion.0.role", "assistant")
            _attr(s.attributes, "gen_ai.completion.0.content", secret_text(tid, "span-answer"))
    return req.SerializeToString()


def logs_request(keys, usage_on_event: bool = False, other_logs: int = 1, details: bool = False) -> bytes:
    """Per call: system, user and choice events (or one operation.details event), plus
    `other_logs` ordinary log lines that must be counted and dropped."""
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    _attr(rl.resource.attributes, "service.name", "chatbot")
    sl = rl.scope_logs.add()
    sl.scope.name = "opentelemetry.instrumentation.openai_v2"
    for i, (tid, sid) in enumerate(keys):
        t = T0 + i * 1000
        if details:
            r = sl.log_records.add()
            r.time_unix_nano, r.trace_id, r.span_id = t + 1, bytes.fromhex(tid), bytes.fromhex(sid)
            r.event_name = "gen_ai.client.inference.operation.details"
            _attr(r.attributes, "gen_ai.request.model", "gpt-4o-mini")
            msgs = r.attributes.add()
            msgs.key = "gen_ai.input.messages"
            m = msgs.value.array_value.values.add().kvlist_value
            _kv(m, "role", "user")
            part = _kv_list(m, "parts").values.add().kvlist_value
            _kv(part, "type", "text")
            _kv(part, "content", secret_text(tid, "user"))
            out = r.attributes.add()
            out.key = "gen_ai.output.messages"
            m = out.value.array_value.values.add().kvlist_value
            _kv(m, "role", "assistant")
            _kv(m, "finish_reason", "stop")
            part = _kv_list(m, "parts").values.add().kvlist_value
            _kv(part, "type", "text")
            _kv(part, "content", secret_text(tid, "answer"))
            if usage_on_event:
                _attr(r.attributes, "gen_ai.usage.input_tokens", 31 + i)
                _attr(r.attributes, "gen_ai.usage.output_tokens", 11)
        else:
            for j, (name, role) in enumerate(
                (("gen_ai.system.message", "system"), ("gen_ai.user.message", "user"), ("gen_ai.choice", "answer"))
            ):
                r = sl.log_records.add()
                r.time_unix_nano, r.trace_id, r.span_id = t + j, bytes.fromhex(tid), bytes.fromhex(sid)
                r.event_name = name
                _attr(r.attributes, "gen_ai.system", "openai")
                body = r.body.kvlist_value
                if name == "gen_ai.choice":
                    _kv(body, "finish_reason", "stop")
                    _kv(body, "index", 0)
                    msg = body.values.add()
                    msg.key = "message"
                    _kv(msg.value.kvlist_value, "role", "assistant")
                    _kv(msg.value.kvlist_value, "content", secret_text(tid, role))
                    if usage_on_event:
                        _attr(r.attributes, "gen_ai.usage.input_tokens", 31 + i)
                        _attr(r.attributes, "gen_ai.usage.output_tokens", 11)
                else:
                    _kv(body, "content", secret_text(tid, role))
    for k in range(other_logs):
        r = sl.log_records.add()
        r.time_unix_nano = T0 + k
        r.severity_text = "INFO"
        r.body.string_value = f"an ordinary log line {k}"
    return req.SerializeToString()


def _kv(kvlist, key, value) -> None:
    kv = kvlist.values.add()
    kv.key = key
    if isinstance(value, int):
        kv.value.int_value = value
    else:
        kv.value.string_value = value


def _kv_list(kvlist, key):
    kv = kvlist.values.add()
    kv.key = key
    return kv.value.array_value


def tables_holding(con, needle: str) -> list[str]:
    """'table.column' for every column of every table whose text holds `needle` (all columns,
    cast to text: JSON, lists and structs included)."""
    found = []
    tables = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' AND NOT temporary"
    ).fetchall()
    for (t,) in tables:
        cols = con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = ? AND schema_name = 'main'", [t]
        ).fetchall()
        for (c,) in cols:
            n = con.execute(
                f'SELECT count(*) FROM "{t}" WHERE CAST("{c}" AS VARCHAR) LIKE ?', [f"%{needle}%"]
            ).fetchone()[0]
            if n:
                found.append(f"{t}.{c}")
    return found
