"""The Plan page under AppTest (widgets found by key), and served in headless Chromium."""

from __future__ import annotations

import pytest
from apptest_helpers import frame, metric, page
from browser_helpers import CHROMIUM, CHROMIUM_ARGS, PAGE_TIMEOUT_MS, wait_rendered, watch_runs
from helpers import serve_app
from streamlit.testing.v1 import AppTest


def run_page(tab: str | None = None) -> AppTest:
    at = page("plan")
    if tab:
        at.session_state["pf_tab"] = tab  # tabs run lazily: only the open one renders
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def open_tab(at: AppTest, tab: str) -> AppTest:
    at.session_state["pf_tab"] = tab
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_page_renders_the_example_plan_with_a_bill():
    at = run_page()
    assert at.title[0].value.startswith("Plan")
    assert at.text_input(key="pf_0_name").value == "Support chat"
    assert metric(at, "First month").startswith("$")
    assert metric(at, "12-month total").startswith("$")
    assert not at.get("plotly_chart")  # hidden tabs did not run
    open_tab(at, "Projection")
    scen = at.radio(key="pf_scenario")
    assert scen.options[0] == "Plan" and len(scen.options) == 5  # plan + 4 candidate models
    assert len(at.get("plotly_chart")) >= 3
    assert not at.error


def test_shortlist_tab_ranks_models_and_explains_exclusions():
    at = run_page("Shortlist")
    at.selectbox(key="pf_short_quality").set_value(
        "none"
    ).run()  # cost alone (quality ranking: test_planning_shortlist)
    ok = frame(at, "rank", "model", "horizon_total_usd")
    assert list(ok["rank"][:3]) == [1, 2, 3]
    known = ~ok["note"].str.contains("self-hosted", regex=False)  # $0/token local models go last
    assert ok[known]["horizon_total_usd"].is_monotonic_increasing
    assert known.iloc[: known.sum()].all()
    bad = frame(at, "model", "reasons")
    assert len(bad) > 0 and bad["reasons"].str.len().min() > 0
    # the example's $2 monthly budget for support chat rules out the expensive models, with the reason shown
    assert bad["reasons"].str.contains("> budget $2.00", regex=False).any()
    third = ok["model"][2]
    at.selectbox(key="pf_short_pick").set_value(third).run()
    at.button(key="pf_short_use").click().run()
    open_tab(at, "Requirements")
    assert at.selectbox(key="pf_0_model").value == third


def test_validation_messages_appear_beside_the_form():
    at = run_page()
    at.number_input(key="pf_0_requests_per_day").set_value(-5.0).run()
    assert "Support chat: Requests per day cannot be negative (-5)" in [e.value for e in at.error]
    at.text_input(key="pf_0_output_token_samples").input("200, 50000").run()  # samples replace the typed figure
    errors = [e.value for e in at.error]
    assert any("above gpt-4o-mini's limit of 16,384 output tokens" in e for e in errors)


def test_editing_changes_the_projection():
    at = run_page("Projection")
    before = frame(at, "use_case", "cost_per_request_usd").set_index("use_case")["horizon_total_usd"]
    open_tab(at, "Requirements")
    at.number_input(key="pf_0_requests_per_day").set_value(10_000.0).run()  # 100 → 10,000 a day
    open_tab(at, "Projection")
    after = frame(at, "use_case", "cost_per_request_usd").set_index("use_case")["horizon_total_usd"]
    assert after["Support chat"] == pytest.approx(100 * before["Support chat"])  # bill is linear in volume
    assert after["Document summaries"] == pytest.approx(before["Document summaries"])
    at.slider(key="pf_horizon").set_value(24).run()
    assert any(m.label == "24-month total" for m in at.metric)


def test_add_use_case_save_versions_and_compare(db_path):
    at = run_page()
    at.button(key="pf_add").click().run()
    assert not at.exception
    assert at.selectbox(key="pf_uc").value == 2
    assert at.text_input(key="pf_2_name").value == "Use case 3"
    at.text_input(key="pf_note").input("first").run()
    at.button(key="pf_save").click().run()
    at.number_input(key="pf_2_requests_per_day").set_value(5000.0).run()
    at.button(key="pf_save").click().run()
    assert not at.exception
    open_tab(at, "Versions & export")
    vers = frame(at, "version", "note")
    assert list(vers["version"]) == [2, 1]
    diff = frame(at, "where", "field")
    assert {"where": "Use case 3", "field": "requests_per_day"}.items() <= diff.iloc[0].to_dict().items()
    assert diff.iloc[0]["b"] == "5,000"


def test_plan_vs_actual_tab_on_demo_traffic(db_path):
    from llmledger.store.db import connect
    from llmledger.telemetry import demo

    con = connect(db_path)
    demo.generate(con, n_calls=2500, days=45)
    con.close()
    at = run_page("Plan vs actual")
    cmp_ = frame(at, "metric", "planned").set_index("metric")
    assert cmp_.loc["calls", "actual"] > 0
    assert "How the variance is split" in "".join(m.value for m in at.markdown)
    models = frame(at, "model", "cost_per_call_at_plan_prices")
    assert "gpt-4o-mini" in set(models["model"])


def test_measure_sample_prompts_with_the_tokenizer_registry():
    at = run_page()
    at.text_area(key="plan_prompts_0").input("Where is my order #123?\n---\nHow do I reset my password, please?").run()
    at.button(key="pf_measure_0").click().run()
    assert not at.exception
    samples = at.text_input(key="pf_0_input_token_samples").value
    counts = [int(x) for x in samples.split(",")]
    assert len(counts) == 2 and all(3 < c < 20 for c in counts)


# ----------------------------------------------------------------------------- browser


@pytest.mark.browser
def test_plan_page_in_chromium(tmp_path, artifacts):
    from playwright.sync_api import sync_playwright

    from llmledger.store.db import connect
    from llmledger.telemetry import demo

    db = tmp_path / "ledger.duckdb"
    con = connect(db)
    demo.generate(con, n_calls=3000, days=60)
    con.close()
    with serve_app(db) as (base, _), sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = watch_runs(b.new_page(viewport={"width": 1500, "height": 2600}))
            page.goto(f"{base}/plan", timeout=PAGE_TIMEOUT_MS)
            page.wait_for_selector("text=Plan: from requirements to a monthly bill", timeout=PAGE_TIMEOUT_MS)
            page.wait_for_selector("text=Requests per day", timeout=PAGE_TIMEOUT_MS)
            wait_rendered(page)
            shots = {}
            for tab, marker in (
                ("Requirements", "Save new version"),
                ("Projection", "Candidate models side by side"),
                ("Plan vs actual", "How the variance is split"),
                ("Shortlist", "and why"),
                ("Versions & export", "Export / import"),
            ):
                page.get_by_role("tab", name=tab).click()
                page.wait_for_selector(f"text={marker}", timeout=PAGE_TIMEOUT_MS)
                wait_rendered(page)
                assert page.locator('[data-testid="stException"]').count() == 0
                if tab in ("Projection", "Plan vs actual", "Shortlist"):  # Plotly drew its charts
                    page.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=PAGE_TIMEOUT_MS)
                out = artifacts / f"plan-{tab.lower().replace(' & ', '-').replace(' ', '-')}.png"
                page.screenshot(path=str(out), full_page=True)
                shots[tab] = out
        finally:
            b.close()
    for out in shots.values():
        assert out.stat().st_size > 20_000
