"""Exact-repeat levers under the `hash` content policy: the same traffic sent twice through the real
receiver (spans from the opentelemetry-sdk exporter, the messages as GenAI log events from its
log exporter), once under `keep` and once under `hash`. Under hash no text is stored, only a
digest per message, and the exact response cache and the agent-call cache find the same hits on
the digests as on the text; the semantic cache, which needs the text, says so. Under keep the
semantic cache runs from the CLI (`whatif cache --semantic`) on the received text.

Traffic (feature faq, one model, TTL 1 h), hits worked out by hand:
    0 min  Q1  miss (writes an entry that lives to 60 min)
   10 min  Q1  hit
   20 min  Q2  miss (entry to 80 min)
   30 min  Q1  hit
   50 min  Q2  hit
   55 min  Q3  miss
  120 min  Q1  miss (the 0-min entry expired at 60)
   => 3 hits of 7; plus an agent trace asking one lookup three times (2 agent-cache hits).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from helpers import cli, one_line_error

from llmledger.errors import SimulationError
from llmledger.reads import levers as reads
from llmledger.simulate.levers.ledger import apply_lever
from llmledger.store.db import connect
from llmledger.telemetry.service import Service

MINI = "gpt-4o-mini"
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
SYS = "You are Acme's helpdesk. Answer in one sentence."
Q1, Q2, Q3 = "How do I reset my password?", "Where is my parcel?", "Can I pay by invoice?"
A1, A2, A3 = "Use the reset link on the login page.", "It is in transit.", "Yes, on orders over $100."
# (minute, system, question, answer, trace group)
TRAFFIC = [
    (0, SYS, Q1, A1, None),
    (10, SYS, Q1, A1, None),
    (20, SYS, Q2, A2, None),
    (30, SYS, Q1, A1, None),
    (50, SYS, Q2, A2, None),
    (55, SYS, Q3, A3, None),
    (120, SYS, Q1, A1, None),
    (200, SYS, "lookup: order 123", "order 123: shipped", "A"),
    (201, SYS, "plan the reply", "reply plan", "A"),
    (202, SYS, "lookup: order 123", "order 123: shipped", "A"),
    (203, SYS, "lookup: order 123", "order 123: shipped", "A"),
    # a paraphrase of Q1 (for the semantic cache under keep): 1 min after Q1 at 120
    (121, SYS, "how can I reset my password", A1, None),
]


def send(port: int) -> None:
    from opentelemetry import trace
    from opentelemetry._logs import LogRecord
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({"service.name": "acme"})
    tp = TracerProvider(resource=resource)
    tp.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces")))
    lp = LoggerProvider(resource=resource)
    lp.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter(endpoint=f"http://127.0.0.1:{port}/v1/logs")))
    tracer, logger = tp.get_tracer("levers-content"), lp.get_logger("levers-content")
    parents = {}
    for minute, system, question, answer, group in TRAFFIC:
        t = int((T0 + timedelta(minutes=minute)).timestamp() * 1e9)
        ctx = None
        if group:
            parents.setdefault(group, tracer.start_span("agent run", start_time=t))
            ctx = trace.set_span_in_context(parents[group])
        span = tracer.start_span(f"chat {MINI}", start_time=t, context=ctx)
        for k, v in {
            "gen_ai.operation.name": "chat",
            "gen_ai.system": "openai",
            "gen_ai.request.model": MINI,
            "gen_ai.response.model": MINI,
            "gen_ai.usage.input_tokens": 40,
            "gen_ai.usage.output_tokens": 12,
            "app.feature": "agent" if group else "faq",
        }.items():
            span.set_attribute(k, v)
        sc = span.get_span_context()
        for j, (name, body) in enumerate(
            (
                ("gen_ai.system.message", {"content": system}),
                ("gen_ai.user.message", {"content": question}),
                (
                    "gen_ai.choice",
                    {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": answer}},
                ),
            )
        ):
            logger.emit(
                LogRecord(
                    timestamp=t + j,
                    trace_id=sc.trace_id,
                    span_id=sc.span_id,
                    trace_flags=sc.trace_flags,
                    event_name=name,
                    body=body,
                    attributes={"gen_ai.system": "openai"},
                )
            )
        span.end(end_time=t + 400_000_000)
    for p in parents.values():
        p.end(end_time=int((T0 + timedelta(minutes=210)).timestamp() * 1e9))
    assert lp.force_flush(30_000) and tp.force_flush(30_000)
    lp.shutdown()
    tp.shutdown()


def make_ledger(tmp, policy: str):
    db = tmp / f"{policy}.duckdb"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LLMLEDGER_CONTENT", policy)
        con = connect(db)
        svc = Service(con, db_path=db, port=0, spool_dir=tmp / f"spool-{policy}").start()
        try:
            send(svc.port)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                assert svc.wait_idle(30)
                n_calls = con.execute("SELECT count(*) FROM calls").fetchone()[0]
                n_events = con.execute("SELECT count(*) FROM genai_events").fetchone()[0]
                if n_calls == len(TRAFFIC) and n_events == 3 * len(TRAFFIC):
                    break
                time.sleep(0.2)
        finally:
            svc.stop()
    con.close()
    return db


@pytest.fixture(scope="module")
def ledgers(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("levers-content")
    return {p: make_ledger(tmp, p) for p in ("keep", "hash")}


def test_hash_keeps_no_text_but_a_digest_per_call(ledgers):
    keep, hashed = connect(ledgers["keep"]), connect(ledgers["hash"])
    try:
        k, h = reads.lever_calls(keep, "faq", 30), reads.lever_calls(hashed, "faq", 30)
    finally:
        keep.close()
        hashed.close()
    assert len(k.calls) == len(h.calls) == 8
    assert k.with_text == 8 and k.calls["input_text"].iloc[0] == f"{SYS}\n{Q1}"
    assert h.with_text == 0 and h.with_digest == 8
    # the same messages, the same digest; other messages, another digest
    d = h.calls.sort_values("time")["input_hash"].tolist()
    assert d[0] == d[1] == d[3] and d[2] == d[4] and d[5] != d[0] and d[0] != d[2]


@pytest.mark.parametrize("lever, feature, hits", [("cache", "faq", 3), ("agent-cache", "agent", 2)])
def test_exact_repeat_levers_find_the_same_hits_on_digests(ledgers, lever, feature, hits):
    out = {}
    for policy, db in ledgers.items():
        con = connect(db)
        try:
            out[policy] = (
                apply_lever(con, lever, feature, ttl_s=3600) if lever == "cache" else apply_lever(con, lever, feature)
            )
        finally:
            con.close()
    keep, hashed = out["keep"].result, out["hash"].result
    assert keep.metrics["hits"] == hashed.metrics["hits"] == hits
    assert keep.metrics["hit_rate"] == hashed.metrics["hit_rate"]
    assert keep.metrics["cacheable_calls"] == hashed.metrics["cacheable_calls"]
    assert keep.saving_usd == pytest.approx(hashed.saving_usd, abs=1e-12) and keep.saving_usd > 0


def test_semantic_cache_needs_the_text(ledgers):
    con = connect(ledgers["hash"])
    try:
        with pytest.raises(SimulationError, match="needs the prompts' text"):
            apply_lever(con, "semantic", "faq")
    finally:
        con.close()
    line = one_line_error(cli("whatif", "cache", "--semantic", "--feature", "faq", db=ledgers["hash"]))
    assert "content policy keep" in line


def test_cli_semantic_cache_on_received_text(ledgers):
    p = cli("whatif", "cache", "--semantic", "--threshold", "0.9", "--feature", "faq", "--json", db=ledgers["keep"])
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    # the exact repeats (3, as above; Q1 at 120 has no call in the hour before it that is like
    # it) plus the paraphrase at 121, 1 min after Q1 at 120; the shared system prompt is left
    # out of the embeddings, so the questions alone are compared
    assert d["metrics"]["hits"] == 4 and d["metrics"]["hits_beyond_exact"] == 1
    assert d["metrics"]["false_hits"] == 0 and d["metrics"]["threshold"] == 0.9
    sweep = d["tables"]["sweep"]
    assert [r["threshold"] for r in sweep] == sorted(r["threshold"] for r in sweep)
    assert sweep[-1]["threshold"] == 1.0 and sweep[-1]["hits"] == 3
    assert d["saving_usd"] == pytest.approx(d["baseline_usd"] / 8 * 4, abs=1e-9)
    text = cli("whatif", "cache", "--semantic", "--feature", "faq", db=ledgers["keep"])
    assert text.returncode == 0, text.stderr
    assert "threshold sweep" in text.stdout and "rests on:" in text.stdout and "all-MiniLM-L6-v2" in text.stdout


@pytest.mark.parametrize(
    "args, words",
    [
        (["--semantic", "--threshold", "1.5"], "at most 1"),
        (["--semantic", "--threshold", "high"], "--threshold must be a number"),
        (["--threshold", "0.9"], "--threshold needs --semantic"),
        (["--semantic", "--mode", "normalised"], "--mode is for the exact or normalised cache"),
        (["--semantic", "--ttl", "0"], "TTL"),
    ],
)
def test_cli_semantic_bad_input_is_one_line(ledgers, args, words):
    assert words in one_line_error(cli("whatif", "cache", "--feature", "faq", *args, db=ledgers["keep"]))


def test_semantic_after_the_exact_cache_saves_only_the_paraphrase(ledgers):
    p = cli("whatif", "savings", "--feature", "faq", "--levers", "cache,semantic", "--json", db=ledgers["keep"])
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    one_call = d["baseline_usd"] / 8  # every faq call has the same usage and price
    exact, semantic = d["steps"]
    # the exact cache answers the repeats at 10, 30 and 50 min; of what is left, only the
    # paraphrase at 121 min is like a call in the hour before it (Q1 at 120)
    assert exact["saving_usd"] == pytest.approx(3 * one_call, abs=1e-9)
    assert semantic["saving_usd"] == pytest.approx(one_call, abs=1e-9) and semantic["calls_after"] == 4
