"""Local runs as OTel GenAI spans, exported with the real SDK over OTLP/HTTP.

Each finished run becomes one span with the run's real start and end times, so nothing is added
to the timed generation itself. Spans are batched and exported on a background thread; a failed
export is logged by the SDK and never raised into the lab (the run is in DuckDB regardless).
"""

from __future__ import annotations

import logging

from llmledger import config

log = logging.getLogger(__name__)

PROVIDER = "llama.cpp"
SERVICE_NAME = "llmledger-local-lab"


def default_endpoint() -> str:
    return f"http://{config.otlp_host()}:{config.otlp_port()}/v1/traces"


class SpanEmitter:
    def __init__(self, endpoint: str | None = None, timeout_s: float = 5.0):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        self.endpoint = endpoint or default_endpoint()
        headers = {"Authorization": f"Bearer {config.otlp_token()}"} if config.otlp_token() else None
        # A provider of our own (not the global one): the lab must not capture the app's spans.
        self.provider = TracerProvider(resource=Resource.create({"service.name": SERVICE_NAME}))
        self.provider.add_span_processor(
            BatchSpanProcessor(
                OTLPSpanExporter(endpoint=self.endpoint, timeout=timeout_s, headers=headers),
                schedule_delay_millis=200,
            )
        )
        self.tracer = self.provider.get_tracer("llmledger.local")

    def emit(self, run: dict) -> tuple[str, str]:
        """One span for one run (a dict as written to local_runs); returns (trace_id, span_id)."""
        from opentelemetry.trace import SpanKind, Status, StatusCode

        start_ns = int(run["started_at_epoch"] * 1e9)
        end_ns = start_ns + int(run["e2e_ms"] * 1e6)
        model = run["model_name"]
        span = self.tracer.start_span(f"text_completion {model}", kind=SpanKind.INTERNAL, start_time=start_ns)
        attrs = {
            "gen_ai.operation.name": "text_completion",
            "gen_ai.provider.name": PROVIDER,
            "gen_ai.request.model": model,
            "gen_ai.response.model": model,
            "gen_ai.request.max_tokens": int(run["max_tokens"]),
            "gen_ai.request.temperature": 0.0,
            "gen_ai.usage.input_tokens": int(run["input_tokens"]),
            "gen_ai.usage.output_tokens": int(run["output_tokens"]),
            "gen_ai.response.finish_reasons": [run["stop_reason"]],
            "app.feature": "local-lab",
            "llmledger.local.variant": run["variant"],
            "llmledger.local.run_id": run["run_id"],
            "llmledger.local.batch_id": run["batch_id"],
            "llmledger.local.ttft_ms": float(run["ttft_ms"]),
            "llmledger.local.gen_tokens_per_s": float(run["gen_tps"]),
            "llmledger.local.prompt_tokens_per_s": float(run["prompt_tps"]),
            "llmledger.local.n_threads": int(run["n_threads"]),
        }
        span.set_attributes(attrs)
        if run["stop_reason"] == "cancelled":
            span.set_status(Status(StatusCode.ERROR, "cancelled"))
        ctx = span.get_span_context()
        span.end(end_time=end_ns)
        return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")

    def flush(self, timeout_s: float = 10.0) -> bool:
        try:
            return self.provider.force_flush(int(timeout_s * 1000))
        except Exception:  # telemetry never breaks the lab
            log.exception("span flush failed")
            return False

    def shutdown(self) -> None:
        try:
            self.provider.shutdown()
        except Exception:
            log.exception("span exporter shutdown failed")
