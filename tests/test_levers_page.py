"""The What-if page's Levers tab under AppTest, on a ledger filled through the real receiver
(tests/levers_page_data.py): each lever's figures against the engine run directly on the same
ledger (simulate/levers/ledger.apply_lever, savings_summary), the charts drawn, compression only
on its button, a lever saved as a scenario that the Plan page lists, and what the content policy
leaves under hash and drop."""

from __future__ import annotations

import pytest
from apptest_helpers import frame, metrics, ok, page
from levers_page_data import BIG, CALLS, build

from llmledger.reads import levers as reads
from llmledger.simulate.levers import ModelPrices, memory
from llmledger.simulate.levers.ledger import SUMMARY_STEPS, apply_lever, savings_summary
from llmledger.store.db import connect
from llmledger.ui import format as fmt


@pytest.fixture(scope="module")
def ledger(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("levers_page")
    db = tmp / "ledger.duckdb"
    build(db, tmp, "keep")
    return db


@pytest.fixture
def db(ledger, monkeypatch):
    monkeypatch.setenv("LLMLEDGER_DB", str(ledger))
    monkeypatch.setenv("LLMLEDGER_CONTENT", "keep")
    return ledger


def engine(db, lever, feature=None, **params):
    con = connect(db)
    try:
        return apply_lever(con, lever, feature, **params)
    finally:
        con.close()


def levers(tab: str, feature: str | None = None, **state):
    at = page("whatif")
    at.session_state["wi_tab"] = "Levers"
    at.session_state["wi_lv_tab"] = tab
    if feature:
        at.session_state["wi_lv_feature"] = feature
    for k, v in state.items():
        at.session_state[k] = v
    return at


def found(at, key: str) -> dict:
    return {r["measure"]: r["value"] for r in frame(at, "measure", "value").to_dict("records")}


def assert_headline(at, ll) -> None:
    m = metrics(at)
    r = ll.result
    assert m["Calls"] == fmt.count(r.calls)
    assert m["Cost today"] == fmt.usd(r.baseline_usd)
    assert m["What-if cost (estimate)"] == fmt.usd(r.whatif_usd)
    assert m["Saving"] == fmt.signed_usd(r.saving_usd)
    assert m["Monthly saving (estimate)"] == fmt.signed_usd(r.saving_usd * ll.monthly_scale)


def details(at, *cols):
    return frame(at, *cols)


def test_response_cache_figures_are_the_engines(db):
    at = levers("Response cache", "faq")
    ok(at.run())
    exact = engine(db, "cache", "faq", ttl_s=3600, mode="exact")
    assert exact.result.metrics["hits"] == 1  # Q1 at 0 min missed, at 10 hit, at 120 expired
    assert_headline(at, exact)
    assert found(at, "wi_lv_cache")["hits"] == "1"
    assert details(at, "feature", "hits", "saved_usd")["saved_usd"].sum() == pytest.approx(exact.result.saving_usd)
    assert any("Rests on" in m.value for m in at.markdown)
    # normalised keys also catch the re-spelled question; the chart sweeps the TTL for both modes
    at.radio(key="wi_lv_mode").set_value("normalised").run()
    ok(at)
    norm = engine(db, "cache", "faq", ttl_s=3600, mode="normalised")
    assert norm.result.metrics["hits"] == 2
    assert_headline(at, norm)
    chart = next(c for c in at.get("plotly_chart") if "TTL" in c.proto.spec)
    assert "normalised keys" in chart.proto.spec and "exact keys" in chart.proto.spec


def test_prompt_caching_compares_the_estimate_with_reported_reads(db):
    at = levers("Prompt caching", "help")
    ok(at.run())
    ll = engine(db, "prompt-cache", "help", lifetime="5m", min_prefix=1024)
    assert_headline(at, ll)
    obs = ll.result.metrics["observed"]
    table = frame(at, "measure", "observed", "estimated").set_index("measure")
    assert table.loc["cache-read tokens", "observed"] == obs["read_tokens"] == 2000  # as the spans reported
    assert table.loc["cache-read tokens", "estimated"] == obs["estimated_read_tokens"]
    assert table.loc["calls with a cache read", "estimated"] == obs["estimated_hit_calls"]
    # a write premium typed in replaces the sheet's write price: 3x input makes the writes dearer
    at.number_input(key="wi_lv_wmult").set_value(3.0).run()
    ok(at)
    dear = metrics(at)["What-if cost (estimate)"]
    assert float(dear.lstrip("$")) >= float(fmt.usd(ll.result.whatif_usd).lstrip("$"))


def test_memory_turn_by_turn_and_a_summary_model(db):
    at = levers("Memory", "chat", wi_lv_k=2)
    ok(at.run())
    ll = engine(db, "memory", "chat", k=2, summary_tokens=200, strategy="summary")
    assert_headline(at, ll)
    turns = details(at, "turn", "full_usd", "window_usd", "summary_usd")
    assert list(turns["turn"]) == list(range(1, 1 + sum(1 for c in CALLS if c[7] == "S1")))
    assert turns["summary_usd"].sum() == pytest.approx(ll.result.metrics["summary_usd"])
    spec = next(c for c in at.get("plotly_chart") if "turn by turn" in c.proto.spec).proto.spec
    assert "full buffer" in spec and "summary + window" in spec
    at.selectbox(key="wi_lv_smodel").set_value("gpt-4o-mini").run()
    ok(at)
    # apply_lever prices only the calls' own models: the summary model's price is added here
    con = connect(db)
    try:
        lc = reads.lever_calls(con, "chat", 30)
        prices = {m: ModelPrices(**p) for m, p in reads.lever_prices(con, lc.sheet, [BIG, "gpt-4o-mini"]).items()}
    finally:
        con.close()
    cheap = memory(lc.calls, prices, k=2, summary_tokens=200, summary_model="gpt-4o-mini")
    assert cheap.metrics["summary_calls_usd"] < ll.result.metrics["summary_calls_usd"]
    m = metrics(at)
    assert m["What-if cost (estimate)"] == fmt.usd(cheap.whatif_usd) and m["Saving"] == fmt.signed_usd(cheap.saving_usd)
    assert frame(at, "turn", "summary_call_usd")["summary_call_usd"].sum() == pytest.approx(
        cheap.metrics["summary_calls_usd"]
    )


def test_agent_call_cache_in_a_trace_and_in_a_session(db):
    at = levers("Agent calls", "agent")
    ok(at.run())
    ll = engine(db, "agent-cache", "agent", scope="trace")
    assert ll.result.metrics["hits"] == 2  # the lookup asked three times in one trace
    assert_headline(at, ll)
    assert found(at, "wi_lv_agent")["traces with repeats"] == "1"
    at.radio(key="wi_lv_scope").set_value("session").run()
    ok(at)
    assert_headline(at, engine(db, "agent-cache", "agent", scope="session"))


def test_batch_needs_a_feature_then_prices_it_at_batch_rates(db):
    at = levers("Batch API")
    ok(at.run())
    assert any("Pick the features nobody waits for" in i.value for i in at.info)
    at.multiselect(key="wi_lv_tolerant").set_value(["report"]).run()
    ok(at)
    ll = engine(db, "batch", features=["report"])
    assert ll.result.saving_usd > 0
    assert_headline(at, ll)


def test_batch_by_a_rule_and_a_bad_rule_named(db):
    at = levers("Batch API")
    ok(at.run())
    model = engine(db, "batch").result.details["model"].iloc[0]  # a model the traffic used
    at.text_input(key="wi_lv_where").set_value(f"model={model}; hour=0-24").run()
    assert any("range of UTC hours" in str(e.value) for e in at.error)  # 0-24 is not a range
    at.text_input(key="wi_lv_where").set_value(f"model={model}").run()
    ok(at)
    ll = engine(db, "batch", where=f"model={model}")
    assert ll.result.metrics["chosen_calls"] > 0
    assert_headline(at, ll)
    assert f"calls matching model={model}" in ll.result.title


def test_output_caps_and_the_saving_against_the_cap(db):
    at = levers("Output caps", "report", wi_lv_cap=1000)
    ok(at.run())
    ll = engine(db, "caps", "report", caps={"report": 1000})
    assert ll.result.metrics["calls_truncated"] == 2  # the 2,500- and 6,000-token reports
    assert_headline(at, ll)
    spec = next(c for c in at.get("plotly_chart") if "against the cap" in c.proto.spec).proto.spec
    assert "as chosen" in spec


def test_savings_in_sequence_match_the_engines_summary(db):
    at = levers("Savings in sequence")
    ok(at.run())
    con = connect(db)
    try:
        expect = savings_summary(con, None, 30, None, [s for s in SUMMARY_STEPS if s != "batch"])
    finally:
        con.close()
    table = frame(at, "lever", "saving_usd", "monthly_saving_usd", "cost_after_usd")
    assert len(table) == len(expect["steps"])
    for row, step in zip(table.to_dict("records"), expect["steps"]):
        assert row["saving_usd"] == pytest.approx(step["saving_usd"], abs=1e-9)
        assert row["monthly_saving_usd"] == pytest.approx(step["monthly_saving_usd"], abs=1e-6)
    m = metrics(at)
    assert m["Monthly saving (estimate)"] == fmt.signed_usd(expect["monthly_saving_usd"])
    specs = " ".join(c.proto.spec for c in at.get("plotly_chart"))
    assert "levers applied in sequence" in specs and "top features" in specs


def test_compression_runs_only_on_its_button(db):
    at = levers("Compression", "agent", wi_lv_sample=1)
    ok(at.run())
    assert any("Not run yet" in i.value for i in at.info)
    assert not at.get("plotly_chart") and "Real ratio" not in " ".join(m.value for m in at.markdown)
    at.button(key="wi_lv_compress_run").click().run()
    ok(at)
    text = " ".join(m.value for m in at.markdown)
    assert "Real ratio" in text and "Example 1" in text
    assert len(at.code) == 2  # before and after, side by side
    assert len(at.code[1].value) < len(at.code[0].value) or at.code[0].value == at.code[1].value


def test_a_lever_saved_as_a_scenario_shows_on_the_plan_page(db):
    at = levers("Response cache")
    ok(at.run())
    at.text_input(key="wi_lv_cache_name").set_value("all: response cache").run()
    at.button(key="wi_lv_cache_save").click().run()
    ok(at)
    assert any("Saved scenario" in t.value for t in at.toast)
    at.session_state["wi_tab"] = "Scenarios"
    ok(at.run())
    saved = frame(at, "name", "kind", "feature")
    row = saved[saved["name"] == "all: response cache"].iloc[0]
    assert row["kind"] == "response-cache" and row["feature"] == "(all features)"
    plan = page("plan")
    plan.session_state["pf_tab"] = "Projection"
    ok(plan.run())
    table = frame(plan, "scenario", "horizon_total_usd", "horizon_saving_usd").set_index("scenario")
    ll = engine(db, "cache")  # over every feature: the plan's every use case costs its ratio
    assert table.loc["all: response cache", "horizon_saving_usd"] == pytest.approx(
        table.loc["all: response cache", "horizon_total_usd"] / (ll.result.whatif_usd / ll.result.baseline_usd)
        - table.loc["all: response cache", "horizon_total_usd"],
        rel=1e-6,
    )


@pytest.mark.parametrize("policy", ["hash", "drop"])
def test_content_policy_says_which_levers_still_work(policy, tmp_path, monkeypatch):
    db = tmp_path / f"{policy}.duckdb"
    build(db, tmp_path, policy)
    monkeypatch.setenv("LLMLEDGER_DB", str(db))
    monkeypatch.setenv("LLMLEDGER_CONTENT", policy)
    at = levers("Prompt caching")
    ok(at.run())
    warning = " ".join(w.value for w in at.warning)
    assert f"content policy is {policy}" in warning
    assert "Provider prompt caching cannot run here" in warning
    avail = frame(at, "lever", "needs", "works").set_index("lever")["works"]
    assert avail["Batch API"] == "yes" and avail["Output caps"] == "yes"
    assert avail["Response cache (exact)"] == ("yes" if policy == "hash" else "no")
    at.session_state["wi_lv_tab"] = "Response cache"
    at.session_state["wi_lv_feature"] = "faq"
    at.run()
    assert not at.exception
    if policy == "hash":  # exact repeats still found through the digests
        ok(at)
        assert found(at, "wi_lv_cache")["hits"] == "1"
    else:
        assert any("cannot run here" in w.value for w in at.warning)
    at.session_state["wi_lv_tab"] = "Output caps"
    ok(at.run())
    assert_headline(at, engine(db, "caps", "faq", quantile=0.95))


def test_semantic_cache_runs_on_its_button_and_sweeps_the_threshold(db):
    from llmledger.simulate.levers import semantic

    at = levers("Semantic cache", "faq")
    ok(at.run())
    assert any("Not run yet" in i.value for i in at.info)
    at.button(key="wi_lv_sem_run").click().run()
    ok(at)
    con = connect(db)
    try:
        lc = reads.lever_calls(con, "faq", 30)
    finally:
        con.close()
    r = semantic.semantic_cache(lc.calls, threshold=0.9, ttl_s=3600)
    m = metrics(at)
    assert m["What-if cost (estimate)"] == fmt.usd(r.whatif_usd) and m["Saving"] == fmt.signed_usd(r.saving_usd)
    assert found(at, "wi_lv_sem")["hits"] == fmt.count(r.metrics["hits"])
    assert r.metrics["hits"] >= 1  # at least the exact repeat inside the hour
    spec = next(c for c in at.get("plotly_chart") if "false hit" in c.proto.spec).proto.spec
    assert "hit rate" in spec and "false-hit risk" in spec
