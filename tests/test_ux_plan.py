"""Plan keeps edits and says one thing (issue 15, item 2): no bill from invalid values, a refused
import keeps the working plan, the budget month agrees everywhere, and (in Chromium) renaming a
use case neither drops the next edit nor jumps to the first use case."""

from __future__ import annotations

import json

import pytest
from apptest_helpers import frame, metric, run
from browser_helpers import CHROMIUM, CHROMIUM_ARGS, PAGE_TIMEOUT_MS, rerun, wait_rendered, watch_runs
from helpers import serve_app

from llmledger.planning import store
from llmledger.planning.requirements import example_set


def run_page(tab: str | None = None):
    return run("plan", tab=("pf_tab", tab) if tab else None)


def open_tab(at, tab: str):
    at.session_state["pf_tab"] = tab
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_invalid_values_show_no_bill():
    at = run_page()
    assert metric(at, "First month").startswith("$")
    at.number_input(key="pf_0_input_tokens").set_value(1e15).run()
    assert not at.exception
    assert not [m for m in at.metric if m.label in ("First month", "12-month total")]
    blocked = [e.value for e in at.error if "no bill is computed" in e.value]
    assert blocked and "Input tokens per request" in blocked[0]
    open_tab(at, "Projection")
    assert not at.get("plotly_chart")
    assert any("no bill is computed" in i.value for i in at.info)
    open_tab(at, "Requirements")
    at.number_input(key="pf_0_input_tokens").set_value(1800.0).run()  # fixed: the bill is back
    assert metric(at, "First month").startswith("$")
    assert not [e for e in at.error if "no bill" in e.value]


@pytest.mark.parametrize(
    "name, data, reason",
    [
        ("photo.json", b"\x89PNG\r\n\x1a\n\x00\xff\xfe\x00", "not UTF-8 text"),
        ("budgets.json", json.dumps({"budgets": [{"name": "x"}]}).encode(), "no 'name' or 'use_cases' field"),
    ],
)
def test_a_refused_import_says_why_and_keeps_the_plan(name, data, reason):
    at = run_page("Versions & export")
    at.file_uploader(key="pf_upload").upload(name, data, "application/json").run()
    at.button(key="pf_import").click().run()
    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value for e in at.error]
    assert any("not a plan export" in e and reason in e for e in errors), errors
    rs = at.session_state.plan_rs
    assert rs.name == "Example plan" and [u.name for u in rs.use_cases] == ["Support chat", "Document summaries"]


def test_a_plan_export_imports():
    other = example_set()
    other.name, other.use_cases = "Imported", other.use_cases[:1]
    at = run_page("Versions & export")
    at.file_uploader(key="pf_upload").upload("p.json", store.to_json(other).encode(), "application/json").run()
    at.button(key="pf_import").click().run()
    assert not at.exception
    assert at.session_state.plan_rs.name == "Imported"
    assert at.text_input(key="pf_plan_name").value == "Imported"


def test_headline_table_and_chart_give_the_same_budget_month():
    at = run_page()
    at.number_input(key="pf_0_monthly_budget_usd").set_value(1.2).run()  # support chat outgrows $1.20
    head = metric(at, "Budget exceeded in")
    open_tab(at, "Projection")
    summary = frame(at, "use_case", "budget_exceeded_in").set_index("use_case")["budget_exceeded_in"]
    months = summary[summary.str.match(r"^\d{4}-\d{2}$")]
    assert head == summary["Support chat"] == months.min()
    assert summary["Document summaries"] in ("never", months.max())  # said in words, never an empty cell
    at.selectbox(key="pf_band_uc").set_value("Support chat").run()
    band = json.loads(at.get("plotly_chart")[1].proto.spec)
    notes = [a["text"] for a in band["layout"]["annotations"]]
    assert f"over budget from {head}" in notes


def test_no_budget_means_no_breach_month():
    at = run_page()
    at.number_input(key="pf_0_monthly_budget_usd").set_value(None).run()
    at.selectbox(key="pf_uc").set_value(1).run()
    at.number_input(key="pf_1_monthly_budget_usd").set_value(None).run()
    assert metric(at, "Budget exceeded in") == "no budgets set"


@pytest.mark.browser
def test_renaming_a_use_case_keeps_it_selected_and_keeps_the_next_edits(tmp_path, artifacts):
    from playwright.sync_api import sync_playwright

    from llmledger.pricing import sheets
    from llmledger.store.db import connect

    db = tmp_path / "ledger.duckdb"
    con = connect(db)
    sheets.ensure_default_sheet(con)  # an existing ledger (its price sheet already stored)
    con.close()
    name_box = '[data-testid="stTextInputField"][aria-label="Use case"]'
    with serve_app(db) as (base, _), sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            pg = watch_runs(b.new_page(viewport={"width": 1500, "height": 1800}))
            pg.goto(f"{base}/plan", timeout=PAGE_TIMEOUT_MS)
            pg.wait_for_selector("text=Requests per day", timeout=PAGE_TIMEOUT_MS)
            wait_rendered(pg)
            picker = pg.get_by_role("combobox", name="Use case")
            rerun(pg, lambda: (picker.click(), pg.get_by_role("option", name="Document summaries").click()))
            name = pg.locator(name_box)
            rerun(pg, lambda: (name.fill("Docs renamed"), name.press("Enter")))
            for label, value in (("Requests per day (requests)", "777"), ("Output tokens per request (tokens)", "555")):
                box = pg.locator(f'input[aria-label="{label}"]')
                rerun(pg, lambda box=box, value=value: (box.fill(value), box.press("Enter")))
            assert picker.input_value() == "Docs renamed"
            assert pg.locator(name_box).input_value() == "Docs renamed"
            assert pg.locator('input[aria-label="Requests per day (requests)"]').input_value() == "777"
            assert pg.locator('input[aria-label="Output tokens per request (tokens)"]').input_value() == "555"
            assert pg.locator('[data-testid="stException"]').count() == 0
            pg.screenshot(path=str(artifacts / "ux-plan-rename.png"), full_page=True)
        finally:
            b.close()
