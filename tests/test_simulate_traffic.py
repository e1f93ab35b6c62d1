"""`whatif traffic`: a router or cascade applied to calls that came in as real OTLP spans (the
opentelemetry-sdk exporter posting to the real receiver), checked against costs worked out by
hand from the sheet's prices; bad input gets a named reason (also as hypothesis properties);
scenarios saved and projected onto a plan."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from helpers import cli, one_line_error
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmledger.errors import LedgerError, SimulationError
from llmledger.pricing.engine import Usage, cost_of_usage
from llmledger.pricing.matching import Matcher
from llmledger.pricing.sheets import load_sheet
from llmledger.simulate import scenarios, traffic
from llmledger.store.db import connect
from llmledger.telemetry.service import Service

STRONG, WEAK, CLAUDE = "gpt-4o", "gpt-4o-mini", "claude-3-5-haiku-20241022"
NOW = datetime.now(UTC).replace(microsecond=0)
# feature -> [(model, input tokens, output tokens, duration ms, prompt, completion)]
PROMPT = "Summarise this support ticket: the customer cannot log in since the update to 4.2."
COMPLETION = "The customer is locked out after upgrading to version 4.2; suggest a password reset."
CALLS = {
    "support": [(STRONG, 1000, 200, 2000.0, None, None)] * 20 + [(WEAK, 500, 100, 800.0, None, None)] * 10,
    "drafts": [(STRONG, 40, 30, 1500.0, PROMPT, COMPLETION)] * 3,
    "silent": [(STRONG, None, None, 900.0, None, None)] * 2,
}
HOURS_APART = 6


def send_spans(port: int) -> None:
    """Every call of CALLS as a GenAI span, 6 hours apart, through the real OTLP/HTTP exporter."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": "helpdesk"}))
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces", timeout=10))
    )
    tracer = provider.get_tracer("whatif-test")
    for feature, calls in CALLS.items():
        for i, (model, n_in, n_out, ms, prompt, completion) in enumerate(calls):
            start = NOW - timedelta(hours=HOURS_APART * i)
            t0 = int(start.timestamp() * 1e9)
            span = tracer.start_span(f"chat {model}", start_time=t0)
            span.set_attribute("gen_ai.operation.name", "chat")
            span.set_attribute("gen_ai.system", "openai")
            span.set_attribute("gen_ai.request.model", model)
            span.set_attribute("gen_ai.response.model", model)
            if n_in is not None:
                span.set_attribute("gen_ai.usage.input_tokens", n_in)
                span.set_attribute("gen_ai.usage.output_tokens", n_out)
            if prompt:
                span.set_attribute("gen_ai.prompt", prompt)
                span.set_attribute("gen_ai.completion", completion)
            span.set_attribute("app.feature", feature)
            span.end(end_time=t0 + int(ms * 1e6))
    provider.shutdown()


@pytest.fixture(scope="module")
def ledger(tmp_path_factory):
    """A ledger fed through the receiver; yields (connection, db path)."""
    tmp = tmp_path_factory.mktemp("whatif")
    db = tmp / "ledger.duckdb"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LLMLEDGER_CONTENT", "keep")
        con = connect(db)
        svc = Service(con, db_path=db, port=0, spool_dir=tmp / "spool").start()
        try:
            send_spans(svc.port)
            deadline = time.monotonic() + 60
            want = sum(len(c) for c in CALLS.values())
            while con.execute("SELECT count(*) FROM calls").fetchone()[0] < want and time.monotonic() < deadline:
                assert svc.wait_idle(30)
        finally:
            svc.stop()
    assert con.execute("SELECT count(*) FROM calls").fetchone()[0] == want
    yield con, db
    con.close()


def unit_cost(con, model: str, n_in: int, n_out: int) -> Decimal:
    sheet = load_sheet(con, "litellm")
    model_id = Matcher(sheet).resolve(model).model_id  # the name as the sheet matches it
    entry = next(m for m in sheet.latest().models if m.model_id == model_id)
    return cost_of_usage(entry, Usage(input_tokens=n_in, output_tokens=n_out)).total


