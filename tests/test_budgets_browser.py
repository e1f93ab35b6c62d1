"""The Budgets page served by `streamlit run app.py` in headless Chromium, over demo data with one
budget already crossed, one forecast to be crossed and an "each user" budget; screenshots go to
tests/artifacts/budgets*.png."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from browser_helpers import CHROMIUM, CHROMIUM_ARGS, PAGE_TIMEOUT_MS, full_screenshot, rerun, wait_rendered, watch_runs
from helpers import serve_app

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def budget_db(tmp_path_factory):
    from llmledger.alerts import budgets, evaluate
    from llmledger.alerts.budgets import Budget
    from llmledger.store.db import connect
    from llmledger.telemetry import demo

    path = tmp_path_factory.mktemp("budgets_browser") / "ledger.duckdb"
    con = connect(path)
    demo.generate(con, n_calls=4000)
    now = datetime.now(UTC)
    # Size the budgets from what the demo traffic spends this week, so that one is crossed and one
    # is forecast to cross whatever day the test runs.
    budgets.save(con, Budget.build("All traffic (week)", 1, "week", forecast_thresholds="100"))
    budgets.save(
        con,
        Budget.build(
            "RAG answers (week)",
            1,
            "week",
            where=["feature=demo-rag-answers"],
            forecast_thresholds="100",
            tz="Europe/Paris",
        ),
    )
    by = {s.budget.name: s for s in evaluate.status(con, now)}
    spent = max(by["All traffic (week)"].whole.spent, 0.01)
    budgets.save(
        con,
        Budget.build("All traffic (week)", round(spent * 0.9, 2), "week", forecast_thresholds="100"),
        replace="All traffic (week)",
    )
    rag = by["RAG answers (week)"].whole
    target = round(max(rag.spent * 1.3, (rag.spent + (rag.p50 or rag.spent * 3)) / 2, 0.02), 2)
    budgets.save(
        con,
        Budget.build(
            "RAG answers (week)",
            target,
            "week",
            where=["feature=demo-rag-answers"],
            forecast_thresholds="100",
            tz="Europe/Paris",
        ),
        replace="RAG answers (week)",
    )
    budgets.save(con, Budget.build("Per user (month)", 0.5, "month", each="user"))
    out = evaluate.check(con, now, deliver=False)
    assert out["new_events"]
    con.close()
    return path


def test_budgets_page_in_chromium(budget_db, artifacts):
    from playwright.sync_api import sync_playwright

    with serve_app(budget_db, timeout_s=120) as (base, _), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = watch_runs(browser.new_page(viewport={"width": 1440, "height": 1000}))
            page.goto(f"{base}/budgets", timeout=PAGE_TIMEOUT_MS)
            # The first run imports the forecaster and builds the priced-calls memo: wait for a card.
            page.get_by_text("All traffic (week)").first.wait_for(timeout=PAGE_TIMEOUT_MS)
            wait_rendered(page)
            assert page.locator('[data-testid="stException"]').count() == 0
            text = page.locator('[data-testid="stMain"]').inner_text()
            assert "All traffic (week)" in text and "over" in text
            assert "forecast over" in text or "forecast to run out" in text
            assert "Actual cost" in text
            # Vega-Lite, not Plotly: a bullet bar per card, then the first budget's burn-up and history.
            assert page.locator(".js-plotly-plot").count() == 0
            charts = page.locator('[data-testid="stVegaLiteChart"]')
            burn = charts.filter(has_text="All traffic (week): burn-up")
            burn.locator("svg").first.wait_for(timeout=PAGE_TIMEOUT_MS)
            assert charts.count() == 3 + 2  # three cards, burn-up and history
            burn_text = burn.inner_text()
            for label in ("actual", "forecast p50", "forecast p10–p90", "budget $", "50%", "80%"):
                assert label in burn_text, (label, burn_text[:500])
            assert "budget" in charts.filter(has_text="All traffic (week): spent per week").inner_text()
            for k in range(3):  # each card's bar is on a percent axis that reaches the 100% line
                assert "100%" in charts.nth(k).inner_text()
            full_screenshot(page, artifacts / "budgets.png")

            # Lazy tabs: the closed tabs sent nothing (no inbox, no forms).
            assert page.get_by_role("tabpanel").count() == 1
            assert page.get_by_text("Open alert").count() == 0 and page.get_by_text("Watches the calls of").count() == 0

            # Create / edit: the budget and monitor forms (a monitor's scope pickers included).
            rerun(page, page.get_by_role("tab", name="Create / edit").click)  # a lazy tab: opening it runs it
            page.get_by_text("Watches the calls of").first.wait_for(timeout=PAGE_TIMEOUT_MS)
            assert page.get_by_role("button", name="Add monitor").count() == 1
            assert charts.count() == 0  # the cards' tab is closed now
            full_screenshot(page, artifacts / "budgets_edit.png")
            rerun(page, page.get_by_role("tab", name="Notifications").click)
            page.get_by_text(re.compile("Evaluator:|No notifications yet")).first.wait_for(timeout=PAGE_TIMEOUT_MS)
            full_screenshot(page, artifacts / "budgets_notifications.png")
            rerun(page, page.get_by_role("tab", name="Review export").click)
            page.get_by_role("button", name="Review (Markdown)").wait_for(timeout=PAGE_TIMEOUT_MS)
            full_screenshot(page, artifacts / "budgets_review.png")
            rerun(page, page.get_by_role("tab", name="Budgets").first.click)
            burn.locator("svg").first.wait_for(timeout=PAGE_TIMEOUT_MS)

            inbox_tab = page.get_by_role("tab", name="Alerts inbox")
            firing = int(re.search(r"\((\d+) firing\)", inbox_tab.inner_text()).group(1))
            rerun(page, inbox_tab.click)
            box = page.locator('[data-testid="stSelectbox"]').filter(has_text="Open alert")
            box.locator("input").click()
            rerun(page, page.get_by_role("option").filter(has_text="passed").first.click)
            page.get_by_text("Spent at firing").first.wait_for(timeout=PAGE_TIMEOUT_MS)
            assert page.get_by_text("Top contributors").count() >= 1 or page.get_by_text("Spent at firing").count()
            assert page.locator('[data-testid="stException"]').count() == 0
            full_screenshot(page, artifacts / "budgets_inbox.png")

            # Acknowledge it: the count in the inbox's label goes down and the inbox stays open.
            page.get_by_label("Note").fill("looked at it")
            page.get_by_role("button", name="Acknowledge").click()
            page.get_by_text(re.compile(r"Alert #\d+ updated")).first.wait_for(timeout=PAGE_TIMEOUT_MS)
            wait_rendered(page)
            inbox_tab = page.get_by_role("tab", name="Alerts inbox")
            assert inbox_tab.inner_text().strip() == f"Alerts inbox ({firing - 1} firing)"
            assert inbox_tab.get_attribute("aria-selected") == "true"
            assert page.get_by_text("Spent at firing").count() >= 1  # the same alert, still open
            assert page.locator('[data-testid="stException"]').count() == 0
            full_screenshot(page, artifacts / "budgets_inbox_acknowledged.png")

            # The alert's link opens the Spend page filtered to its scope and period.
            rag = page.locator('[data-testid="stSelectbox"]').filter(has_text="Open alert")
            rag.locator("input").click()
            rerun(page, page.get_by_role("option").filter(has_text="RAG answers").first.click)
            page.get_by_role("button", name="Open in Spend").wait_for(timeout=PAGE_TIMEOUT_MS)
            page.get_by_role("button", name="Open in Spend").click()
            page.wait_for_url(lambda url: "/spend" in url, timeout=PAGE_TIMEOUT_MS)  # with its filters in the query
            # ... and its exact window: start and end as UTC times, not whole days
            page.wait_for_url(
                lambda url: re.search(r"start=\d{4}-\d\d-\d\dT\d\d(%3A|:)\d\d", url), timeout=PAGE_TIMEOUT_MS
            )
            page.get_by_role("heading", name="Spend").first.wait_for(timeout=PAGE_TIMEOUT_MS)
            wait_rendered(page)
            sidebar = page.locator('[data-testid="stSidebar"]').inner_text()
            assert "demo-rag-answers" in sidebar, sidebar[:1500]
            assert page.locator('[data-testid="stException"]').count() == 0
            full_screenshot(page, artifacts / "budgets_link_spend.png")
        finally:
            browser.close()
