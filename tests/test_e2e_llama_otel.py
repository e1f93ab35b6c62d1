"""End to end with real parts only: llama.cpp serves the shipped SmolLM2, the openai client
instrumented by opentelemetry-instrumentation-openai-v2 exports real GenAI spans over OTLP/HTTP
protobuf to our receiver, and the calls land in `llm_calls` with the tokens the server reported.

Content capture is switched on as a user would; this instrumentation version emits message content
as log events (the Logs API), which this test does not export (tests/test_logs_e2e_llama.py does).
"""

from __future__ import annotations

import pytest
from llama_server import serve_smollm2

pytestmark = pytest.mark.llama


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    with serve_smollm2(tmp_path_factory.mktemp("llama")) as base:
        yield base


def test_instrumented_openai_calls_land_with_reported_usage(llama_server, con, db_path, tmp_path, monkeypatch):
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    import openai
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from llmledger.telemetry.service import Service

    service = Service(con, db_path=db_path, port=0, spool_dir=tmp_path / "spool").start()
    provider = TracerProvider(resource=Resource.create({"service.name": "e2e-llama", "app.feature": "greeting"}))
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=f"http://127.0.0.1:{service.port}/v1/traces", timeout=30))
    )
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        client = openai.OpenAI(base_url=llama_server, api_key="sk-local", timeout=120)
        prompts = ["Say hello in three words.", "Name one colour."]
        usages, response_ids = [], []
        for prompt in prompts:
            resp = client.chat.completions.create(
                model="smollm2", messages=[{"role": "user", "content": prompt}], max_tokens=16, temperature=0
            )
            assert resp.usage.prompt_tokens > 0 and resp.usage.completion_tokens > 0
            usages.append((resp.usage.prompt_tokens, resp.usage.completion_tokens))
            response_ids.append(resp.id)
        assert provider.force_flush(30_000)
        assert service.wait_idle(60)
    finally:
        instrumentor.uninstrument()
        provider.shutdown()
        service.stop()

    rows = (
        con.cursor()
        .execute(
            """SELECT input_tokens, output_tokens, usage_source, request_model, operation, service, feature, status
           FROM llm_calls ORDER BY start_time"""
        )
        .fetchall()
    )
    assert [(r[0], r[1]) for r in rows] == usages
    for r in rows:
        assert r[2:] == ("reported", "smollm2", "chat", "e2e-llama", "greeting", "ok")
    # The raw spans are kept as sent: one CLIENT span per request, carrying the server's response id.
    # (2.3b0 sends message content as OTel log events, not on the span, so it is not in `spans`.)
    spans = (
        con.cursor()
        .execute(
            """SELECT name, kind, attributes->>'$."gen_ai.response.id"', attributes->>'$."server.address"'
           FROM spans ORDER BY start_time"""
        )
        .fetchall()
    )
    assert spans == [("chat smollm2", "CLIENT", rid, "127.0.0.1") for rid in response_ids]