def support_costs(con) -> dict[str, Decimal]:
    """The 'support' feature's cost as recorded and with every call on one model, by hand."""
    return {
        "baseline": 20 * unit_cost(con, STRONG, 1000, 200) + 10 * unit_cost(con, WEAK, 500, 100),
        STRONG: 20 * unit_cost(con, STRONG, 1000, 200) + 10 * unit_cost(con, STRONG, 500, 100),
        WEAK: 20 * unit_cost(con, WEAK, 1000, 200) + 10 * unit_cost(con, WEAK, 500, 100),
    }


def test_router_on_spans_from_the_receiver_matches_costs_by_hand(ledger):
    con, _ = ledger
    r = traffic.apply_to_traffic(con, "support", traffic.router(STRONG, WEAK, 25, 5), days=30)
    c = support_costs(con)
    assert r.calls == 30
    assert r.baseline_usd == c["baseline"]
    assert r.all_to_model_usd == {STRONG: c[STRONG], WEAK: c[WEAK]}
    expect = 0.25 * float(c[STRONG]) + 0.75 * float(c[WEAK])
    assert float(r.policy_usd) == pytest.approx(expect, abs=1e-9)
    assert float(r.policy_low_usd) == pytest.approx(0.20 * float(c[STRONG]) + 0.80 * float(c[WEAK]), abs=1e-9)
    assert float(r.policy_high_usd) == pytest.approx(0.30 * float(c[STRONG]) + 0.70 * float(c[WEAK]), abs=1e-9)
    # 30 calls 6 hours apart: 29 × 6 h of traffic, scaled to 30 days
    days = 29 * HOURS_APART / 24
    assert r.days_covered == pytest.approx(days, abs=1e-3)
    assert float(r.monthly_saving_usd) == pytest.approx((float(c["baseline"]) - expect) * 30 / days, rel=1e-6)
    assert r.monthly_saving_low_usd <= r.monthly_saving_usd <= r.monthly_saving_high_usd
    assert any("span only 7.3 of the 30 days" in n for n in r.notes)  # the extrapolation is said
    # break-even: the strong share at which the router costs what the feature costs today
    p = (float(c["baseline"]) - float(c[WEAK])) / (float(c[STRONG]) - float(c[WEAK]))
    assert r.break_even["what"] == "strong share" and r.break_even["rate"] == pytest.approx(p)
    # latency: each model's measured mean in the ledger, weighted like the cost
    assert r.latency.per_model[STRONG]["mean_ms"] == pytest.approx((20 * 2000 + 3 * 1500 + 2 * 900) / 25)
    assert r.latency.per_model[WEAK]["mean_ms"] == pytest.approx(800)
    assert "measured in your traffic" in r.latency.per_model[STRONG]["source"]
    lat_s, lat_w = r.latency.per_model[STRONG]["mean_ms"], 800
    assert r.latency.policy_ms == pytest.approx(0.25 * lat_s + 0.75 * lat_w)
    assert r.latency.baseline_ms == pytest.approx((20 * 2000 + 10 * 800) / 30)
    assert r.rates[f"share to {STRONG}"]["source"] == traffic.ASSUMED
    assert "measured in your traffic" in r.rests_on["baseline"]


def test_cascade_pays_tier_one_for_every_call_and_escalates_the_rest(ledger):
    con, _ = ledger
    r = traffic.apply_to_traffic(con, "support", traffic.cascade([WEAK, STRONG], [0.6]), days=30)
    c = support_costs(con)
    cw, cs = float(c[WEAK]), float(c[STRONG])
    assert float(r.policy_usd) == pytest.approx(cw + 0.4 * cs, abs=1e-9)
    assert r.policy_low_usd == r.policy_usd == r.policy_high_usd  # no ± typed: no band
    assert r.break_even["what"] == "escalation rate"
    assert r.break_even["rate"] == pytest.approx(1 - cw / cs)  # C(weak) + e·C(strong) = C(strong)
    assert r.break_even["current"] == pytest.approx(0.4)
    lat_s = r.latency.per_model[STRONG]["mean_ms"]
    assert r.latency.policy_ms == pytest.approx(800 + 0.4 * lat_s)  # the escalated calls wait for both


