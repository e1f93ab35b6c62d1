"""Each user's path through the served app in headless Chromium (issue 15, "Done when").

- The product manager: a monthly bill on Estimate (a prompt past the model's context window is
  flagged), three models' monthly bills side by side on Plan, the Plan itself, the shortlist.
- The engineer: last month by feature on Calls, the top trace's waterfall, then Spend and a
  reprice; the period and feature chosen on Calls hold on Spend and Reprice (one choice per
  session, kept in the URL), and the Spend URL opened in a fresh browser restores them.
- The budget reviewer: the Home page (this month's spend, run rate, budgets near their limit).

Screenshots of every step go to tests/artifacts/user_paths/. Waits are on DOM conditions only.
Tables are drawn on a canvas, so checks read metrics, selectboxes, captions and chart text.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from browser_helpers import CHROMIUM, CHROMIUM_ARGS, PAGE_TIMEOUT_MS, full_screenshot, rerun, wait_rendered, watch_runs
from helpers import serve_app

pytestmark = pytest.mark.browser

SIZE = {"width": 1440, "height": 1000}
FEATURE = "demo-support-chat"


@pytest.fixture(scope="module")
def ledger(tmp_path_factory) -> Path:
    from llmledger.alerts import budgets
    from llmledger.alerts.budgets import Budget
    from llmledger.reads import overview, spend
    from llmledger.store.db import connect
    from llmledger.telemetry import demo

    path = tmp_path_factory.mktemp("user_paths") / "ledger.duckdb"
    con = connect(path)
    assert demo.generate(con, n_calls=3000).calls_new > 2000
    o = overview.overview(con.cursor(), spend.default_as_of(con.cursor()))
    assert o.mtd_usd > 0
    # One budget at ~90% of its limit this month, one far from it.
    budgets.save(con, Budget.build("All LLM spend", round(o.mtd_usd / 0.9, 6), "month"))
    budgets.save(con, Budget.build("Roomy", round(o.mtd_usd * 50 + 1, 2), "month"))
    con.close()
    return path


@pytest.fixture(scope="module")
def app(ledger):
    from playwright.sync_api import sync_playwright

    with serve_app(ledger) as (base, _), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            first = watch_runs(browser.new_page())
            first.goto(base, timeout=PAGE_TIMEOUT_MS)  # st.navigation registers the pages
            wait_rendered(first)
            first.close()
            yield base, browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def shots(artifacts) -> Path:
    d = artifacts / "user_paths"
    d.mkdir(parents=True, exist_ok=True)
    return d


def open_page(browser, url: str):
    page = watch_runs(browser.new_context(viewport=SIZE).new_page())  # a new context: a new browser session
    page.goto(url, timeout=PAGE_TIMEOUT_MS)
    wait_rendered(page)
    assert page.locator('[data-testid="stException"]').count() == 0
    return page


def no_exception(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0, page.locator(
        '[data-testid="stException"]'
    ).first.inner_text()


def pick(page, label: str, option: str, where=None) -> None:
    """Choose `option` in the selectbox labelled `label` (typing filters long lists)."""
    box = (where or page).locator('[data-testid="stSelectbox"]').filter(has_text=label).first
    box.click()
    page.keyboard.type(option)
    rerun(page, page.get_by_role("option", name=option, exact=True).first.click)
    no_exception(page)


def selected(page, label: str, where=None) -> str:
    """The selectbox's shown value (a combobox input's value, or a select's text)."""
    box = (where or page).locator('[data-testid="stSelectbox"]').filter(has_text=label).first
    combo = box.locator('input[role="combobox"]')
    if combo.count() and combo.first.input_value():
        return combo.first.input_value().strip()
    return box.locator('[data-baseweb="select"]').inner_text().strip()


def add_to_multiselect(page, label: str, option: str) -> None:
    box = page.locator('[data-testid="stMultiSelect"]').filter(has_text=label).first
    box.click()
    page.keyboard.type(option)
    rerun(page, page.get_by_role("option", name=option, exact=True).first.click)
    page.keyboard.press("Escape")
    no_exception(page)


def chips(page, label: str) -> list[str]:
    """The values a multiselect shows (its text, less its label and placeholder)."""
    box = page.locator('[data-testid="stMultiSelect"]').filter(has_text=label).first
    lines = [t.strip() for t in box.inner_text().split("\n")]
    return [t for t in lines if t and not t.startswith(label) and t not in ("All", "Choose options")]


def metric(page, label: str) -> str:
    box = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
    return box.locator('[data-testid="stMetricValue"]').inner_text().strip()


