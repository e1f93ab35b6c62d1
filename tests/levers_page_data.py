"""A ledger for the What-if page's Levers tab, filled through the real receiver (the
opentelemetry-sdk exporter posting OTLP/HTTP to a Service on a loopback port) under a chosen
content policy: exact and re-spelled repeats, an agent trace repeating a lookup, Claude calls
behind one long system prompt (two of them reporting cache reads), a multi-turn session carrying
its history, and a long-answer feature for output caps."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from llmledger.store.db import connect
from llmledger.telemetry.service import Service

BIG, HAIKU = "gpt-4o", "claude-3-5-haiku-20241022"
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
Q1 = "What is the refund policy for damaged parcels?"
SYSTEM = "You are the Acme support assistant. Be brief, cite the handbook section, never guess.\n" * 60

# (feature, minutes after T0, model, prompt, input tokens, output tokens, trace group, session, cache reads)
CALLS = [
    ("faq", 0, BIG, Q1, 10_000, 1_000, None, None, None),
    ("faq", 10, BIG, Q1, 10_000, 1_000, None, None, None),
    ("faq", 20, BIG, "Where is my parcel?", 10_000, 1_000, None, None, None),
    ("faq", 30, BIG, "  what is the REFUND policy for damaged parcels? ", 10_000, 1_000, None, None, None),
    ("faq", 120, BIG, Q1, 10_000, 1_000, None, None, None),
    ("agent", 200, BIG, "lookup: order 123", 3_000, 100, "A", None, None),
    ("agent", 201, BIG, "plan the reply", 4_000, 500, "A", None, None),
    ("agent", 202, BIG, "lookup: order 123", 3_000, 100, "A", None, None),
    ("agent", 203, BIG, "lookup: order 123", 3_000, 100, "A", None, None),
    ("help", 300, HAIKU, SYSTEM + "Ticket 1: login fails", 1_500, 40, None, None, None),
    ("help", 301, HAIKU, SYSTEM + "Ticket 2: refund late", 1_500, 40, None, None, 1_000),
    ("help", 302, HAIKU, SYSTEM + "Ticket 3: parcel lost", 1_500, 40, None, None, 1_000),
    *[
        ("chat", 400 + i, BIG, f"turn {i}", n_in, n_out, None, "S1", None)
        for i, (n_in, n_out) in enumerate(
            zip([1_000, 1_700, 2_500, 3_100, 3_600, 4_200, 4_900], [500, 600, 400, 300, 350, 400, 300])
        )
    ],
    *[
        ("report", 500 + i, BIG, f"write report {i}", 2_000, n_out, None, None, None)
        for i, n_out in enumerate([300, 800, 2_500, 6_000])
    ],
]


def send_spans(port: int) -> None:
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": "acme"}))
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces", timeout=10))
    )
    tracer = provider.get_tracer("levers-page-test")
    parents = {}
    for feature, minute, model, prompt, n_in, n_out, group, session, cached in CALLS:
        t0 = int((T0 + timedelta(minutes=minute)).timestamp() * 1e9)
        ctx = None
        if group:
            if group not in parents:
                parents[group] = tracer.start_span("agent run", start_time=t0)
            ctx = trace.set_span_in_context(parents[group])
        span = tracer.start_span(f"chat {model}", start_time=t0, context=ctx)
        attrs = {
            "gen_ai.operation.name": "chat",
            "gen_ai.system": "anthropic" if "claude" in model else "openai",
            "gen_ai.request.model": model,
            "gen_ai.response.model": model,
            "gen_ai.usage.input_tokens": n_in,
            "gen_ai.usage.output_tokens": n_out,
            "gen_ai.prompt": prompt,
            "gen_ai.completion": "ok",
            "app.feature": feature,
        }
        if cached is not None:
            attrs["gen_ai.usage.cache_read_input_tokens"] = cached
        for k, v in attrs.items():
            span.set_attribute(k, v)
        if session:
            span.set_attribute("session.id", session)
        span.end(end_time=t0 + 500_000_000)
    for p in parents.values():
        p.end(end_time=int((T0 + timedelta(minutes=210)).timestamp() * 1e9))
    provider.shutdown()


def build(db, tmp, policy: str = "keep") -> None:
    """Fill `db` through the receiver with LLMLEDGER_CONTENT=`policy`."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LLMLEDGER_CONTENT", policy)
        con = connect(db)
        svc = Service(con, db_path=db, port=0, spool_dir=tmp / "spool").start()
        try:
            send_spans(svc.port)
            deadline = time.monotonic() + 60
            while con.execute("SELECT count(*) FROM calls").fetchone()[0] < len(CALLS) and time.monotonic() < deadline:
                assert svc.wait_idle(30)
        finally:
            svc.stop()
    assert con.execute("SELECT count(*) FROM calls").fetchone()[0] == len(CALLS)
    con.close()