def test_three_tiers_and_rates_measured_on_counts(ledger):
    con, _ = ledger
    rates = [traffic.Rate.from_counts(600, 1000, "a dataset"), traffic.Rate.from_counts(50, 100, "a dataset")]
    assert rates[0].low < 0.6 < rates[0].high and rates[1].high - rates[1].low > rates[0].high - rates[0].low
    r = traffic.apply_to_traffic(con, "support", traffic.cascade([WEAK, CLAUDE, STRONG], rates))
    C = {m: float(v) for m, v in r.all_to_model_usd.items()}
    assert float(r.policy_usd) == pytest.approx(C[WEAK] + 0.4 * C[CLAUDE] + 0.4 * 0.5 * C[STRONG], abs=1e-9)
    hi = C[WEAK] + (1 - rates[0].low) * C[CLAUDE] + (1 - rates[0].low) * (1 - rates[1].low) * C[STRONG]
    assert float(r.policy_high_usd) == pytest.approx(hi, abs=1e-9)
    assert "600 of 1,000" in r.rates[f"{WEAK} accepts"]["source"]
    # no calls of the Claude model anywhere and no Local lab runs: its latency is unknown, and said so
    assert r.latency.policy_ms is None and any(CLAUDE in n for n in r.notes)
    sens = traffic.sensitivity(r, traffic.cascade([WEAK, CLAUDE, STRONG], rates))
    assert sens["monthly_policy_usd"].is_monotonic_increasing  # escalating more costs more


def test_captured_text_is_recounted_with_each_models_tokenizer(ledger):
    con, _ = ledger
    from llmledger.tokens import count_text

    assert (
        con.execute("SELECT count(*) FROM calls WHERE feature = 'drafts' AND input_text IS NOT NULL").fetchone()[0] == 3
    )
    r = traffic.apply_to_traffic(con, "drafts", traffic.cascade([CLAUDE, STRONG], [0.5]))

    def mapped(text, reported):
        return round(reported * count_text(text, model=CLAUDE).tokens / count_text(text, model=STRONG).tokens)

    n_in, n_out = mapped(PROMPT, 40), mapped(COMPLETION, 30)
    assert (n_in, n_out) != (40, 30)  # the two tokenizers differ on this text
    assert r.all_to_model_usd[CLAUDE] == 3 * unit_cost(con, CLAUDE, n_in, n_out)
    assert r.all_to_model_usd[STRONG] == 3 * unit_cost(con, STRONG, 40, 30)
    assert "3 calls re-counted" in r.rests_on["policy cost"]


def test_the_chosen_sheet_prices_the_policy(ledger):
    """A sheet of one's own: costs by hand from its prices; a model it prices only per request has
    no token price, and says so."""
    from llmledger.pricing.sheets import import_sheet_bytes

    con, _ = ledger
    sheet = (
        b"model,input_per_mtok,output_per_mtok,request_usd\ngpt-4o,2.5,10,\ngpt-4o-mini,0.15,0.6,\nflat-fee,,,0.01\n"
    )
    import_sheet_bytes(con, sheet, "mine.csv", name="mine", effective_from="2020-01-01")
    r = traffic.apply_to_traffic(con, "support", traffic.router(STRONG, WEAK, 50), sheet="mine")
    strong = (20 * (1000 * 2.5 + 200 * 10) + 10 * (500 * 2.5 + 100 * 10)) / 1e6
    weak = (20 * (1000 * 0.15 + 200 * 0.6) + 10 * (500 * 0.15 + 100 * 0.6)) / 1e6
    assert r.sheet == "mine"
    assert float(r.all_to_model_usd[STRONG]) == pytest.approx(strong, abs=1e-9)
    assert float(r.all_to_model_usd[WEAK]) == pytest.approx(weak, abs=1e-9)
    assert float(r.baseline_usd) == pytest.approx(
        20 * (1000 * 2.5 + 200 * 10) / 1e6 + 10 * (500 * 0.15 + 100 * 0.6) / 1e6
    )
    assert float(r.policy_usd) == pytest.approx((strong + weak) / 2, abs=1e-9)
    with pytest.raises(LedgerError, match="'flat-fee' has no token price in sheet 'mine'"):
        traffic.apply_to_traffic(con, "support", traffic.router("flat-fee", WEAK, 50), sheet="mine")
    with pytest.raises(LedgerError, match="unknown price sheet 'nope'"):
        traffic.apply_to_traffic(con, "support", traffic.router(STRONG, WEAK, 50), sheet="nope")