def nav(page, title: str) -> None:
    """Go to another page through the sidebar, as a person would (same session)."""
    rerun(page, page.locator('[data-testid="stSidebarNav"] a').filter(has_text=title).first.click)
    no_exception(page)


def query(page) -> dict[str, list[str]]:
    return parse_qs(urlparse(page.url).query)


def money(text: str) -> float:
    return float(text.replace("$", "").replace(",", ""))


# ------------------------------------------------------------------ the product manager


def test_product_manager_estimates_compares_plans_and_shortlists(app, shots):
    base, browser = app
    page = open_page(browser, f"{base}/estimate")
    rerun(page, page.get_by_role("tab", name="Monthly bill").click)  # a lazy tab: opening it reruns
    bill = page.get_by_role("tabpanel").filter(has_text="Requests per month")
    pick(page, "Model", "gpt-4o", where=bill)
    field = page.get_by_label("Input tokens per request", exact=True).and_(page.get_by_test_id("stNumberInputField"))
    field.fill("1100000")
    rerun(page, lambda: field.press("Enter"))
    no_exception(page)
    warning = page.locator('[data-testid="stAlert"]').filter(has_text="context window").first
    assert "128,000" in warning.inner_text() and "gpt-4o" in warning.inner_text()
    full_screenshot(page, shots / "pm-1-estimate-monthly-bill.png")

    nav(page, "Plan")
    candidates = page.locator('[data-testid="stMultiSelect"]').filter(has_text="Candidate models").first
    before = chips(page, "Candidate models")
    assert len(before) == 4
    rerun(page, candidates.get_by_role("button", name=f"Remove {before[-1]}").last.click)  # the chip's ×
    three = chips(page, "Candidate models")
    assert len(three) == 3
    rerun(page, page.get_by_role("tab", name="Projection").click)
    no_exception(page)
    side = page.locator('[data-testid="stPlotlyChart"]').filter(has_text=three[0]).last
    for model in three:
        assert model in side.inner_text()
    full_screenshot(page, shots / "pm-2-plan-three-models-side-by-side.png")

    rerun(page, page.get_by_role("tab", name="Requirements").click)
    assert page.get_by_label("Use case", exact=True).count() >= 1
    full_screenshot(page, shots / "pm-3-plan-requirements.png")

    rerun(page, page.get_by_role("tab", name="Shortlist").click)
    no_exception(page)
    head = page.locator('[data-testid="stMarkdown"]').filter(has_text="models fit").first.inner_text()
    assert "folded into one row per model" in head
    assert page.get_by_text("Quality: Arena-Hard-Auto v0.1").count() == 1
    chart = page.locator('[data-testid="stPlotlyChart"]').filter(has_text="Quality against").first
    labels = chart.locator("text.textpoint").all_inner_texts() or [chart.inner_text()]
    assert not any(w in t.lower() for t in labels for w in ("guard", "ocr", "coder"))
    top = selected(page, "Model for this use case")
    assert top and not any(w in top.lower() for w in ("guard", "ocr", "coder"))
    full_screenshot(page, shots / "pm-4-plan-shortlist.png")


# ------------------------------------------------------------------ the engineer


def test_engineer_last_month_by_feature_top_trace_reprice_and_a_shared_link(app, shots):
    base, browser = app
    page = open_page(browser, f"{base}/calls")
    sidebar = page.locator('[data-testid="stSidebar"]')
    pick(page, "Period", "Last month", where=sidebar)
    add_to_multiselect(page, "Feature", FEATURE)
    assert query(page).get("preset") == ["last_month"] and query(page).get("feature") == [FEATURE]
    assert page.locator('[data-testid="stButtonGroup"]').filter(has_text="Feature").count() >= 1  # group by
    full_screenshot(page, shots / "eng-1-calls-last-month-by-feature.png")

    rerun(page, page.get_by_role("tab", name="Top traces").click)  # a lazy tab: opening it reruns
    trace = selected(page, "Drill into a trace")
    assert trace
    waterfall = page.locator('[data-testid="stPlotlyChart"]').filter(has_text="Trace ").first
    assert waterfall.is_visible()
    full_screenshot(page, shots / "eng-2-calls-top-trace.png")

    nav(page, "Spend")
    assert selected(page, "Period", where=sidebar) == "Last month"
    assert chips(page, "Feature") == [FEATURE]
    assert query(page).get("preset") == ["last_month"] and query(page).get("feature") == [FEATURE]
    spend_url = page.url
    spent = money(metric(page, "Spend in period"))
    full_screenshot(page, shots / "eng-3-spend-same-filters.png")

    nav(page, "Reprice")
    assert selected(page, "Period", where=sidebar) == "Last month"
    field = page.get_by_label("Discount %", exact=True).and_(page.get_by_test_id("stNumberInputField"))
    field.fill("20")
    rerun(page, lambda: field.press("Enter"))
    no_exception(page)
    actual, repriced = money(metric(page, "Actual (")), money(metric(page, "Repriced"))
    assert actual > 0 and repriced == pytest.approx(actual * 0.8, abs=0.02)
    full_screenshot(page, shots / "eng-4-reprice-20-percent-off.png")

    # A colleague opens the shared Spend link in their own browser: same period, same feature.
    other = open_page(browser, spend_url)
    side2 = other.locator('[data-testid="stSidebar"]')
    assert selected(other, "Period", where=side2) == "Last month"
    assert chips(other, "Feature") == [FEATURE]
    assert money(metric(other, "Spend in period")) == pytest.approx(spent)
    full_screenshot(other, shots / "eng-5-shared-link-restores-filters.png")


