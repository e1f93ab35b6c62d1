"""The levers on calls that came in as real OTLP spans (the opentelemetry-sdk exporter posting to
the real receiver, content kept): known repeats, a shared system prompt, an agent trace with
repeated calls and a multi-turn session, with hit rates and savings worked out by hand from the
sheet's prices; `whatif cache|agent-cache|prompt-cache|memory|batch|caps` from the CLI, and bad
input refused with one line."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from helpers import cli, one_line_error
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmledger.errors import LedgerError, SimulationError
from llmledger.pricing.engine import Usage, cost_of_usage
from llmledger.pricing.matching import Matcher
from llmledger.pricing.sheets import load_sheet
from llmledger.reads import levers as reads
from llmledger.simulate.levers.ledger import apply_lever
from llmledger.store.db import connect
from llmledger.telemetry.service import Service

MINI, HAIKU = "gpt-4o-mini", "claude-3-5-haiku-20241022"
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
Q1 = "What is the refund policy?"
SYSTEM = "You are the Acme support assistant. Be brief, cite the handbook section, never guess.\n" * 60

# (feature, minutes after T0, model, prompt, input tokens, output tokens, trace group, session)
CALLS = [
    # faq: Q1 at 0, 10 and 120 min; another question at 20; Q1 re-spelled at 30
    ("faq", 0, MINI, Q1, 100, 20, None, None),
    ("faq", 10, MINI, Q1, 100, 20, None, None),
    ("faq", 20, MINI, "Where is my parcel?", 100, 20, None, None),
    ("faq", 30, MINI, "  what is the REFUND policy? ", 100, 20, None, None),
    ("faq", 120, MINI, Q1, 100, 20, None, None),
    # agent: one trace asks the same lookup three times
    ("agent", 200, MINI, "lookup: order 123", 300, 10, "A", None),
    ("agent", 201, MINI, "plan the reply", 400, 50, "A", None),
    ("agent", 202, MINI, "lookup: order 123", 300, 10, "A", None),
    ("agent", 203, MINI, "lookup: order 123", 300, 10, "A", None),
    # help: three Haiku calls a minute apart behind one long system prompt
    ("help", 300, HAIKU, SYSTEM + "Ticket 1: login fails", 1500, 40, None, None),
    ("help", 301, HAIKU, SYSTEM + "Ticket 2: refund late", 1500, 40, None, None),
    ("help", 302, HAIKU, SYSTEM + "Ticket 3: parcel lost", 1500, 40, None, None),
    # chat: one session of five turns carrying its whole history (each turn +20 tokens)
    *[
        ("chat", 400 + i, MINI, f"turn {i}", n_in, n_out, None, "S1")
        for i, (n_in, n_out) in enumerate(zip([100, 170, 250, 310, 360], [50, 60, 40, 30, 35]))
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
    tracer = provider.get_tracer("levers-test")
    parents = {}
    for feature, minute, model, prompt, n_in, n_out, group, session in CALLS:
        t0 = int((T0 + timedelta(minutes=minute)).timestamp() * 1e9)
        ctx = None
        if group:
            if group not in parents:
                parents[group] = tracer.start_span("agent run", start_time=t0)
            ctx = trace.set_span_in_context(parents[group])
        span = tracer.start_span(f"chat {model}", start_time=t0, context=ctx)
        for k, v in {
            "gen_ai.operation.name": "chat",
            "gen_ai.system": "anthropic" if "claude" in model else "openai",
            "gen_ai.request.model": model,
            "gen_ai.response.model": model,
            "gen_ai.usage.input_tokens": n_in,
            "gen_ai.usage.output_tokens": n_out,
            "gen_ai.prompt": prompt,
            "gen_ai.completion": "ok",
            "app.feature": feature,
        }.items():
            span.set_attribute(k, v)
        if session:
            span.set_attribute("session.id", session)
        span.end(end_time=t0 + 500_000_000)
    for p in parents.values():
        p.end(end_time=int((T0 + timedelta(minutes=210)).timestamp() * 1e9))
    provider.shutdown()


@pytest.fixture(scope="module")
def ledger(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("levers")
    db = tmp / "ledger.duckdb"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LLMLEDGER_CONTENT", "keep")
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
    return db


@pytest.fixture
def con(ledger):
    c = connect(ledger)
    yield c
    c.close()


def unit(con, model, n_in, n_out, **kw) -> float:
    sheet = load_sheet(con, "litellm")
    entry = Matcher(sheet).entry[Matcher(sheet).resolve(model).model_id]
    return float(cost_of_usage(entry, Usage(input_tokens=n_in, output_tokens=n_out, **kw)).total)


def test_read_side_gives_the_levers_their_frame(con):
    lc = reads.lever_calls(con, "faq", 30)
    assert len(lc.calls) == 5 and lc.with_text == 5 and lc.sheet == "litellm"
    assert lc.calls["input_text"].tolist()[0] == Q1
    assert lc.calls["cost_usd"].sum() == pytest.approx(5 * unit(con, MINI, 100, 20), abs=1e-9)
    everything = reads.lever_calls(con, None, 30)
    assert len(everything.calls) == len(CALLS)
    prices = reads.lever_prices(con, "litellm", [MINI, HAIKU])
    assert prices[MINI]["batch_input"] == pytest.approx(prices[MINI]["input"] / 2)
    assert prices[HAIKU]["cache_read"] < prices[HAIKU]["input"]


def test_response_cache_on_received_spans(con):
    c = unit(con, MINI, 100, 20)
    exact = apply_lever(con, "cache", "faq", ttl_s=3600).result
    # Q1 misses at 0, hits at 10 min, misses at 120 (entry expired at 60); the others are new
    assert exact.metrics["hits"] == 1 and exact.saving_usd == pytest.approx(c, abs=1e-9)
    norm = apply_lever(con, "cache", "faq", ttl_s=3600, mode="normalised").result
    assert norm.metrics["hits"] == 2 and norm.saving_usd == pytest.approx(2 * c, abs=1e-9)


def test_agent_cache_on_a_received_trace(con):
    r = apply_lever(con, "agent-cache", "agent").result
    assert r.metrics["hits"] == 2 and r.metrics["traces_with_repeats"] == 1
    assert r.saving_usd == pytest.approx(2 * unit(con, MINI, 300, 10), abs=1e-9)


def test_prompt_cache_on_a_shared_system_prompt(con):
    from llmledger import tokens

    r = apply_lever(con, "prompt-cache", "help", lifetime="5m", min_prefix=1024)
    m = r.result.metrics
    shared = tokens.get(m["tokenizers"][HAIKU]).count(SYSTEM)
    assert shared >= 1024 and m["hit_calls"] == 2
    assert shared <= m["read_tokens"] / 2 <= shared + 8  # the prompt plus the shared 'Ticket '
    # by hand: reads at the sheet's cache-read price, the one write at its 5-minute write price
    read, write = m["read_tokens"], m["write_tokens"]
    expect = 3 * unit(con, HAIKU, 1500, 40) - (
        unit(con, HAIKU, 1500, 40, cache_read_tokens=read // 2) * 2
        + unit(con, HAIKU, 1500, 40, cache_write_tokens=write)
    )
    assert r.result.saving_usd == pytest.approx(expect, abs=2e-9)


def test_memory_on_a_received_session(con):
    r = apply_lever(con, "memory", "chat", k=2, strategy="window").result
    assert r.metrics["sessions"] == 1 and r.metrics["input_tokens_saved"] == 180
    assert r.saving_usd == pytest.approx(unit(con, MINI, 180, 0), abs=1e-9)


def test_memory_summary_model_need_not_be_in_the_traffic(con):
    """The summaries written by a model the feature never called: priced from the sheet."""
    calls = {r[0] for r in con.execute("SELECT DISTINCT request_model FROM llm_calls").fetchall()}
    assert "gpt-4o" not in calls
    r = apply_lever(con, "memory", "chat", k=2, strategy="summary", summary_model="gpt-4o").result
    plain = apply_lever(con, "memory", "chat", k=2, strategy="summary").result
    assert r.metrics["sessions"] == 1
    assert r.whatif_usd > plain.whatif_usd  # gpt-4o writes dearer summaries than the session's own model
    assert any("gpt-4o" in a for a in r.assumptions)
    with pytest.raises(SimulationError, match="no price"):
        apply_lever(con, "memory", "chat", k=2, strategy="summary", summary_model="no-such-model-x")


def test_cli_levers_print_baseline_whatif_saving_and_assumptions(ledger):
    p = cli("whatif", "cache", "--feature", "faq", "--mode", "normalised", "--ttl", "3600", "--json", db=ledger)
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert d["metrics"]["hits"] == 2 and d["baseline_usd"] > d["whatif_usd"]
    assert d["saving_usd"] == pytest.approx(d["baseline_usd"] - d["whatif_usd"], abs=1e-9)
    assert d["assumptions"] and d["monthly_saving_usd"] > 0
    text = cli("whatif", "batch", "--tolerant", "faq,agent", db=ledger)
    assert text.returncode == 0, text.stderr
    assert "baseline" in text.stdout and "saving" in text.stdout and "rests on:" in text.stdout
    for args in (
        ["memory", "--feature", "chat", "--k", "2"],
        ["prompt-cache", "--lifetime", "1h"],
        ["caps"],
        ["compress", "--feature", "faq", "--sample", "2"],
    ):
        q = cli("whatif", *args, "--json", db=ledger)
        assert q.returncode == 0, q.stderr
        assert set(json.loads(q.stdout)) >= {"baseline_usd", "whatif_usd", "saving_usd", "assumptions"}


def test_cli_batch_by_rule(ledger):
    """`--where model=...`: the gpt-4o-mini calls move at its batch price (half), the Haiku ones stay."""
    p = cli("whatif", "batch", "--where", f"model={MINI}", "--json", db=ledger)
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    q = cli("whatif", "batch", "--tolerant", "help", "--where", f"model={MINI}", "--json", db=ledger)  # Haiku only
    assert q.returncode == 0, q.stderr
    both = json.loads(q.stdout)
    c = connect(ledger)
    try:
        mini = [(n_in, n_out) for _, _, model, _, n_in, n_out, _, _ in CALLS if model == MINI]
        half = sum(unit(c, MINI, n_in, n_out) for n_in, n_out in mini) / 2
    finally:
        c.close()
    assert d["metrics"]["chosen_calls"] == len(mini) == d["metrics"]["moved_calls"]
    assert d["saving_usd"] == pytest.approx(half, rel=1e-6)
    assert both["metrics"]["chosen_calls"] == 0 and both["saving_usd"] == 0


@pytest.mark.parametrize(
    "args, words",
    [
        (["batch", "--where", "team=growth"], "batch rule key 'team' is unknown"),
        (["batch", "--where", "hour=9"], "range of UTC hours"),
        (["cache", "--feature", "nope"], "no calls"),
        (["cache", "--ttl", "soon"], "--ttl must be a number"),
        (["cache", "--ttl", "-5"], "TTL"),
        (["memory", "--k", "0"], "window k"),
        (["prompt-cache", "--min-prefix", "1.5"], "--min-prefix must be a whole number"),
        (["batch", "--tolerant", "ghost"], "no calls of feature"),
        (["cache", "--days", "0"], "days"),
    ],
)
def test_cli_bad_input_is_one_line(ledger, args, words):
    line = one_line_error(cli("whatif", *args, db=ledger))
    assert words in line


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    feature=st.one_of(st.none(), st.sampled_from(["faq", "agent", "chat", "help"]), st.text(max_size=8)),
    days=st.one_of(st.floats(allow_nan=True), st.integers(-3, 5000), st.text(max_size=4)),
    ttl=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 10**6)),
)
def test_apply_lever_accepts_or_names_the_problem(con, feature, days, ttl):
    try:
        r = apply_lever(con, "cache", feature, days=days, ttl_s=ttl)
    except LedgerError as exc:
        assert exc.msg and any(w in exc.msg for w in ("days", "TTL", "feature", "calls")), exc.msg
        return
    assert 0 <= r.result.whatif_usd <= r.result.baseline_usd + 1e-12


def test_savings_in_sequence_count_each_saving_once(ledger):
    from llmledger.simulate.levers.ledger import savings_summary

    con = connect(ledger)
    try:
        d = savings_summary(con, None, 30, steps=("cache", "agent-cache", "batch"))
        c_faq, c_agent = unit(con, MINI, 100, 20), unit(con, MINI, 300, 10)
    finally:
        con.close()
    # the response cache (exact, 1 h) already answers the agent's two repeated lookups, so the
    # agent-call cache, applied after it, finds nothing left to save
    first, second, third = d["steps"]
    assert first["saving_usd"] == pytest.approx(c_faq + 2 * c_agent, abs=1e-9)
    assert second["saving_usd"] == 0 and second["calls_after"] == first["calls_after"] == len(CALLS) - 3
    assert sum(s["saving_usd"] for s in d["steps"]) == pytest.approx(d["saving_usd"], abs=1e-8)
    assert d["baseline_usd"] - d["final_usd"] == pytest.approx(d["saving_usd"], abs=1e-8)
    p = cli("whatif", "savings", "--levers", "cache,batch", db=ledger)
    assert p.returncode == 0, p.stderr
    assert "saves" in p.stdout and "rests on:" in p.stdout
    assert "unknown lever" in one_line_error(cli("whatif", "savings", "--levers", "cache,teleport", db=ledger))