def test_latency_of_a_local_model_comes_from_the_local_lab(ledger):
    """A local model no call used: its latency is the Local lab's timed runs (local_runs), and
    a sheet of one's own prices it."""
    from llmledger.pricing.sheets import import_sheet_bytes

    con, _ = ledger
    con.execute(
        "INSERT INTO local_runs (run_id, batch_id, started_at, model, variant, e2e_ms) VALUES "
        "('r1', 'b', now(), 'smollm2', 'q4_1', 300), ('r2', 'b', now(), 'smollm2', 'q4_1', 500)"
    )
    sheet = b"model,input_per_mtok,output_per_mtok\nsmollm2-q4_1,0.01,0.02\ngpt-4o,2.5,10\ngpt-4o-mini,0.15,0.6\n"
    import_sheet_bytes(con, sheet, "local.csv", name="with-local", effective_from="2020-01-01")
    r = traffic.apply_to_traffic(con, "support", traffic.cascade(["smollm2-q4_1", STRONG], [0.5]), sheet="with-local")
    local = r.latency.per_model["smollm2-q4_1"]
    assert local["mean_ms"] == pytest.approx(400) and "Local lab: 2 runs" in local["source"]
    assert r.latency.policy_ms == pytest.approx(400 + 0.5 * r.latency.per_model[STRONG]["mean_ms"])


@pytest.mark.parametrize(
    "make, feature, message",
    [
        (lambda: traffic.router(STRONG, WEAK, 30), "", "choose a feature"),
        (
            lambda: traffic.router(STRONG, WEAK, 30),
            "nope",
            "feature 'nope' has no calls; features seen: support, drafts, silent",
        ),
        (lambda: traffic.router(STRONG, WEAK, 30), "silent", "no calls with token usage"),
        (lambda: traffic.router("acme-private-model-x", WEAK, 30), "support", "unknown model 'acme-private-model-x'"),
        (lambda: traffic.router(STRONG, WEAK, 101), "support", "between 0 and 100"),
        (lambda: traffic.router(STRONG, WEAK, -1), "support", "between 0 and 100"),
        (lambda: traffic.router(STRONG, STRONG, 10), "support", "a router needs two models"),
        (lambda: traffic.router(STRONG, "", 10), "support", "weak model is empty"),
        (lambda: traffic.router(STRONG, WEAK, "lots"), "support", "must be a number"),
        (lambda: traffic.router(STRONG, WEAK, float("nan")), "support", "finite"),
        (lambda: traffic.cascade([WEAK, STRONG], [1.5]), "support", "between 0 and 1"),
        (lambda: traffic.cascade([WEAK, STRONG], [-0.1]), "support", "between 0 and 1"),
        (lambda: traffic.cascade([WEAK], []), "support", "at least two models"),
        (lambda: traffic.cascade([WEAK, WEAK], [0.5]), "support", "appears twice"),
        (lambda: traffic.cascade([WEAK, CLAUDE, STRONG], [0.5]), "support", "one acceptance rate per tier"),
        (lambda: traffic.Rate.from_counts(5, 3, "x"), "support", "accepted <= tried"),
    ],
)
def test_bad_input_names_the_problem(ledger, make, feature, message):
    con, _ = ledger
    with pytest.raises(LedgerError) as err:
        traffic.apply_to_traffic(con, feature, make(), days=30)
    assert message in err.value.msg