# ------------------------------------------------------------------ the budget reviewer


def test_budget_reviewer_home_page(app, shots):
    base, browser = app
    page = open_page(browser, base)
    assert page.locator("h1").first.inner_text().strip().endswith("LLM Ledger")
    assert money(metric(page, "Spend in")) > 0
    assert metric(page, "Run rate: whole month (projected)").startswith("$")
    near = page.locator('[data-testid="stAlert"]').filter(has_text="at 80% of their limit").first
    assert "1 of 2 budget(s)" in near.inner_text()
    assert page.locator('[data-testid="stVegaLiteChart"]').filter(has_text="Top features this month").count() == 1
    assert page.locator('[data-testid="stMetric"]').filter(has_text="Unpriced calls").count() == 1
    full_screenshot(page, shots / "budget-1-home.png")
    nav(page, "Budgets")
    assert page.get_by_text("All LLM spend").count() >= 1
    full_screenshot(page, shots / "budget-2-budgets.png")


# ------------------------------------------------------------------ price sheets from the UI


def test_a_bad_upload_is_refused_with_its_reason_and_a_good_one_is_imported(app, shots, tmp_path):
    base, browser = app
    page = open_page(browser, f"{base}/prices")
    rerun(page, page.get_by_role("tab", name="Import").click)
    bad = tmp_path / "rates.csv"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe")
    upload = page.locator('[data-testid="stFileUploader"] input[type="file"]')
    rerun(page, lambda: upload.set_input_files(str(bad)))
    rerun(page, page.get_by_role("button", name="Import", exact=True).click)
    error = page.locator('[data-testid="stAlert"]').filter(has_text="was not imported").first
    assert "not UTF-8" in error.inner_text()
    full_screenshot(page, shots / "prices-1-bad-upload.png")

    good = tmp_path / "team-rates.csv"
    good.write_text("model,provider,input_per_mtok,output_per_mtok\ngpt-4o,openai,2.00,8.00\n")
    rerun(page, lambda: upload.set_input_files(str(good)))
    rerun(page, page.get_by_role("button", name="Import", exact=True).click)
    # The import flashes its message on the run it starts with st.rerun: wait for that run's DOM.
    page.locator('[data-testid="stAlert"]').filter(has_text="Imported sheet 'team-rates'").first.wait_for(
        timeout=PAGE_TIMEOUT_MS
    )
    wait_rendered(page)
    rerun(page, page.get_by_role("tab", name="Look a model up").click)
    pick(page, "In sheet", "team-rates")
    field = page.get_by_label("Model name as your telemetry reports it")
    field.fill("gpt-4o-2024-08-06")
    rerun(page, lambda: field.press("Enter"))
    said = page.locator('[data-testid="stAlert"]').filter(has_text="is priced as").first.inner_text()
    assert "'gpt-4o' (snapshot match)" in said
    full_screenshot(page, shots / "prices-2-lookup-in-imported-sheet.png")

    # Sheets & active sheet (a lazy tab: only it runs); the lookup is as it was on coming back.
    rerun(page, page.get_by_role("tab", name="Sheets & active sheet").click)
    page.get_by_role("heading", name="Active sheet").wait_for(timeout=PAGE_TIMEOUT_MS)
    assert page.get_by_label("Model name as your telemetry reports it").count() == 0
    full_screenshot(page, shots / "prices-3-sheets.png")
    rerun(page, page.get_by_role("tab", name="Look a model up").click)
    assert page.get_by_label("Model name as your telemetry reports it").input_value() == "gpt-4o-2024-08-06"
    said = page.locator('[data-testid="stAlert"]').filter(has_text="is priced as").first.inner_text()
    assert "'gpt-4o' (snapshot match)" in said and selected(page, "In sheet") == "team-rates"
