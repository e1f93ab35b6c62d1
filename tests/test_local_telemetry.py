"""A lab run's spans go through the real OTel SDK (OTLP/HTTP) into the app's own receiver and
arrive in llm_calls like any other traffic."""

import time

import pytest

from llmledger.local import lab, models, quantize, runner
from llmledger.local.telemetry import PROVIDER, SpanEmitter
from llmledger.telemetry.service import Service

pytestmark = pytest.mark.llama


def test_spans_of_a_run_arrive_in_llm_calls(con, db_path, port, tmp_path):
    service = Service(con, db_path=db_path, port=port, spool_dir=tmp_path / "spool").start()
    emitter = SpanEmitter(service.stats()["endpoint"])
    host = runner.ModelHost()
    try:
        variant = quantize.quantize(models.resolve_model("smollm2"), "Q4_1")
        m = lab.run_matrix(
            host,
            [variant],
            [("capital", "What is the capital of France?")],
            repeats=2,
            max_tokens=6,
            settings=runner.Settings(n_threads=2, n_ctx=256),
            record=lab.Recorder(con.cursor(), emitter),
        )
        assert emitter.flush()
        deadline = time.monotonic() + 30
        rows = []
        while time.monotonic() < deadline and len(rows) < 2:
            service.wait_idle(5)
            rows = (
                con.cursor()
                .execute(
                    "SELECT span_id, provider, operation, request_model, input_tokens, output_tokens, "
                    "usage_source, feature, service, status FROM llm_calls WHERE provider = ? ORDER BY start_time",
                    [PROVIDER],
                )
                .fetchall()
            )
            time.sleep(0.1)
    finally:
        host.close()
        emitter.shutdown()
        service.stop()
    assert len(rows) == 2
    runs = {r["span_id"]: r for r in m.runs}
    for span_id, provider, op, model, inp, out, source, feature, svc, status in rows:
        run = runs[span_id]  # the span id recorded in local_runs is the one that arrived
        assert provider == "llama.cpp" and op == "text_completion"
        assert model == "SmolLM2-135M-Instruct-Q4_1"
        assert (inp, out) == (run["input_tokens"], run["output_tokens"]) and out > 0
        assert source == "reported" and feature == "local-lab" and svc == "llmledger-local-lab"
        assert status == "ok"
    stored = con.execute("SELECT count(*) FROM local_runs WHERE span_id IS NOT NULL").fetchone()[0]
    assert stored == 2


def test_emitter_never_raises_when_nobody_listens(port):
    emitter = SpanEmitter(f"http://127.0.0.1:{port}/v1/traces", timeout_s=0.5)
    run = {
        "started_at_epoch": time.time(),
        "e2e_ms": 5.0,
        "model_name": "m-Q8_0",
        "max_tokens": 4,
        "input_tokens": 3,
        "output_tokens": 4,
        "stop_reason": "length",
        "variant": "Q8_0",
        "run_id": "r",
        "batch_id": "b",
        "ttft_ms": 1.0,
        "gen_tps": 1.0,
        "prompt_tps": 1.0,
        "n_threads": 1,
    }
    trace_id, span_id = emitter.emit(run)
    assert len(trace_id) == 32 and len(span_id) == 16
    emitter.flush(2)  # the export fails (connection refused); the SDK logs it, nothing is raised
    emitter.shutdown()