def test_days_outside_range(ledger):
    con, _ = ledger
    for days in (0, -3, 10_000, "many"):
        with pytest.raises(SimulationError, match="days"):
            traffic.apply_to_traffic(con, "support", traffic.router(STRONG, WEAK, 10), days=days)


share = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.integers(-200, 300), st.text(max_size=5), st.none()
)
rate = st.one_of(st.floats(-0.5, 1.5), st.floats(allow_nan=True), st.sampled_from(["0.5", "x", None]))
model = st.sampled_from([STRONG, WEAK, CLAUDE, "", "  ", "acme-private-model-x"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    kind=st.sampled_from(["router", "cascade"]),
    models=st.lists(model, min_size=0, max_size=4),
    p=share,
    pm=st.one_of(st.floats(-5, 120), st.just(0)),
    rates=st.lists(rate, min_size=0, max_size=4),
)
def test_policy_inputs_are_applied_or_rejected_with_a_reason(ledger, kind, models, p, pm, rates):
    con, _ = ledger
    try:
        if kind == "router":
            policy = traffic.router(models[0] if models else "", models[1] if len(models) > 1 else "", p, pm)
        else:
            policy = traffic.cascade(models, rates)
        r = traffic.apply_to_traffic(con, "support", policy, days=30)
    except LedgerError as exc:
        assert exc.msg and "\n" not in exc.msg
        return
    C = [float(v) for v in r.all_to_model_usd.values()]
    assert r.policy_low_usd <= r.policy_usd <= r.policy_high_usd
    if kind == "router":
        assert min(C) - 1e-9 <= float(r.policy_usd) <= max(C) + 1e-9
        assert 0 <= r.rates[f"share to {policy.strong}"]["value"] <= 1
    else:
        assert C[0] - 1e-9 <= float(r.policy_usd) <= sum(C) + 1e-9
        assert all(0 <= v["low"] <= v["value"] <= v["high"] <= 1 for v in r.rates.values())


def test_scenarios_are_saved_listed_and_applied_to_a_plan(ledger):
    con, _ = ledger
    r = traffic.apply_to_traffic(con, "support", traffic.cascade([WEAK, STRONG], [0.7]), days=30)
    scenarios.save(con, "mini first", r)
    scenarios.save(con, "mini first", r)  # saving again replaces
    df = scenarios.list_scenarios(con)
    row = df[df["name"] == "mini first"].iloc[0]
    assert row["feature"] == "support" and row["kind"] == "cascade"
    ratio = float(r.monthly_policy_usd) / float(r.monthly_baseline_usd)
    assert row["cost_ratio"] == pytest.approx(ratio)
    assert scenarios.load(con, "mini first")["policy"] == r.policy
    months = ["2027-01", "2027-02"]
    cost = np.array([[100.0, 110.0], [50.0, 50.0]])  # use cases: support-tagged, untagged
    lines, notes = scenarios.candidate_lines(months, cost, ["support", None], df[df["name"] == "mini first"])
    assert list(lines["total_usd"]) == pytest.approx([100 * ratio + 50, 110 * ratio + 50])
    assert list(lines["saving_usd"]) == pytest.approx([100 * (1 - ratio), 110 * (1 - ratio)])
    assert not notes
    _, notes = scenarios.candidate_lines(months, cost, ["other", None], df[df["name"] == "mini first"])
    assert "no use case" in notes[0]
    with pytest.raises(SimulationError, match="needs a name"):
        scenarios.save(con, "  ", r)
    scenarios.delete(con, "mini first")
    with pytest.raises(SimulationError, match="no scenario named"):
        scenarios.delete(con, "mini first")
    assert isinstance(scenarios.list_scenarios(con), pd.DataFrame)


@settings(max_examples=60, deadline=None)
@given(text=st.text(max_size=12))
def test_typed_rates_and_counts_parse_or_say_why(text):
    from llmledger.simulate.traffic_cli import parse_rate

    try:
        r = parse_rate(text, 0, "0.05")
    except SimulationError as exc:
        assert exc.msg.startswith(("tier 1 acceptance rate", "acceptance counts")) and "\n" not in exc.msg
        return
    assert 0 <= r.low <= r.value <= r.high <= 1


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(max_size=100))
def test_scenario_names_are_stored_or_refused_with_a_reason(ledger, name):
    con, _ = ledger
    r = _support_router(con)
    try:
        saved = scenarios.save(con, name, r)
    except SimulationError as exc:
        assert "name" in exc.msg
        return
    assert saved["name"] == name.strip() and name.strip() in scenarios.list_scenarios(con)["name"].tolist()
    scenarios.delete(con, saved["name"])


