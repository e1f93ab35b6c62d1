"""End to end, real parts only, spans AND log events: llama.cpp serves the shipped SmolLM2; the
openai client, instrumented by opentelemetry-instrumentation-openai-v2 with content capture on,
exports its spans and its GenAI log events to the real receiver, over OTLP/HTTP protobuf or over
OTLP/gRPC. Each call appears once, with the tokens the server reported and the text of its
messages; under the hash and drop content policies no text is stored anywhere.
"""

from __future__ import annotations

import pytest
from genai_payloads import tables_holding
from llama_server import serve_smollm2

pytestmark = pytest.mark.llama
PROMPTS = ["Say hello in three words.", "Name one colour."]
SYSTEM = "You are terse. Zebra-lantern policy applies."


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    with serve_smollm2(tmp_path_factory.mktemp("llama")) as base:
        yield base


def exporters(transport: str, service):
    if transport == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        endpoint = f"127.0.0.1:{service.grpc_port}"
        return OTLPSpanExporter(endpoint=endpoint, insecure=True), OTLPLogExporter(endpoint=endpoint, insecure=True)
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    base = f"http://127.0.0.1:{service.port}"
    return OTLPSpanExporter(endpoint=f"{base}/v1/traces", timeout=30), OTLPLogExporter(
        endpoint=f"{base}/v1/logs", timeout=30
    )


@pytest.mark.parametrize("transport, policy", [("http", "keep"), ("grpc", "keep"), ("grpc", "hash"), ("http", "drop")])
def test_openai_v2_spans_and_events_land_once(llama_server, con, db_path, tmp_path, monkeypatch, transport, policy):
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    monkeypatch.setenv("LLMLEDGER_CONTENT", policy)
    import openai
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from llmledger.telemetry.service import Service

    service = Service(con, db_path=db_path, port=0, grpc_port=0, spool_dir=tmp_path / "spool").start()
    resource = Resource.create({"service.name": "e2e-llama-logs"})
    span_exporter, log_exporter = exporters(transport, service)
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter))
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(BatchLogRecordProcessor(log_exporter))
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider, logger_provider=logger_provider)
    answers, usages = [], []
    try:
        client = openai.OpenAI(base_url=llama_server, api_key="sk-local", timeout=120)
        for prompt in PROMPTS:
            resp = client.chat.completions.create(
                model="smollm2",
                messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}],
                max_tokens=16,
                temperature=0,
            )
            answers.append(resp.choices[0].message.content)
            usages.append((resp.usage.prompt_tokens, resp.usage.completion_tokens))
        # Logs first, then spans: the join does not care which arrives first.
        assert logger_provider.force_flush(30_000)
        assert tracer_provider.force_flush(30_000)
        assert service.wait_idle(60)
    finally:
        instrumentor.uninstrument()
        tracer_provider.shutdown()
        logger_provider.shutdown()
        service.stop()

    cur = con.cursor()
    rows = cur.execute("SELECT input_tokens, output_tokens, usage_source FROM llm_calls ORDER BY start_time").fetchall()
    assert rows == [(i, o, "reported") for i, o in usages]  # once each, with the server's counts
    assert cur.execute("SELECT count(DISTINCT (trace_id, span_id)) FROM genai_events").fetchone()[0] == 2
    roles = cur.execute("SELECT role, count(*) FROM call_messages GROUP BY 1 ORDER BY 1").fetchall()
    assert roles == [("assistant", 2), ("system", 2), ("user", 2)]
    texts = [SYSTEM, *PROMPTS, *(a for a in answers if a and a.strip())]
    if policy == "keep":
        got = cur.execute("SELECT input_text, output_text FROM calls ORDER BY start_time").fetchall()
        for (text_in, text_out), prompt, answer in zip(got, PROMPTS, answers):
            assert text_in == f"{SYSTEM}\n{prompt}"
            assert text_out == answer
    else:
        for t in texts:
            assert tables_holding(cur, t) == [], t
        assert tables_holding(cur, "Zebra-lantern") == []
        n_hashes, n_tokens = cur.execute("SELECT count(content_sha256), count(tokens) FROM call_messages").fetchone()
        assert (n_hashes > 0) == (policy == "hash") and (n_tokens > 0) == (policy == "hash")
