"""The Estimate, Spend and Reprice pages served by `streamlit run app.py` in headless Chromium,
on a ledger with real ingested data; interacts with each and writes screenshots to
tests/artifacts/money-*.png. (tests/test_browser.py renders every page once on demo data.)"""

from __future__ import annotations

import pytest
from browser_helpers import CHROMIUM, CHROMIUM_ARGS, PAGE_TIMEOUT_MS, full_screenshot, rerun, wait_rendered
from helpers import serve_app
from ledgers import build_ledger
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def money_app(tmp_path_factory):
    db = tmp_path_factory.mktemp("money_browser") / "ledger.duckdb"
    build_ledger(db)
    with serve_app(db) as (base, _):
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                first = browser.new_page()
                first.goto(base, timeout=PAGE_TIMEOUT_MS)  # let st.navigation register the pages
                wait_rendered(first)
                first.close()
                yield base, browser
            finally:
                browser.close()


def open_page(money_app, path):
    base, browser = money_app
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    page.goto(f"{base}/{path}", timeout=PAGE_TIMEOUT_MS)
    wait_rendered(page)
    return page


def no_exception(page) -> None:
    boxes = page.locator('[data-testid="stException"]')
    assert boxes.count() == 0, boxes.first.inner_text()


def test_spend_in_chromium(money_app, artifacts):
    page = open_page(money_app, "spend")
    try:
        no_exception(page)
        assert page.get_by_text("Run-rate projection").count() >= 1
        page.wait_for_selector(".js-plotly-plot", timeout=PAGE_TIMEOUT_MS)
        assert page.locator(".js-plotly-plot").count() >= 2
        assert page.locator(".js-plotly-plot").filter(has_text="Spend over time").count() == 1
        full_screenshot(page, artifacts / "money-spend.png")
        rerun(page, page.get_by_role("tab", name="Unknown prices").click)  # lazy tabs: opening one runs it
        expect(page.get_by_text("never counted as $0").first).to_be_visible(timeout=PAGE_TIMEOUT_MS)
        rerun(page, page.get_by_role("tab", name="Export").click)
        expect(page.get_by_role("button", name="Download Parquet")).to_have_count(1, timeout=PAGE_TIMEOUT_MS)
        no_exception(page)
    finally:
        page.close()


def test_estimate_in_chromium(money_app, artifacts):
    page = open_page(money_app, "estimate")
    try:
        no_exception(page)
        page.get_by_role("textbox", name="Prompt").fill("Summarise this support ticket and suggest a reply. " * 10)
        rerun(page, lambda: page.keyboard.press("Control+Enter"))
        page.locator(".js-plotly-plot").filter(has_text="Estimated cost per model").first.wait_for(
            timeout=PAGE_TIMEOUT_MS
        )
        no_exception(page)
        full_screenshot(page, artifacts / "money-estimate.png")
        page.get_by_role("tab", name="Monthly bill").click()
        expect(page.locator(".js-plotly-plot").filter(has_text="Projected bill")).to_have_count(
            1, timeout=PAGE_TIMEOUT_MS
        )
        full_screenshot(page, artifacts / "money-estimate-bill.png")
        page.get_by_role("tab", name="Token tax").click()
        expect(page.locator(".js-plotly-plot").filter(has_text="Token tax")).to_have_count(1, timeout=PAGE_TIMEOUT_MS)
        full_screenshot(page, artifacts / "money-estimate-tax.png")
        no_exception(page)
    finally:
        page.close()


def test_reprice_in_chromium(money_app, artifacts):
    page = open_page(money_app, "reprice")
    try:
        no_exception(page)
        page.get_by_role("spinbutton", name="Discount %").fill("25")
        rerun(page, lambda: page.keyboard.press("Enter"))
        rerun(page, page.get_by_text("a feature", exact=True).click)
        no_exception(page)
        assert page.get_by_text("Token mapping for the swapped calls").count() == 1
        assert page.locator(".js-plotly-plot").filter(has_text="Actual vs repriced").count() == 1
        full_screenshot(page, artifacts / "money-reprice.png")
    finally:
        page.close()
