"""Filters that stay, in Chromium (issue 15, items 3 and 8): a filter set on Calls holds on Spend
and Reprice through the sidebar navigation, the URL carries it, a fresh browser opening that URL
sees the same view, a bad link gets a note, and there is no Deploy button. Screenshots go to
tests/artifacts/ux-*.png."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
from browser_helpers import CHROMIUM, CHROMIUM_ARGS, PAGE_TIMEOUT_MS, full_screenshot, rerun, wait_rendered, watch_runs
from helpers import serve_app

pytestmark = pytest.mark.browser


def query(page) -> dict[str, list[str]]:
    return parse_qs(urlparse(page.url).query)


def sidebar(page):
    return page.locator('[data-testid="stSidebar"]')


def period(page) -> str:
    return sidebar(page).get_by_role("combobox", name="Period").input_value()


def pick(page, label: str, option: str) -> None:
    box = sidebar(page).locator('[data-testid="stSelectbox"], [data-testid="stMultiSelect"]').filter(has_text=label)
    box.first.locator("input").click()
    rerun(page, lambda: page.get_by_role("option", name=option, exact=True).click())
    page.keyboard.press("Escape")


def go(page, name: str) -> None:
    sidebar(page).locator('[data-testid="stSidebarNav"] a').filter(has_text=name).click()
    page.wait_for_url(f"**/{name.lower()}*", timeout=PAGE_TIMEOUT_MS)
    page.get_by_role("heading", name=name).first.wait_for(timeout=PAGE_TIMEOUT_MS)
    wait_rendered(page)
    page.wait_for_function(
        "() => window.location.search.includes('preset') || window.location.search.includes('start')"
    )


def test_filters_survive_navigation_and_a_shared_link_restores_them(tmp_path, artifacts):
    from playwright.sync_api import sync_playwright

    from llmledger.store.db import connect
    from llmledger.telemetry import demo

    db = tmp_path / "ledger.duckdb"
    con = connect(db)
    demo.generate(con, n_calls=2500)
    con.close()
    with serve_app(db) as (base, _), sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = watch_runs(b.new_page(viewport={"width": 1440, "height": 1400}))
            page.goto(f"{base}/calls", timeout=PAGE_TIMEOUT_MS)
            wait_rendered(page)
            page.wait_for_function("() => window.location.search.includes('preset')")
            assert query(page) == {"preset": ["last_30_days"]}  # a recent window by default
            assert page.get_by_role("button", name="Deploy").count() == 0
            pick(page, "Period", "Last 7 days")
            pick(page, "Feature", "demo-support-chat")
            want = {"preset": ["last_7_days"], "feature": ["demo-support-chat"]}
            assert query(page) == want
            full_screenshot(page, artifacts / "ux-calls-filtered.png")

            for name in ("Spend", "Reprice"):
                go(page, name)
                assert query(page) == want, name
                text = sidebar(page).inner_text()
                assert period(page) == "Last 7 days", name
                if name == "Spend":
                    assert "demo-support-chat" in text
                assert page.locator('[data-testid="stException"]').count() == 0
                full_screenshot(page, artifacts / f"ux-{name.lower()}-filtered.png")

            shared = page.url.replace("/reprice", "/calls")
            fresh = watch_runs(
                b.new_context(viewport={"width": 1440, "height": 1400}).new_page()
            )  # another browser session
            fresh.goto(shared, timeout=PAGE_TIMEOUT_MS)
            wait_rendered(fresh)
            assert period(fresh) == "Last 7 days" and "demo-support-chat" in sidebar(fresh).inner_text()
            assert query(fresh) == want
            full_screenshot(fresh, artifacts / "ux-calls-shared-link.png")

            fresh.goto(f"{base}/spend?start=not-a-day&preset=fortnight", timeout=PAGE_TIMEOUT_MS)
            wait_rendered(fresh)
            fresh.get_by_text("is not a date").first.wait_for(timeout=PAGE_TIMEOUT_MS)
            assert fresh.get_by_text("fortnight").count() >= 1
            assert fresh.locator('[data-testid="stException"]').count() == 0
            full_screenshot(fresh, artifacts / "ux-spend-bad-link.png")
        finally:
            b.close()