_ROUTER_RESULT = {}


def _support_router(con):
    """One router result for the scenario properties (computed once)."""
    if "r" not in _ROUTER_RESULT:
        _ROUTER_RESULT["r"] = traffic.apply_to_traffic(con, "support", traffic.router(STRONG, WEAK, 30))
    return _ROUTER_RESULT["r"]


@pytest.fixture(scope="module")
def ledger_file(ledger):
    """The ledger's file for the CLI, which opens it in another process: this process lets go of it
    (the CLI tests come last in this module)."""
    con, db = ledger
    con.close()
    return db


def test_whatif_traffic_cli(ledger_file):
    db = ledger_file
    p = cli("whatif", "traffic", "--feature", "support", "--router", "--strong", STRONG, "--weak", WEAK,
            "--strong-share", "25", "--json", db=db)  # fmt: skip
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    con = connect(db)
    try:
        c = support_costs(con)
    finally:
        con.close()
    assert Decimal(str(doc["baseline_usd"])) == c["baseline"]
    assert doc["policy_usd"] == pytest.approx(0.25 * float(c[STRONG]) + 0.75 * float(c[WEAK]), abs=1e-9)
    for key in (
        "monthly_saving_usd",
        "monthly_saving_low_usd",
        "monthly_saving_high_usd",
        "break_even",
        "latency",
        "rests_on",
    ):
        assert key in doc
    p = cli("whatif", "traffic", "--feature", "support", "--cascade", f"{WEAK},{STRONG}", "--accept", "700/1000",
            db=db)  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert "monthly saving" in p.stdout and "700 of 1,000" in p.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--feature", "support", "--router", "--strong", STRONG, "--weak", WEAK, "--strong-share", "150"],
            "between 0 and 100",
        ),
        (["--feature", "support", "--cascade", f"{WEAK},{STRONG}", "--accept", "1.5"], "between 0 and 1"),
        (["--feature", "support", "--cascade", f"{WEAK},{STRONG}"], "--cascade needs --accept"),
        (
            ["--feature", "support", "--router", "--strong", "no-such-model", "--weak", WEAK, "--strong-share", "5"],
            "unknown model",
        ),
        (["--feature", "", "--router", "--strong", STRONG, "--weak", WEAK, "--strong-share", "5"], "choose a feature"),
        (["--feature", "support", "--router", "--weak", WEAK, "--strong-share", "5"], "--router needs --strong"),
    ],
)
def test_whatif_traffic_cli_rejects_bad_input_in_one_line(ledger_file, args, message):
    line = one_line_error(cli("whatif", "traffic", *args, db=ledger_file))
    assert message in line


def test_router_and_cascade_together_is_a_usage_error(ledger_file):
    p = cli("whatif", "traffic", "--feature", "support", "--router", "--cascade", "a,b", db=ledger_file)
    assert "not allowed with" in one_line_error(p, code=2)
