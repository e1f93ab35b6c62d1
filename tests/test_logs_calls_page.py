"""The Calls page drill-down: the selected call's messages (from its GenAI log events, shown as
literal text), its tools, and which source gave its tokens."""

from __future__ import annotations

from apptest_helpers import ok, page
from genai_payloads import call_ids, logs_request, secret_text, spans_request
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from llmledger.reads import messages as rm
from llmledger.store.db import connect
from llmledger.telemetry import loader, otlp

HOSTILE = "<script>alert(1)</script> **bold** [link](http://x.test) $x$"


def build(db_path, hostile: bool = False) -> list[tuple[str, str]]:
    keys = call_ids(2, 41)
    logs = ExportLogsServiceRequest.FromString(logs_request(keys, usage_on_event=True))
    if hostile:
        rec = logs.resource_logs[0].scope_logs[0].log_records[1]  # the first call's user message
        rec.body.kvlist_value.values[0].value.string_value = HOSTILE
    con = connect(db_path)
    loader.load(con, otlp.decode_file_bytes("s.pb", spans_request(keys[:1]) + b""), "s1", "t")
    loader.load(con, otlp.decode_file_bytes("l.pb", logs.SerializeToString()), "l", "t")
    loader.load(con, otlp.decode_file_bytes("s.pb", spans_request(keys[1:], usage=False)), "s2", "t")
    con.close()
    return keys


def test_reads_give_messages_and_token_source(db_path):
    keys = build(db_path)
    con = connect(db_path)
    try:
        by_span = {r.span_id: r for r in rm.trace_calls(con, keys[1][0]).itertuples()}
        assert by_span[keys[1][1]].token_source == "GenAI event"  # the span had no usage
        assert rm.trace_calls(con, keys[0][0]).iloc[0].token_source == "span attribute"
        detail = rm.call_messages(con, *keys[0])
        assert detail["source"] == "GenAI events"
        assert [(m["role"], m["text"]) for m in detail["messages"]] == [
            ("system", secret_text(keys[0][0], "system")),
            ("user", secret_text(keys[0][0], "user")),
            ("assistant", secret_text(keys[0][0], "answer")),
        ]
    finally:
        con.close()


def test_calls_page_shows_the_messages_as_literal_text(db_path):
    keys = build(db_path, hostile=True)
    at = page("calls.py")
    at.session_state["calls_tab"] = "Top traces"  # lazy tabs: only the open one runs
    ok(at.run())
    trace_box = at.selectbox(key="calls_trace")
    trace_box.set_value(keys[0][0]).run()
    ok(at)
    codes = [c.value for c in at.code]
    assert HOSTILE in codes  # shown whole, as code: never rendered as Markdown or HTML
    assert secret_text(keys[0][0], "answer") in codes
    assert not any("<script>" in m.value for m in at.markdown)
    assert any(m.label == "Token source" and m.value == "span attribute" for m in at.metric)
    at.selectbox(key="calls_trace").set_value(keys[1][0]).run()
    assert any(m.label == "Token source" and m.value == "GenAI event" for m in ok(at).metric)
